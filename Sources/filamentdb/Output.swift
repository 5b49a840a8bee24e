import ArgumentParser
import Foundation
import SpoolFormats
import SpoolHistory

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

    /// Prints the error's lines on standard error, with the option that helps where one does, and returns the
    /// exit code to throw.
    static func fail(_ error: ConversionError) -> ExitCode {
        var lines = error.lines
        switch error {
        case .tableNotFound: lines[lines.count - 1] += " (choose one with --table NAME)"
        case .invalidRecords: lines[lines.count - 1] += " (--skip-invalid converts the others)"
        case .outputFormat: lines[lines.count - 1] += " with --to FORMAT"
        default: break
        }
        FileHandle.standardError.write(Data(lines.map { "filamentdb: " + $0 }.joined(separator: "\n").utf8 + [0x0A]))
        switch error.kind {
        case .invalidInput: return ExitCode(ExitStatus.invalidInput)
        case .io: return ExitCode(ExitStatus.ioError)
        case .usage: return ExitCode(ExitStatus.usage)
        }
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

/// The exit statuses of the `filamentdb` command, each listed in `filamentdb --help`.
enum ExitStatus {
    static let success: Int32 = 0
    /// The input is invalid; nothing was written (or `verify` found a problem).
    static let invalidInput: Int32 = 1
    /// `--skip-invalid`: the output was written without the records listed as rejected.
    static let partial: Int32 = 2
    /// A file could not be read or written.
    static let ioError: Int32 = 74
    /// The command line is wrong.
    static let usage: Int32 = 64
    /// A spool, revision, conflict, device branch or history that does not exist.
    static let notFound: Int32 = 3
    /// The history is damaged (an object is missing or unreadable): run `filamentdb verify`.
    static let damaged: Int32 = 65
    /// Other writers kept the history busy, or a lock stayed: try again.
    static let busy: Int32 = 75
    /// The sync server could not be reached or cannot take requests now (EX_UNAVAILABLE): the changes stay queued.
    static let unavailable: Int32 = 69
    /// The sync server refused the key, or there is none (EX_NOPERM).
    static let keyRefused: Int32 = 77
}

/// "importing: 45% (45,000 of 100,000 spools)" on standard error, for the history's long operations: shown on a
/// terminal for 10,000 spools or more, or always with FILAMENTDB_PROGRESS=1 (for scripts and tests, one line each).
final class PercentProgress: @unchecked Sendable {
    static let threshold = 10_000
    let verb: String
    let terminal = isatty(STDERR_FILENO) == 1
    let forced = ProcessInfo.processInfo.environment["FILAMENTDB_PROGRESS"] == "1"
    private let lock = NSLock()
    private var shown = -1

    init(_ verb: String) { self.verb = verb }

    var report: HistoryProgress {
        { [self] done, total in self.update(done, total) }
    }

    func update(_ done: Int, _ total: Int) {
        guard forced || (terminal && total >= Self.threshold), total > 0 else { return }
        let percent = done * 100 / total
        lock.lock()
        defer { lock.unlock() }
        guard percent != shown else { return }
        shown = percent
        let text = "\(verb): \(percent)% (\(done) of \(total) spools)"
        FileHandle.standardError.write(Data((terminal && !forced ? "\r" + text + "\u{1B}[K" + (done == total ? "\n" : "") : text + "\n").utf8))
    }
}

/// Warns on standard error, after `prefix`, when users other than the owner may read the key file at `path`:
/// the key is the whole of the server's protection.
func warnIfOthersCanRead(keyFile path: String, prefix: String) {
    guard let mode = (try? FileManager.default.attributesOfItem(atPath: path))?[.posixPermissions] as? Int, mode & 0o077 != 0 else { return }
    FileHandle.standardError.write(Data("\(prefix): warning: \(path): other users can read the key file (chmod 600 it)\n".utf8))
}
