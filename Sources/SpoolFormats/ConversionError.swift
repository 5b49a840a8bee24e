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
    /// Records that failed their checks (when the conversion was not asked to skip them).
    case invalidRecords(file: String, [Rejection])
    /// Reading or writing a file failed.
    case io(path: String, reason: String)
    /// The request itself is wrong (an unknown format name).
    case usage(String)
    /// The output format cannot be guessed, or is one filamentdb does not write.
    case outputFormat(String)

    /// One line per problem.
    public var lines: [String] {
        switch self {
        case .syntax(let file, let e):
            return ["\(file): line \(e.line), column \(e.column): \(e.message)"]
        case .notAnInventory(let file, let reason):
            return ["\(file): \(reason)"]
        case .tableNotFound(let file, let table, let available):
            let list = available.isEmpty ? "no tables" : "the tables " + available.map { "\"\($0)\"" }.joined(separator: ", ")
            return ["\(file): no table \"\(table)\" in this Dexie export; it has \(list)"]
        case .unsupported(let file, let reason):
            return ["\(file): \(reason)"]
        case .invalidRecords(let file, let rejections):
            return rejections.flatMap { $0.lines(file: file) }
                + ["\(file): \(rejections.count) record\(rejections.count == 1 ? "" : "s") rejected, nothing written"]
        case .io(let path, let reason):
            return ["\(path): \(reason)"]
        case .usage(let message), .outputFormat(let message):
            return [message]
        }
    }

    public var description: String { lines.joined(separator: "\n") }

    /// What kind of failure: the input's, the file system's, or the request's.
    public enum Kind: Sendable {
        case invalidInput, io, usage
    }

    public var kind: Kind {
        switch self {
        case .syntax, .notAnInventory, .tableNotFound, .unsupported, .invalidRecords: .invalidInput
        case .io: .io
        case .usage, .outputFormat: .usage
        }
    }
}
