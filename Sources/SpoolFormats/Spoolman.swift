import SpoolModel

/// Spoolman's spool inventory, from its export (`/api/v1/export/spools?fmt=csv|json`) or its database, mapped
/// onto canonical spools.
///
/// | Spoolman | canonical |
/// |---|---|
/// | `id` | `serial` = `spoolman-<id>` (Spoolman ids are local to one instance; the id is also kept as `spoolman.id`) |
/// | `filament.vendor.name` / `filament.name` / `filament.material` | `brand` / `series` / `type` |
/// | `filament.color_hex` (`RRGGBB[AA]`, with or without `#`) | `colorHex` `#RRGGBB` (with alpha, the original is kept too) |
/// | `initial_weight`, else `filament.weight` | `weightTotal`; `weightRemaining` = that − `used_weight` |
/// | `spool_weight`, else `filament.spool_weight`, else `filament.vendor.empty_spool_weight` | `weightSpool` |
/// | `filament.diameter` / `filament.density` | `diameter` / `density` |
/// | `filament.settings_extruder_temp` / `filament.settings_bed_temp` | `temperatureNozzleMin` and `Max` / `temperatureBedMin` and `Max` |
/// | `filament.article_number` of 8, 12, 13 or 14 digits | `gtin` |
/// | `lot_nr` / `comment` / `location` | `batchNumber` / `notes` / `location` |
/// | `registered` | `createdAt`; `lastUpdated` is the latest of `registered`, `first_used`, `last_used` |
/// | everything else, `archived` included | `spoolman.<key>`, with `extra.*` values JSON-decoded |
///
/// Datetimes are naive UTC (`YYYY-MM-DD HH:MM:SS[.ffffff]`); an archived spool stays a live spool marked
/// `spoolman.archived: true`.
public enum Spoolman {
    public static let prefix = "spoolman."

    /// Whether a header (or a JSON row's keys) is Spoolman's spool export.
    static func isSpoolmanHeader<S: Sequence>(_ keys: S) -> Bool where S.Element == String {
        var filament = false, weights = false
        for k in keys {
            if k == "filament.id" || k == "filament.material" || k == "filament_id" { filament = true }
            if k == "used_weight" || k == "initial_weight" { weights = true }
        }
        return filament && weights
    }

    /// Columns whose cells are numbers in Spoolman's CSV export.
    static let numericColumns: Set<String> = [
        "id", "filament_id", "price", "initial_weight", "spool_weight", "used_weight", "remaining_weight",
        "used_length", "remaining_length", "filament.id", "filament.price", "filament.density", "filament.diameter",
        "filament.weight", "filament.spool_weight", "filament.settings_extruder_temp", "filament.settings_bed_temp",
        "filament.vendor_id", "filament.vendor.id", "filament.vendor.empty_spool_weight",
    ]

