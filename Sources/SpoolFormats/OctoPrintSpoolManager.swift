import Foundation
import SpoolModel

/// OctoPrint-SpoolManager's CSV export, mapped onto canonical spools.
///
/// The plugin writes every cell between quotes without escaping the quotes inside (`"a "quoted" note"`),
/// replaces newlines with spaces, and writes `-` for an empty value; its own importer cuts such a note
/// short. This reader splits a line on the `","` between cells instead, so the note arrives whole.
///
/// | SpoolManager | canonical |
/// |---|---|
/// | `Serialnumber` | `serial`; without one, `octoprint:<Spool Name>` |
/// | `Vendor` / `Material` / `Color Name` / `Color Code [hex]` | `brand` / `type` / `color` / `colorHex` |
/// | `Density [g/cm3]` / `Diameter [mm]` | `density` / `diameter` |
/// | `Temperature [C]` / `Bed Temperature [C]` / `Enclosure Temperature [C]` | nozzle min and max / bed min and max / `temperatureChamberIdeal` |
/// | `Total weight [g]` / `Spool weight [g]` | `weightTotal` / `weightSpool`; `weightRemaining` = total − `Used weight [g]` |
/// | `Note` | `notes` |
/// | the latest of `Last use`, `First use`, `Purchased on` | `lastUpdated` (the dates are naive local time, read as UTC) |
/// | every column, mapped or not, other than the ones above | `octoprint.<label>` (dates as ISO 8601) |
public enum OctoPrintSpoolManager {
    public static let prefix = "octoprint."
    static let requiredColumn = "Spool Name"

    static func isHeader(_ cells: [String]) -> Bool { cells.contains(requiredColumn) }

    static let numericColumns: Set<String> = [
        "Density [g/cm3]", "Diameter [mm]", "Diameter Tolerance[mm]", "Flow rate compensation [%]", "Temperature [C]",
        "Bed Temperature [C]", "Enclosure Temperature [C]", "Offset Temperature [C]", "Offset Bed Temperature [C]",
        "Offset Enclosure Temperature [C]", "Total weight [g]", "Spool weight [g]", "Used weight [g]",
        "Total length [mm]", "Used length [mm]", "Cost",
    ]

    /// Splits one line of the plugin's export into its cells.
    static func cells(ofLine line: Substring, expected: Int) -> [String] {
        var text = line
        if text.hasSuffix("\r") { text = text.dropLast() }
        guard text.hasPrefix("\""), text.hasSuffix("\""), text.count >= 2 else {
            return text.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        }
        var parts = text.dropFirst().dropLast().components(separatedBy: "\",\"")
        // A note holding `","` splits in too many cells: it is the last column, so the rest belongs to it.
        if expected > 0, parts.count > expected {
            parts = Array(parts[..<(expected - 1)]) + [parts[(expected - 1)...].joined(separator: "\",\"")]
        }
        return parts
    }

    static func read(_ bytes: [UInt8], file: String) throws(ConversionError) -> InventoryInput {
        var start = 0
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { start = 3 }
        guard let text = String(validating: bytes[start...], as: UTF8.self) else {
            let offset = bytes.withUnsafeBufferPointer { invalidUTF8Offset(UnsafeBufferPointer(rebasing: $0[start...])) } + start
            let line = bytes[..<offset].count { $0 == 0x0A } + 1
            throw .syntax(file: file, JSONSyntaxError(offset: offset, line: line, column: 1, message: "invalid UTF-8"))
        }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard let headerLine = lines.first else { throw .notAnInventory(file: file, reason: "the CSV file has no header row") }
        let header = cells(ofLine: headerLine, expected: 0).map { $0.trimmingCharacters(in: .whitespaces) }
        let lineOfRow = LineNumbers()
        let notes = ["OctoPrint-SpoolManager CSV export; columns without a canonical home kept as \(prefix)<label>"]
        return InventoryInput(notes: notes, locate: { lineOfRow.line(ofRow: $0) }) { _, body in
            for (n, line) in lines.enumerated().dropFirst() where !line.allSatisfy({ $0 == "\r" || $0 == " " }) {
                lineOfRow.rows.append(n + 1)
                body(record(line, header: header, row: lineOfRow.rows.count))
            }
        }
    }

