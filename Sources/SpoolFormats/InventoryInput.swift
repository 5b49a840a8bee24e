import SpoolModel

/// The records a reader found, before they are checked.
public struct InventoryInput {
    public var records: [RawRecord]
    /// The line a row starts on; computed on demand, only for rows a report names.
    public var locate: (Int) -> Int?
    /// Facts about the input worth a line in the report (table, versions, unreliable counts).
    public var notes: [String]

    public init(records: [RawRecord], locate: @escaping (Int) -> Int? = { _ in nil }, notes: [String] = []) {
        self.records = records
        self.locate = locate
        self.notes = notes
    }
}

/// Finds the line of the n-th element of an array inside a JSON document by scanning the bytes once,
/// the first time it is asked.
final class ArrayRowLocator {
    private let bytes: [UInt8]
    private let path: [JSONPathComponent]
    private var offsets: [Int]?
    private var lines: LineIndex?

    init(bytes: [UInt8], arrayPath: [JSONPathComponent]) {
        self.bytes = bytes
        self.path = arrayPath
    }

    func line(ofRow row: Int) -> Int? {
        if offsets == nil {
            offsets = JSONParser.elementOffsets(ofArrayAt: path, in: bytes) ?? []
            lines = LineIndex(bytes)
        }
        guard let offsets, let lines, row >= 1, row <= offsets.count else { return nil }
        return lines.lineColumn(of: offsets[row - 1]).line
    }
}

/// Parses a whole document, turning syntax errors into conversion errors that name the file.
func parseDocument(_ bytes: [UInt8], file: String) throws(ConversionError) -> JSONValue {
    if JSONParser.shape(of: bytes) == .empty {
        throw .notAnInventory(file: file, reason: "the file is empty")
    }
    do {
        return try JSONParser.parse(bytes)
    } catch {
        throw .syntax(file: file, error)
    }
}
