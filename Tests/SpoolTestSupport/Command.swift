import Foundation

/// Runs a program to its end, its standard output and error together: stock git on a history the tests
/// wrote, Python's checkers.
public enum Command {
    public static func run(_ executable: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// Stock git.
    public static func git(_ arguments: [String]) throws -> (status: Int32, output: String) {
        try run("/usr/bin/git", arguments)
    }
}