    /// A CSV cell as the value Spoolman exported: empty is null, `True`/`False` booleans, the formula
    /// guard removed, numbers in numeric columns, JSON in `extra.*` columns.
    static func value(ofCell raw: String, column: String) -> JSONValue {
        if raw.isEmpty { return .null }
        var cell = raw
        if cell.utf8.first == UInt8(ascii: "'"), let second = cell.utf8.dropFirst().first,
           [UInt8(ascii: "="), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "@"), 0x09, 0x0D].contains(second) {
            cell.removeFirst()
        }
        if cell == "True" { return .bool(true) }
        if cell == "False" { return .bool(false) }
        if numericColumns.contains(column), let n = try? JSONParser.parse(cell), n.numberValue != nil { return n }
        return .string(cell)
    }

    static func readCSV(_ bytes: [UInt8], delimiter: UInt8, file: String) -> InventoryInput {
        let lines = LineNumbers()
        return InventoryInput(locate: { lines.line(ofRow: $0) }) { input, body throws(ConversionError) in
            var header: [String] = []
            var archived = 0
            try CSVText.forEachRow(bytes, delimiter: delimiter, file: file) { (row) throws(ConversionError) in
                if header.isEmpty { header = row.cells; return }
                let n = lines.rows.count + 1
                lines.rows.append(row.line)
                guard row.cells.count == header.count else {
                    return body(RawRecord(object: .null, row: n, problem: CSVText.cellCountProblem(row.cells.count, header: header.count)))
                }
                var flat: [String: JSONValue] = [:]
                for (k, cell) in zip(header, row.cells) { flat[k] = value(ofCell: cell, column: k) }
                let record = map(flat, row: n)
                if record.isArchivedSpoolmanSpool { archived += 1 }
                body(record)
            }
            input.notes = notes(archived: archived, source: "Spoolman CSV export")
        }
    }

    /// One row of Spoolman's JSON export.
    static func record(_ row: JSONValue, row n: Int) -> RawRecord {
        guard case .object(let flat) = row else {
            return RawRecord(object: row, row: n, problem: FieldProblem(field: "(row)", message: "expected a spool object, found \(row.kindDescription)"))
        }
        return map(flat, row: n)
    }

    static func notes(archived: Int, source: String) -> [String] {
        var out = ["\(source): serials are spoolman-<id>; fields without a canonical home kept as \(prefix)*"]
        if archived > 0 { out.append("\(archived) archived spool\(archived == 1 ? "" : "s") kept, marked \(prefix)archived") }
        return out
    }

    /// Maps one flat Spoolman row (dotted keys, typed values) onto a raw canonical record.
    static func map(_ flatIn: [String: JSONValue], row: Int) -> RawRecord {
        var flat = flatIn.filter { $0.value != .null }
        var o: [String: JSONValue] = [:]
        func take(_ key: String) -> JSONValue? { flat.removeValue(forKey: key) }
        func number(_ key: String) -> JSONValue? {
            guard let v = flat[key], v.numberValue != nil else { return nil }
            return flat.removeValue(forKey: key)
        }

        guard let id = flat["id"] else {
            return RawRecord(object: .object(flatIn), row: row, revived: true, problem: FieldProblem(field: "id", message: "missing: a Spoolman spool row needs its id"))
        }
        o["serial"] = .string("spoolman-" + (id.stringValue ?? id.jsonText))
        o[prefix + "id"] = take("id")
        if let v = take("filament.vendor.name") { o["brand"] = v }
        if let v = take("filament.name") { o["series"] = v }
        if let v = take("filament.material") { o["type"] = v }
        if let hex = flat["filament.color_hex"]?.stringValue, let normal = normalHex(hex) {
            o["colorHex"] = .string(normal.hex)
            if !normal.lossy { flat["filament.color_hex"] = nil }
        }
        let total = number("initial_weight") ?? flat["filament.weight"].flatMap { $0.numberValue != nil ? $0 : nil }
        if let total {
            o["weightTotal"] = total
            let used = flat["used_weight"]?.numberValue ?? 0
            o["weightRemaining"] = JSONValue.number(total.numberValue! - used)
        }
        if let w = number("spool_weight") ?? flat["filament.spool_weight"] ?? flat["filament.vendor.empty_spool_weight"], w.numberValue != nil {
            o["weightSpool"] = w
        }
        if let v = number("filament.diameter") { o["diameter"] = v }
        if let v = number("filament.density") { o["density"] = v }
        if let v = number("filament.settings_extruder_temp") { o["temperatureNozzleMin"] = v; o["temperatureNozzleMax"] = v }
        if let v = number("filament.settings_bed_temp") { o["temperatureBedMin"] = v; o["temperatureBedMax"] = v }
        if let article = flat["filament.article_number"]?.stringValue, [8, 12, 13, 14].contains(article.utf8.count),
           article.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) {
            o["gtin"] = take("filament.article_number")
        }
        if let v = take("lot_nr") { o["batchNumber"] = v }
        if let v = take("comment") { o["notes"] = v }
        if let v = take("location") { o["location"] = v }
        var times: [Int64] = []
        for key in ["registered", "first_used", "last_used"] {
            guard let text = flat[key]?.stringValue, let ms = Timestamps.parseISO8601(text) else { continue }
            times.append(ms)
            if key == "registered" { o["createdAt"] = .int(ms); flat[key] = nil } else { flat[key] = .string(Timestamps.formatISO8601(ms)) }
        }
        if let latest = times.max() { o["lastUpdated"] = .int(latest) }
        for (key, value) in flat {
            // Every other datetime (`filament.registered`, …) is naive UTC too: written as ISO 8601 UTC.
            if key.hasSuffix("registered") || key.hasSuffix("_used"), let text = value.stringValue, let ms = Timestamps.parseISO8601(text) {
                o[prefix + key] = .string(Timestamps.formatISO8601(ms))
                continue
            }
            let isExtra = key.hasPrefix("extra.") || key.contains(".extra.")
            if isExtra, case .string(let text) = value, let decoded = try? JSONParser.parse(text) {
                o[prefix + key] = decoded
            } else {
                o[prefix + key] = value
            }
        }
        return RawRecord(object: .object(o), row: row, revived: true)
    }

    /// `#RRGGBB` from `RRGGBB`, `#RRGGBB` or `RRGGBBAA`; `lossy` when an alpha channel was dropped.
    static func normalHex(_ text: String) -> (hex: String, lossy: Bool)? {
        var digits = Substring(text)
        if digits.hasPrefix("#") { digits = digits.dropFirst() }
        guard digits.count == 6 || digits.count == 8, digits.allSatisfy(\.isHexDigit) else { return nil }
        return ("#" + digits.prefix(6).uppercased(), digits.count == 8)
    }
}

extension RawRecord {
    var isArchivedSpoolmanSpool: Bool { object.objectValue?[Spoolman.prefix + "archived"] == .bool(true) }
}
