import SpoolModel

/// filamentdb's own CSV: one column per canonical field in schema order, then `extra.NAME` for every field
/// the schema does not know, then `$types` (typeson types of the record, when it holds JavaScript-only values).
///
/// Cells: an empty cell is an absent field; text as is (`""` for the empty string, and JSON string syntax for
/// text that would otherwise read as something else); numbers in their shortest form; timestamps as ISO 8601
/// UTC; `true`/`false`; arrays and objects as JSON. Text cells get the spreadsheet formula guard on export
/// (a leading `'`), removed again on import.
public enum SpoolCSV {
    public static let extraPrefix = "extra."
    public static let typesColumn = "$types"

    /// Whether a header row is ours: it has a `serial` column.
    static func isOurs(_ header: [String]) -> Bool { header.contains("serial") }

    /// The header row alone.
    static func headerCells(_ bytes: [UInt8], delimiter: UInt8, file: String) throws(ConversionError) -> [String]? {
        var cells: [String]?
        // Read records only until the first one.
        let end = bytes.firstIndex(of: 0x0A).map { $0 + 1 } ?? bytes.count
        var head = Array(bytes[..<end])
        // A header cell with a quoted newline is not ours anyway; read a little more to be safe.
        if head.count < bytes.count, head.count(where: { $0 == UInt8(ascii: "\"") }) % 2 == 1 { head = Array(bytes.prefix(65_536)) }
        try? CSVText.forEachRow(head, delimiter: delimiter, file: file) { row in
            if cells == nil { cells = row.cells }
        }
        return cells
    }

    // MARK: writing

    static func write(_ inventory: StoredInventory, to sink: ByteSink) throws(ConversionError) {
        // Columns by the exact spelling of each key: two spools may spell "é" differently.
        let extras = inventory.unknownKeys
        let extraColumn = Dictionary(uniqueKeysWithValues: extras.enumerated().map { ($1, $0) })
        let delimiter = UInt8(ascii: ",")
        var header = SpoolSchema.fields.map(\.name) + extras.map { extraPrefix + $0.string }
        if inventory.anyTyped { header.append(typesColumn) }
        for (n, h) in header.enumerated() {
            if n > 0 { sink.buffer.append(delimiter) }
            CSVText.appendCell(h, delimiter: delimiter, to: &sink.buffer)
        }
        sink.buffer.append(contentsOf: [0x0D, 0x0A])
        // Rows are formatted on all cores, a chunk at a time, and written in order.
        let spools = inventory.spools
        let chunk = 8192
        for start in stride(from: 0, to: spools.count, by: chunk) {
            let end = min(start + chunk, spools.count)
            let parts = Parallel.map(end - start) { range -> [UInt8] in
                var out: [UInt8] = []
                out.reserveCapacity(range.count * 512)
                var extraCells = [String](repeating: "", count: extras.count)
                for i in range {
                    appendRow(spools[start + i].spool(), extraColumn: extraColumn, extraCells: &extraCells, anyTyped: inventory.anyTyped, delimiter: delimiter, to: &out)
                }
                return out
            }
            for part in parts { try sink.append(part) }
        }
    }

    static func appendRow(_ spool: Spool, extraColumn: [ExactString: Int], extraCells: inout [String], anyTyped: Bool, delimiter: UInt8, to out: inout [UInt8]) {
        var first = true
        func put(_ cell: String) {
            if !first { out.append(delimiter) }
            first = false
            CSVText.appendCell(cell, delimiter: delimiter, to: &out)
        }
        let known = spool.knownFieldsByIndex
        for (n, spec) in SpoolSchema.fields.enumerated() {
            switch known[n] {
            case nil: put("")
            case .int(let i)? where spec.kind != .timestamp:
                if !first { out.append(delimiter) }
                first = false
                appendDigits(i, to: &out)
            case let v?: put(knownCell(v, kind: spec.kind))
            }
        }
        for i in extraCells.indices { extraCells[i] = "" }
        for (k, v) in spool.fields where SpoolSchema.index(of: k) == nil {
            if let column = extraColumn[ExactString(k)] { extraCells[column] = unknownCell(v) }
        }
        for cell in extraCells { put(cell) }
        if anyTyped { put(Typeson.typesObject(of: spool.jsonObject)?.jsonText ?? "") }
        out.append(contentsOf: [0x0D, 0x0A])
    }

