import ArgumentParser
import Foundation
import SpoolFormats

enum Output {
    static func report(_ report: ConversionReport, json: Bool, toStderr: Bool) throws {
        var text: String
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            text = String(decoding: try encoder.encode(report), as: UTF8.self) + "\n"
        } else {
            text = report.lines.joined(separator: "\n") + "\n"
        }
        let handle = toStderr ? FileHandle.standardError : FileHandle.standardOutput
        handle.write(Data(text.utf8))
    }

    /// Prints the error's lines on standard error and returns the exit code to throw.
    static func fail(_ error: ConversionError) -> ExitCode {
        FileHandle.standardError.write(Data(error.lines.map { "filamentdb: " + $0 }.joined(separator: "\n").utf8 + [0x0A]))
        return ExitCode(error.exitCode)
    }
}

/// A one-line progress display on standard error, shown only when it is a terminal and the input is large.
final class TerminalProgress: ProgressSink {
    static let largeInput = 8 << 20

    static func forInput(_ path: String) -> TerminalProgress? {
        guard isatty(STDERR_FILENO) == 1 else { return nil }
        if path != "-" {
            let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
            guard size >= largeInput else { return nil }
        }
        return TerminalProgress()
    }

    private var started = Date()

    func update(phase: String, done: Int, total: Int) {
        let elapsed = String(format: "%.1fs", Date().timeIntervalSince(started))
        let amount = phase == "reading"
            ? String(format: "%.1f MB", Double(total) / 1e6) + (done > 0 ? ", \(done) records" : "")
            : "\(total) spools"
        let filled = ["reading": 1, "writing": 2][phase] ?? 0
        let bar = String(repeating: "#", count: filled * 10) + String(repeating: ".", count: 20 - filled * 10)
        FileHandle.standardError.write(Data("\r[\(bar)] \(phase) \(amount) \(elapsed)\u{1B}[K".utf8))
    }

    func finish() {
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }
}

/// The history's exit statuses (the conversion's are in SpoolFormats' ExitStatus); `filamentdb --help` lists all.
extension ExitStatus {
    /// A spool, revision, conflict, device branch or history that does not exist.
    static let notFound: Int32 = 3
    /// The history is damaged (an object is missing or unreadable): run `filamentdb verify`.
    static let damaged: Int32 = 65
    /// Other writers kept the history busy, or a lock stayed: try again.
    static let busy: Int32 = 75
}