    static func record(_ line: Substring, header: [String], row: Int) -> RawRecord {
        let values = cells(ofLine: line, expected: header.count)
        guard values.count == header.count else {
            return RawRecord(object: .null, row: row, problem: CSVText.cellCountProblem(values.count, header: header.count))
        }
        var flat: [String: JSONValue] = [:]
        for (label, raw) in zip(header, values) {
            let cell = raw.trimmingCharacters(in: .whitespaces)
            if cell.isEmpty || cell == "-" { continue }
            if numericColumns.contains(label) {
                guard let n = Double(cell), n.isFinite else {
                    return RawRecord(object: .null, row: row, problem: FieldProblem(field: label, message: "expected a number, found \"\(cell)\""))
                }
                flat[label] = JSONValue.number(n)
            } else if label.contains("[dd.mm.yyyy") {
                guard let ms = parseDate(cell) else {
                    return RawRecord(object: .null, row: row, problem: FieldProblem(field: label, message: "expected a date dd.mm.yyyy hh:mm, found \"\(cell)\""))
                }
                flat[label] = .int(ms)
            } else {
                flat[label] = .string(cell)
            }
        }
        return RawRecord(object: .object(map(flat)), row: row, revived: true)
    }

    /// `dd.mm.yyyy hh:mm` or `dd.mm.yyyy`, read as UTC.
    static func parseDate(_ text: String) -> Int64? {
        let parts = text.split(separator: " ")
        let date = parts[0].split(separator: ".")
        guard date.count == 3, date[0].count <= 2, date[1].count <= 2, date[2].count == 4,
              let d = Int(date[0]), let m = Int(date[1]), let y = Int(date[2]) else { return nil }
        let pad = { (v: Int) in v < 10 ? "0\(v)" : "\(v)" }
        var iso = "\(y)-\(pad(m))-\(pad(d))"
        if parts.count == 2 {
            let time = parts[1].split(separator: ":")
            guard time.count == 2, let h = Int(time[0]), let mi = Int(time[1]) else { return nil }
            iso += "T\(pad(h)):\(pad(mi)):00Z"
        } else if parts.count > 2 {
            return nil
        }
        return Timestamps.parseISO8601(iso)
    }

    static func map(_ flat: [String: JSONValue]) -> [String: JSONValue] {
        var o: [String: JSONValue] = [:]
        let name = flat[requiredColumn]?.stringValue ?? ""
        if let serial = flat["Serialnumber"]?.stringValue, !serial.isEmpty {
            o["serial"] = .string(serial)
        } else {
            o["serial"] = .string(name.isEmpty ? "" : "octoprint:" + name)
        }
        let direct: [(String, String)] = [
            ("Vendor", "brand"), ("Material", "type"), ("Color Name", "color"), ("Density [g/cm3]", "density"),
            ("Diameter [mm]", "diameter"), ("Enclosure Temperature [C]", "temperatureChamberIdeal"),
            ("Total weight [g]", "weightTotal"), ("Spool weight [g]", "weightSpool"), ("Note", "notes"),
        ]
        var mapped: Set<String> = ["Serialnumber"]
        for (label, field) in direct {
            if let v = flat[label] { o[field] = v; mapped.insert(label) }
        }
        if let hex = flat["Color Code [hex]"]?.stringValue, let normal = Spoolman.normalHex(hex), !normal.lossy {
            o["colorHex"] = .string(normal.hex)
            mapped.insert("Color Code [hex]")
        }
        if let t = flat["Temperature [C]"] { o["temperatureNozzleMin"] = t; o["temperatureNozzleMax"] = t; mapped.insert("Temperature [C]") }
        if let t = flat["Bed Temperature [C]"] { o["temperatureBedMin"] = t; o["temperatureBedMax"] = t; mapped.insert("Bed Temperature [C]") }
        if let total = flat["Total weight [g]"]?.numberValue {
            o["weightRemaining"] = JSONValue.number(total - (flat["Used weight [g]"]?.numberValue ?? 0))
        }
        var times: [Int64] = []
        for (label, value) in flat where !mapped.contains(label) {
            if label.contains("[dd.mm.yyyy"), case .int(let ms) = value {
                times.append(ms)
                o[prefix + label] = .string(Timestamps.formatISO8601(ms))
            } else {
                o[prefix + label] = value
            }
        }
        if let latest = times.max() { o["lastUpdated"] = .int(latest) }
        return o
    }
}
