import SpoolModel

/// One CSV record: its cells and the line it starts on.
struct CSVRow {
    var cells: [String]
    var line: Int
}

/// RFC 4180 CSV over UTF-8 bytes: quoted cells with `""`, quoted newlines, CRLF or LF, a leading BOM.
///
/// Written here rather than taken from CSV.swift (the tests use that library as the reference this reader
/// is checked against) because a conversion needs what it does not give: the line every record starts on
/// for error messages, invalid UTF-8 reported at its cell, and speed on 100,000-row files.
enum CSVText {
    /// `;` when the header line has more semicolons than commas outside quotes (a spreadsheet in a locale
    /// with a decimal comma), else `,`.
    static func detectDelimiter(_ bytes: [UInt8]) -> UInt8 {
        var commas = 0, semicolons = 0, tabs = 0, quoted = false
        for b in bytes {
            if b == UInt8(ascii: "\"") { quoted.toggle() }
            if quoted { continue }
            if b == 0x0A { break }
            if b == UInt8(ascii: ",") { commas += 1 }
            if b == UInt8(ascii: ";") { semicolons += 1 }
            if b == 0x09 { tabs += 1 }
        }
        if semicolons > commas && semicolons >= tabs { return UInt8(ascii: ";") }
        if tabs > commas { return 0x09 }
        return UInt8(ascii: ",")
    }

    /// Every record of the file (for tests and small inputs).
    static func parse(_ bytes: [UInt8], delimiter: UInt8, file: String) throws(ConversionError) -> [CSVRow] {
        var rows: [CSVRow] = []
        try forEachRow(bytes, delimiter: delimiter, file: file) { rows.append($0) }
        return rows
    }

    /// Hands each record to `body` as it is read.
    static func forEachRow(_ bytes: [UInt8], delimiter: UInt8, file: String, _ body: (CSVRow) throws(ConversionError) -> Void) throws(ConversionError) {
        try bytes.withUnsafeBufferPointer { (p) throws(ConversionError) in
            var i = p.count >= 3 && p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF ? 3 : 0
            var line = 1
            var cells: [String] = []
            var rowLine = 1
            var cellBytes: [UInt8] = []
            func cell(_ slice: UnsafeBufferPointer<UInt8>, at cellLine: Int) throws(ConversionError) -> String {
                // ASCII needs no validation.
                if !slice.contains(where: { $0 >= 0x80 }) { return String(decoding: slice, as: UTF8.self) }
                if let s = String(validating: slice, as: UTF8.self) { return s }
                throw .syntax(file: file, JSONSyntaxError(offset: 0, line: cellLine, column: cells.count + 1,
                                                          message: "invalid UTF-8 in cell \(cells.count + 1) of the record on line \(rowLine)"))
            }
            func endRow() throws(ConversionError) {
                if !(cells.count == 1 && cells[0].isEmpty) { try body(CSVRow(cells: cells, line: rowLine)) }
                cells.removeAll(keepingCapacity: true)
            }
            while i < p.count {
                if cells.isEmpty { rowLine = line }
                if p[i] == UInt8(ascii: "\"") {
                    let openLine = line
                    i += 1
                    cellBytes.removeAll(keepingCapacity: true)
                    var closed = false
                    var start = i
                    while i < p.count {
                        let b = p[i]
                        if b == UInt8(ascii: "\"") {
                            cellBytes.append(contentsOf: UnsafeBufferPointer(rebasing: p[start..<i]))
                            if i + 1 < p.count, p[i + 1] == UInt8(ascii: "\"") {
                                cellBytes.append(b)
                                i += 2
                                start = i
                                continue
                            }
                            i += 1
                            closed = true
                            break
                        }
                        if b == 0x0A { line += 1 }
                        i += 1
                    }
                    guard closed else {
                        throw .syntax(file: file, JSONSyntaxError(offset: start, line: openLine, column: cells.count + 1,
                                                                  message: "a quoted cell is never closed: the file is truncated or has a stray quote"))
                    }
                    cells.append(try cellBytes.withUnsafeBufferPointer { (b) throws(ConversionError) -> String in try cell(b, at: openLine) })
                    // After a closing quote: a delimiter, a line end or the end of the file.
                    if i < p.count, p[i] != delimiter, p[i] != 0x0A, p[i] != 0x0D {
                        throw .syntax(file: file, JSONSyntaxError(offset: i, line: line, column: cells.count,
                                                                  message: "unexpected text after the closing quote of cell \(cells.count) (a quote inside a cell must be doubled)"))
                    }
                } else {
                    let start = i
                    while i < p.count, p[i] != delimiter, p[i] != 0x0A, p[i] != 0x0D { i += 1 }
                    cells.append(try cell(UnsafeBufferPointer(rebasing: p[start..<i]), at: line))
                }
                guard i < p.count else { break }
                if p[i] == delimiter {
                    i += 1
                    if i == p.count { cells.append("") }
                    continue
                }
                if p[i] == 0x0D { i += 1; if i < p.count, p[i] == 0x0A { i += 1 } } else { i += 1 }
                line += 1
                try endRow()
            }
            if !cells.isEmpty { try endRow() }
        }
    }

    /// Appends `value` as one cell, quoted when it holds the delimiter, a quote or a line break.
    static func appendCell(_ value: String, delimiter: UInt8, to out: inout [UInt8]) {
        var value = value
        value.withUTF8 { u in
            let needsQuotes = u.contains { $0 == delimiter || $0 == UInt8(ascii: "\"") || $0 == 0x0A || $0 == 0x0D }
            guard needsQuotes else { out.append(contentsOf: u); return }
            out.append(UInt8(ascii: "\""))
            for b in u {
                if b == UInt8(ascii: "\"") { out.append(b) }
                out.append(b)
            }
            out.append(UInt8(ascii: "\""))
        }
    }

    /// The problem of a record whose cell count is not the header's.
    static func cellCountProblem(_ cells: Int, header: Int) -> FieldProblem {
        FieldProblem(field: "(row)", message: "has \(cells) cell\(cells == 1 ? "" : "s"), the header has \(header)")
    }

    /// The spreadsheet formula guard: a text cell starting with `= + - @`, tab or CR gets a leading `'`, so a
    /// spreadsheet shows it as text instead of running it. A cell already starting with `'` gets one too, so
    /// that removing exactly one `'` on import always gives the text back.
    static func guardFormula(_ s: String) -> String {
        guard let first = s.utf8.first else { return s }
        switch first {
        case UInt8(ascii: "="), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "@"), 0x09, 0x0D, UInt8(ascii: "'"):
            return "'" + s
        default:
            return s
        }
    }

    static func unguardFormula(_ s: String) -> String {
        s.utf8.first == UInt8(ascii: "'") ? String(s.dropFirst()) : s
    }
}
