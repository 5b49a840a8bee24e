import SpoolModel

/// Plain JSON arrays of spools and JSON Lines, both ways. Each spool is its canonical compact document,
/// with a `$types` member when it holds JavaScript-only values, so nothing is lost on the way back.
public enum SpoolJSON {
    /// Reads `[spool, …]`, or a single spool object (one canonical spool document).
    public static func readArray(_ bytes: [UInt8], file: String) throws(ConversionError) -> InventoryInput {
        let doc = try parseDocument(bytes, file: file)
        switch doc {
        case .array(let elements):
            let locator = ArrayRowLocator(bytes: bytes, arrayPath: [])
            if let first = elements.first?.objectValue, first["serial"] == nil, Spoolman.isSpoolmanHeader(first.keys) {
                return Spoolman.readJSON(rows: elements, file: file, locate: locator.line(ofRow:))
            }
            let records = elements.enumerated().map { RawRecord(object: $1, row: $0 + 1) }
            return InventoryInput(records: records, locate: locator.line(ofRow:))
        case .object(let o) where o["serial"] != nil:
            return InventoryInput(records: [RawRecord(object: doc, row: 1)], locate: { _ in 1 })
        case .object(let o) where o["formatName"] != nil:
            throw .notAnInventory(file: file, reason: "this is a \(o["formatName"]!.stringValue.map { "\"\($0)\"" } ?? "") export, not a plain array of spools (use --from dexie)")
        default:
            throw .notAnInventory(file: file, reason: "not a Dexie export nor an array of spools: the top level is \(doc.kindDescription)")
        }
    }

    /// Reads JSON Lines. With `skipInvalid`, a line that is not valid JSON becomes a rejected record instead
    /// of stopping the conversion.
    public static func readLines(_ bytes: [UInt8], file: String, skipInvalid: Bool) throws(ConversionError) -> InventoryInput {
        var records: [RawRecord] = []
        var lineOfRow: [Int] = []
        var lineNumber = 0
        var start = 0
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { start = 3 }
        while start <= bytes.count {
            lineNumber += 1
            var end = start
            while end < bytes.count, bytes[end] != 0x0A { end += 1 }
            let line = Array(bytes[start..<end])
            start = end + 1
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) {
                if end >= bytes.count { break }
                continue
            }
            let row = records.count + 1
            lineOfRow.append(lineNumber)
            do {
                records.append(RawRecord(object: try JSONParser.parse(line), row: row))
            } catch {
                var e = error
                e.line = lineNumber
                guard skipInvalid else { throw .syntax(file: file, e) }
                records.append(RawRecord(object: .null, row: row, problem: FieldProblem(field: "(line)", message: "not valid JSON: column \(e.column): \(e.message)")))
            }
            if end >= bytes.count { break }
        }
        return InventoryInput(records: records, locate: { row in row >= 1 && row <= lineOfRow.count ? lineOfRow[row - 1] : nil })
    }

    /// `[` newline, one compact spool per line, `]`.
    public static func writeArray(_ spools: [Spool]) -> [UInt8] {
        var w = JSONWriter(reservingCapacity: spools.count * 400 + 4)
        w.append("[")
        for (n, spool) in spools.enumerated() {
            w.append(n == 0 ? "\n" : ",\n")
            spool.writeCompact(into: &w)
        }
        w.append(spools.isEmpty ? "]\n" : "\n]\n")
        return w.bytes
    }

    public static func writeLines(_ spools: [Spool]) -> [UInt8] {
        var w = JSONWriter(reservingCapacity: spools.count * 400)
        for spool in spools {
            spool.writeCompact(into: &w)
            w.append("\n")
        }
        return w.bytes
    }
}