    static func appendDigits(_ value: Int64, to out: inout [UInt8]) {
        if value < 0 { out.append(UInt8(ascii: "-")) }
        var v = value.magnitude
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var n = 0
        withUnsafeMutableBytes(of: &digits) { d in
            repeat {
                d[n] = UInt8(v % 10) + 0x30
                v /= 10
                n += 1
            } while v > 0
            for k in stride(from: n - 1, through: 0, by: -1) { out.append(d[k]) }
        }
    }

    /// ISO 8601 between the years 1 and 9999, else the integer.
    static func timestampCell(_ ms: Int64) -> String {
        (-62_135_596_800_000..<253_402_300_800_000).contains(ms) ? Timestamps.formatISO8601(ms) : String(ms)
    }

    static func knownCell(_ v: JSONValue, kind: FieldKind) -> String {
        switch (kind, v) {
        case (.string, .string(let s)), (.isoDate, .string(let s)): return CSVText.guardFormula(textCell(s))
        case (.timestamp, .int(let ms)): return timestampCell(ms)
        case (.boolean, .bool(let b)): return b ? "true" : "false"
        default: return v.jsonText
        }
    }

    /// Text as itself, unless that would read back as something else: the empty string and text that is
    /// JSON string syntax are written as JSON strings.
    static func textCell(_ s: String) -> String {
        if s.isEmpty || (s.utf8.first == UInt8(ascii: "\"") && (try? JSONParser.parse(s))?.stringValue != nil) {
            return JSONValue.string(s).jsonText
        }
        return s
    }

    /// An unknown field: text as itself when it cannot be mistaken for JSON, everything else as JSON.
    static func unknownCell(_ v: JSONValue) -> String {
        if case .string(let s) = v {
            let plain = !s.isEmpty && (try? JSONParser.parse(s)) == nil
            return CSVText.guardFormula(plain ? s : v.jsonText)
        }
        return v.jsonText
    }

    // MARK: reading

    enum Column: Sendable {
        case known(FieldSpec)
        case unknown(String)
        case types
    }

    static func read(_ bytes: [UInt8], delimiter: UInt8, file: String) -> InventoryInput {
        let decimalComma = delimiter == UInt8(ascii: ";")
        let lines = LineNumbers()
        let dialect = delimiter == UInt8(ascii: ",") ? "" : " (\(delimiter == 0x09 ? "tab" : "';'")-separated\(decimalComma ? ", decimal commas read" : ""))"
        return InventoryInput(locate: { lines.line(ofRow: $0) }) { input, body throws(ConversionError) in
            var columns: [Column]? = nil
            try CSVText.forEachRow(bytes, delimiter: delimiter, file: file) { (row) throws(ConversionError) in
                guard let columns else {
                    let header = try header(row, file: file)
                    columns = header
                    input.notes = ["filamentdb CSV, \(row.cells.count) columns\(dialect)"]
                    input.fields = Set(header.compactMap { column -> String? in
                        switch column {
                        case .known(let spec): spec.name
                        case .unknown(let name): name
                        case .types: nil
                        }
                    })
                    return
                }
                let n = lines.rows.count + 1
                lines.rows.append(row.line)
                guard row.cells.count == columns.count else {
                    return body(RawRecord(object: .null, row: n, problem: CSVText.cellCountProblem(row.cells.count, header: columns.count)))
                }
                // The cells become values on the normalising thread.
                let cells = row.cells
                body(RawRecord(row: n) { .success(.object(object(cells, columns, decimalComma: decimalComma))) })
            }
        }
    }

    static func object(_ cells: [String], _ columns: [Column], decimalComma: Bool) -> [String: JSONValue] {
        var object: [String: JSONValue] = [:]
        object.reserveCapacity(columns.count)
        for (cell, column) in zip(cells, columns) where !cell.isEmpty {
            switch column {
            case .known(let spec): object[spec.name] = knownValue(cell, kind: spec.kind, decimalComma: decimalComma)
            case .unknown(let key): object[key] = unknownValue(cell, decimalComma: decimalComma)
            case .types: object["$types"] = (try? JSONParser.parse(cell)) ?? .string(cell)
            }
        }
        return object
    }

