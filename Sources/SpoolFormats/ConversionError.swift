import SpoolModel

/// Why a conversion stopped. Each case prints as lines naming the file, the place, the field and the serial.
public enum ConversionError: Error, Sendable, CustomStringConvertible {
    /// The bytes are not valid JSON (or not valid UTF-8) at this place.
    case syntax(file: String, JSONSyntaxError)
    /// Valid JSON, but not something filamentdb reads as an inventory.
    case notAnInventory(file: String, reason: String)
    /// The Dexie export has no such table.
    case tableNotFound(file: String, table: String, available: [String])
    /// A format feature filamentdb does not support.
    case unsupported(file: String, reason: String)
    /// Records that failed their checks (without `--skip-invalid`).
    case invalidRecords(file: String, [Rejection])
    /// Reading or writing a file failed.
    case io(path: String, reason: String)
    /// The request itself is wrong (an unknown format name, an output format that cannot be guessed).
    case usage(String)

    /// One line per problem.
    public var lines: [String] {
        switch self {
        case .syntax(let file, let e):
            return ["\(file): line \(e.line), column \(e.column): \(e.message)"]
        case .notAnInventory(let file, let reason):
            return ["\(file): \(reason)"]
        case .tableNotFound(let file, let table, let available):
            let list = available.isEmpty ? "no tables" : "the tables " + available.map { "\"\($0)\"" }.joined(separator: ", ")
            return ["\(file): no table \"\(table)\" in this Dexie export; it has \(list) (choose one with --table NAME)"]
        case .unsupported(let file, let reason):
            return ["\(file): \(reason)"]
        case .invalidRecords(let file, let rejections):
            return rejections.flatMap { $0.lines(file: file) }
                + ["\(file): \(rejections.count) record\(rejections.count == 1 ? "" : "s") rejected, nothing written (--skip-invalid converts the others)"]
        case .io(let path, let reason):
            return ["\(path): \(reason)"]
        case .usage(let message):
            return [message]
        }
    }

    public var description: String { lines.joined(separator: "\n") }

    /// The process exit status for this error (listed in `filamentdb --help`).
    public var exitCode: Int32 {
        switch self {
        case .syntax, .notAnInventory, .tableNotFound, .unsupported, .invalidRecords: return ExitStatus.invalidInput
        case .io: return ExitStatus.ioError
        case .usage: return ExitStatus.usage
        }
    }
}

/// The exit statuses of the `filamentdb` command.
public enum ExitStatus {
    public static let success: Int32 = 0
    /// The input is invalid; nothing was written.
    public static let invalidInput: Int32 = 1
    /// `--skip-invalid`: the output was written without the records listed as rejected.
    public static let partial: Int32 = 2
    /// A file could not be read or written.
    public static let ioError: Int32 = 74
    /// The command line is wrong.
    public static let usage: Int32 = 64
}
