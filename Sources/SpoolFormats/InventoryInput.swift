import SpoolModel

/// A reader's records, produced one at a time so a large input is never held as a whole tree.
public final class InventoryInput {
    /// Facts about the input worth a line in the report (table, versions, unreliable counts). A producer
    /// may add to them while it runs.
    public var notes: [String]
    /// The fields the input has room for (a CSV file's columns), when that is not every field: a field outside
    /// them is not known to be absent from a record, only not in the file. `nil`: the input holds whole records.
    public var fields: Set<String>?
    /// The line a row starts on; computed on demand, only for rows a report names.
    public let locate: (Int) -> Int?
    let produce: (InventoryInput, (RawRecord) -> Void) throws(ConversionError) -> Void

    init(notes: [String] = [], locate: @escaping (Int) -> Int? = { _ in nil },
         produce: @escaping (InventoryInput, (RawRecord) -> Void) throws(ConversionError) -> Void) {
        self.notes = notes
        self.locate = locate
        self.produce = produce
    }

    /// Hands every record to `body`, in input order.
    public func forEachRecord(_ body: (RawRecord) -> Void) throws(ConversionError) {
        try produce(self, body)
    }

    /// An input whose records are already at hand.
    convenience init(records: [RawRecord], locate: @escaping (Int) -> Int? = { _ in nil }, notes: [String] = []) {
        self.init(notes: notes, locate: locate) { _, body in records.forEach(body) }
    }
}

/// Remembers where each row starts and turns that into a line number, the first time one is asked for.
final class RowOffsets {
    private let bytes: [UInt8]
    private var offsets: [Int] = []
    private var lines: LineIndex?

    init(bytes: [UInt8]) { self.bytes = bytes }

    func record(_ offset: Int) { offsets.append(offset) }

    func line(ofRow row: Int) -> Int? {
        guard row >= 1, row <= offsets.count else { return nil }
        if lines == nil { lines = LineIndex(bytes) }
        return lines!.lineColumn(of: offsets[row - 1]).line
    }
}

/// Parses a whole document, turning syntax errors into conversion errors that name the file.
func parseDocument(_ bytes: [UInt8], file: String, deferring key: String? = nil) throws(ConversionError) -> JSONValue {
    if JSONParser.shape(of: bytes) == .empty {
        throw .notAnInventory(file: file, reason: "the file is empty")
    }
    do {
        if let key { return try JSONParser.parse(bytes, deferringArraysUnder: key) }
        return try JSONParser.parse(bytes)
    } catch {
        throw .syntax(file: file, error)
    }
}

/// Streams the elements of the array in `range` of `bytes` to `body` (1-based row, parsed value), recording
/// row offsets for line numbers.
func streamArray(_ bytes: [UInt8], range: Range<Int>, file: String, offsets: RowOffsets, _ body: (Int, JSONValue) -> Void) throws(ConversionError) {
    var row = 0
    var failure: JSONSyntaxError?
    let scanned = Result { () throws(JSONSyntaxError) in
        try JSONParser.forEachElementRange(in: range, of: bytes) { element in
            guard failure == nil else { return }
            row += 1
            offsets.record(element.lowerBound)
            switch Result(catching: { () throws(JSONSyntaxError) in try JSONParser.parse(bytes, range: element) }) {
            case .success(let value): body(row, value)
            case .failure(let e): failure = e
            }
        }
    }
    if let failure { throw .syntax(file: file, failure) }
    if case .failure(let error) = scanned { throw .syntax(file: file, error) }
}

/// Streams the elements of the array in `range` as records that parse themselves on the normalising thread.
/// `eager` decides, from the first element, whether the elements are parsed here instead and handed through
/// `map` (for rows that need mapping, like Spoolman's).
func streamDeferredArray(_ bytes: [UInt8], range: Range<Int>, file: String, offsets: RowOffsets,
                         _ body: (RawRecord) -> Void) throws(ConversionError) {
    var row = 0
    let scanned = Result { () throws(JSONSyntaxError) in
        try JSONParser.forEachElementRange(in: range, of: bytes) { element in
            row += 1
            offsets.record(element.lowerBound)
            body(RawRecord(row: row, source: element) { parseElement(bytes, element) })
        }
    }
    if case .failure(let error) = scanned { throw .syntax(file: file, error) }
}

/// A located element parsed: an element that is not valid JSON means the file is broken there (the elements
/// around it were only skipped, so they cannot be trusted either).
@Sendable func parseElement(_ bytes: [UInt8], _ element: Range<Int>) -> Result<JSONValue, RawRecord.PrepareFailure> {
    Result(catching: { () throws(JSONSyntaxError) in try JSONParser.parse(bytes, range: element) }).mapError { .input($0) }
}
