#if canImport(Glibc)
import Glibc
#endif
import SpoolModel

/// Plain JSON arrays of spools and JSON Lines, both ways. Each spool is its canonical compact document,
/// with a `$types` member when it holds JavaScript-only values, so nothing is lost on the way back.
public enum SpoolJSON {
    /// Reads `[spool, …]` (one element at a time), or a single spool object (one canonical spool document).
    /// An array of Spoolman export rows is read as Spoolman's.
    public static func readArray(_ bytes: [UInt8], file: String, spoolman forced: Bool = false) throws(ConversionError) -> InventoryInput {
        switch JSONParser.shape(of: bytes) {
        case .array:
            let start = bytes.firstIndex(of: UInt8(ascii: "["))!
            let offsets = RowOffsets(bytes: bytes)
            return InventoryInput(locate: offsets.line(ofRow:)) { input, body throws(ConversionError) in
                // Our own arrays parse their elements on the normalising threads; Spoolman's rows (recognised by
                // the first one) are parsed and mapped here.
                var spoolman: Bool? = forced ? true : nil
                var archived = 0
                try streamDeferredArray(bytes, range: start..<bytes.count, file: file, offsets: offsets) { record in
                    if spoolman == nil {
                        if case .success(.object(let first))? = record.prepare?() {
                            spoolman = first["serial"] == nil && Spoolman.isSpoolmanHeader(first.keys)
                        } else {
                            spoolman = false
                        }
                    }
                    guard spoolman == true, case .success(let value)? = record.prepare?() else { return body(record) }
                    let mapped = Spoolman.record(value, row: record.row)
                    if mapped.isArchivedSpoolmanSpool { archived += 1 }
                    body(mapped)
                }
                if spoolman == true { input.notes = Spoolman.notes(archived: archived, source: "Spoolman JSON export") }
                // Nothing but whitespace may follow the array.
                _ = try parseDocumentTail(bytes, file: file)
            }
        default:
            let doc = try parseDocument(bytes, file: file)
            switch doc {
            case .object(let o) where o["serial"] != nil:
                return InventoryInput(records: [RawRecord(object: doc, row: 1)], locate: { _ in 1 })
            case .object(let o) where o["formatName"] != nil:
                throw .notAnInventory(file: file, reason: "this is a \(o["formatName"]!.stringValue.map { "\"\($0)\"" } ?? "") export, not a plain array of spools (read it as the dexie format)")
            default:
                throw .notAnInventory(file: file, reason: "not a Dexie export nor an array of spools: the top level is \(doc.kindDescription)")
            }
        }
    }

    /// Checks that the document is well formed after its top-level array (the elements were streamed).
    static func parseDocumentTail(_ bytes: [UInt8], file: String) throws(ConversionError) -> Bool {
        guard let end = JSONParser.endOfFirstValue(bytes) else { return false }
        var i = end
        while i < bytes.count, [0x20, 0x0A, 0x0D, 0x09].contains(bytes[i]) { i += 1 }
        if i < bytes.count {
            let lc = LineIndex(bytes).lineColumn(of: i)
            throw .syntax(file: file, JSONSyntaxError(offset: i, line: lc.line, column: lc.column, message: "unexpected text after the end of the JSON value"))
        }
        return true
    }

    /// Reads JSON Lines. With `skipInvalid`, a line that is not valid JSON becomes a rejected record instead
    /// of stopping the conversion.
    public static func readLines(_ bytes: [UInt8], file: String, skipInvalid: Bool) throws(ConversionError) -> InventoryInput {
        let lines = LineNumbers()
        return InventoryInput(locate: { lines.line(ofRow: $0) }) { _, body throws(ConversionError) in
            var lineNumber = 0
            var start = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0
            var row = 0
            let count = bytes.count
            while start < count {
                lineNumber += 1
                let end = bytes.withUnsafeBufferPointer { b -> Int in
                    guard let found = memchr(b.baseAddress! + start, 0x0A, count - start) else { return count }
                    return b.baseAddress!.distance(to: found.assumingMemoryBound(to: UInt8.self))
                }
                let line = start..<end
                start = end + 1
                if bytes[line].allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { continue }
                row += 1
                lines.rows.append(lineNumber)
                // Parsed on the normalising threads: a line that is not JSON stops the conversion there (the first
                // such line is reported), or with `skipInvalid` is one rejected record.
                let at = lineNumber
                body(RawRecord(row: row, source: line) {
                    Result(catching: { () throws(JSONSyntaxError) in try JSONParser.parse(bytes, slice: line) }).mapError { (e: JSONSyntaxError) -> RawRecord.PrepareFailure in
                        var e = e
                        e.line = at
                        guard skipInvalid else { return .input(e) }
                        return .record(FieldProblem(field: "(line)", message: "not valid JSON: column \(e.column): \(e.message)"))
                    }
                })
            }
        }
    }

    /// `[` newline, one compact spool per line, `]`.
    static func writeArray(_ spools: [StoredSpool], to sink: ByteSink) throws(ConversionError) {
        try sink.append([UInt8(ascii: "[")])
        for (n, spool) in spools.enumerated() {
            try sink.append(n == 0 ? newline : commaNewline)
            try sink.append(spool.json)
        }
        try sink.append(spools.isEmpty ? Array("]\n".utf8) : Array("\n]\n".utf8))
    }

    static func writeLines(_ spools: [StoredSpool], to sink: ByteSink) throws(ConversionError) {
        for spool in spools {
            try sink.append(spool.json)
            try sink.append(newline)
        }
    }
}

/// The line each row of a line-oriented input is on.
final class LineNumbers {
    var rows: [Int] = []
    func line(ofRow row: Int) -> Int? { row >= 1 && row <= rows.count ? rows[row - 1] : nil }
}