    static func header(_ row: CSVRow, file: String) throws(ConversionError) -> [Column] {
        var columns: [Column] = []
        var seen = Set<ExactString>()
        for (n, name) in row.cells.enumerated() {
            guard seen.insert(ExactString(name)).inserted else {
                throw .notAnInventory(file: file, reason: "line \(row.line): column \(n + 1) \"\(name)\" appears twice in the header")
            }
            if let spec = SpoolSchema.spec(name) {
                columns.append(.known(spec))
            } else if name.hasPrefix(extraPrefix) {
                columns.append(.unknown(String(name.dropFirst(extraPrefix.count))))
            } else if name == typesColumn {
                columns.append(.types)
            } else {
                throw .notAnInventory(file: file, reason: "line \(row.line): unknown column \"\(name)\" in a filamentdb CSV: the columns are the canonical fields, \(extraPrefix)NAME for other fields, and \(typesColumn) (rename it to \(extraPrefix)\(name) to keep it)")
            }
        }
        return columns
    }

    /// A cell of a known column as the value the normaliser checks; what does not parse stays text, so the
    /// normaliser's message names the field and the expected kind.
    static func knownValue(_ raw: String, kind: FieldKind, decimalComma: Bool) -> JSONValue {
        let cell = CSVText.unguardFormula(raw)
        switch kind {
        case .string, .isoDate:
            if cell.utf8.first == UInt8(ascii: "\""), let s = (try? JSONParser.parse(cell))?.stringValue { return .string(s) }
            return .string(cell)
        case .integer, .number:
            return number(cell, decimalComma: decimalComma) ?? .string(cell)
        case .timestamp:
            if let ms = Int64(cell) { return .int(ms) }
            if let ms = Timestamps.parseISO8601(cell) { return .int(ms) }
            return .string(cell)
        case .boolean:
            switch cell.lowercased() {
            case "true", "1", "yes": return .bool(true)
            case "false", "0", "no": return .bool(false)
            default: return .string(cell)
            }
        case .stringArray, .tagHistory:
            return (try? JSONParser.parse(cell)) ?? .string(cell)
        }
    }

    static func unknownValue(_ raw: String, decimalComma: Bool) -> JSONValue {
        let cell = CSVText.unguardFormula(raw)
        if mayBeJSON(cell), let v = try? JSONParser.parse(cell) { return v }
        if decimalComma, let n = number(cell, decimalComma: true) { return n }
        return .string(cell)
    }

    /// Whether a cell could be a JSON value at all, judged by its first byte (most text cannot).
    static func mayBeJSON(_ cell: String) -> Bool {
        guard let first = cell.utf8.first(where: { $0 != 0x20 && $0 != 0x09 && $0 != 0x0A && $0 != 0x0D }) else { return false }
        switch first {
        case UInt8(ascii: "{"), UInt8(ascii: "["), UInt8(ascii: "\""), UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "t"), UInt8(ascii: "f"), UInt8(ascii: "n"), 0xEF:
            return true
        default:
            return false
        }
    }

    /// A number as JSON writes one (`-12`, `1.75`, `2e-3`), or with `decimalComma` also `1,75`.
    static func number(_ cell: String, decimalComma: Bool) -> JSONValue? {
        if let i = Int64(cell) { return .int(i) }
        var text = cell
        if decimalComma, text.utf8.contains(UInt8(ascii: ",")), !text.utf8.contains(UInt8(ascii: ".")) {
            text = String(text.map { $0 == "," ? "." : $0 })
        }
        // Only JSON's number syntax: Double() alone would also take "inf", "nan" and hexadecimal.
        guard let first = text.utf8.first, first == UInt8(ascii: "-") || (first >= 0x30 && first <= 0x39),
              text.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "+") }),
              let d = Double(text), d.isFinite else { return nil }
        return JSONValue.number(d)
    }
}
