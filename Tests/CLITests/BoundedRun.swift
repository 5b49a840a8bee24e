import Foundation
import SpoolTestSupport

/// How a run of the binary ended, for tests that must tell a crash or a hang from an error.
struct BoundedResult {
    var status: Int32
    /// The signal that killed the process, if one did (a trap is SIGILL or SIGTRAP).
    var signal: Int32?
    /// The run took longer than its limit and was killed.
    var timedOut: Bool
    var stdout: String
    var stderr: String

    var summary: String {
        timedOut ? "hung (killed after the time limit)" : signal.map { "killed by signal \($0)" } ?? "exit \(status): \(stderr.prefix(400))"
    }
}

extension CLI {
    /// Runs the binary with its output in files (no pipe can fill up), killing it after `timeout` seconds.
    /// `environment` is added to this process's.
    static func run(_ arguments: [String], timeout: TimeInterval, environment: [String: String] = [:]) throws -> BoundedResult {
        let dir = Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let outPath = dir + "/stdout", errPath = dir + "/stderr"
        _ = FileManager.default.createFile(atPath: outPath, contents: nil)
        _ = FileManager.default.createFile(atPath: errPath, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        process.standardOutput = FileHandle(forWritingAtPath: outPath)
        process.standardError = FileHandle(forWritingAtPath: errPath)
        process.standardInput = FileHandle.nullDevice
        // No crash report on standard error: a crash is seen in the termination reason.
        var env = ProcessInfo.processInfo.environment
        env["SWIFT_BACKTRACE"] = "enable=no"
        for (k, v) in environment { env[k] = v }
        process.environment = env
        try process.run()
        let deadline = Date().addingTimeInterval(timeout)
        var timedOut = false
        while process.isRunning {
            if Date() > deadline {
                timedOut = true
                kill(process.processIdentifier, SIGKILL)
                break
            }
            usleep(2_000)
        }
        process.waitUntilExit()
        let signal: Int32? = process.terminationReason == .uncaughtSignal ? process.terminationStatus : nil
        let read = { (path: String) in String(decoding: FileManager.default.contents(atPath: path) ?? Data(), as: UTF8.self) }
        return BoundedResult(status: process.terminationStatus, signal: timedOut ? nil : signal, timedOut: timedOut,
                             stdout: read(outPath), stderr: read(errPath))
    }
}
