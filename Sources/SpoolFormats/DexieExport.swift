import SpoolModel

/// The dexie-export-import format: `{"formatName":"dexie","formatVersion":1,"data":{…}}`.
///
/// Reading takes one table (`spools` unless told otherwise), inbound (`++id`, the key inside each row) or
/// outbound (`[key, value]` rows, bare or wrapped as `{"$": [key, value], "$types": {"$": {…}}}`), with the
/// typeson `$types` of each row. Writing produces what the web app's schema-3 database imports.
public enum DexieExport {
    public static let defaultTable = "spools"
    /// The database name written into exports; importers match tables, not this name.
    public static let databaseName = "FilamentDB"

    public static func read(_ bytes: [UInt8], file: String, table wanted: String?) throws(ConversionError) -> InventoryInput {
        // The header is parsed; the rows are left in place and read one at a time.
        let doc = try parseDocument(bytes, file: file, deferring: "rows")
        guard case .object(let top) = doc else {
            throw .notAnInventory(file: file, reason: "not a Dexie export nor an array of spools: the top level is \(doc.kindDescription)")
        }
        guard let name = top["formatName"] else {
            throw .notAnInventory(file: file, reason: "not a Dexie export (no \"formatName\") nor an array of spools")
        }
        guard name == .string("dexie") else {
            throw .notAnInventory(file: file, reason: "formatName is \(name.jsonText), not \"dexie\": not a Dexie export")
        }
        guard let version = top["formatVersion"]?.numberValue else {
            throw .notAnInventory(file: file, reason: "field \"formatVersion\": missing or not a number")
        }
        guard version == 1 else {
            throw .unsupported(file: file, reason: "field \"formatVersion\": version \(top["formatVersion"]!.jsonText) of the Dexie export format is not supported (filamentdb reads version 1)")
        }
        guard case .object(let data)? = top["data"] else {
            throw .notAnInventory(file: file, reason: "field \"data\": missing or not an object")
        }
        guard case .array(let tableData)? = data["data"] else {
            throw .notAnInventory(file: file, reason: "field \"data.data\": missing or not an array of tables")
        }
        var declared: [String: [String: JSONValue]] = [:]
        var tableNames: [String] = []
        if case .array(let tables)? = data["tables"] {
            for t in tables {
                if let o = t.objectValue, let n = o["name"]?.stringValue {
                    declared[n] = o
                    tableNames.append(n)
                }
            }
        }
        for t in tableData {
            if let n = t.objectValue?["tableName"]?.stringValue, !tableNames.contains(n) { tableNames.append(n) }
        }
        let table = wanted ?? defaultTable
        guard let index = tableData.firstIndex(where: { $0.objectValue?["tableName"]?.stringValue == table }),
              case .object(let entry) = tableData[index] else {
            throw .tableNotFound(file: file, table: table, available: tableNames)
        }
        guard let rowsValue = entry["rows"], let rowsRange = JSONParser.deferredRange(rowsValue) else {
            throw .notAnInventory(file: file, reason: "table \"\(table)\": field \"rows\" is missing or not an array")
        }
        let schema = declared[table]?["schema"]?.stringValue
        let inbound: Bool
        switch entry["inbound"] {
        case .bool(let b)?: inbound = b
        default: inbound = !(schema.map(primaryKeyIsOutbound) ?? false)
        }

        var header = "Dexie export of database \(data["databaseName"]?.jsonText ?? "(unnamed)")"
        if let v = data["databaseVersion"]?.numberValue { header += ", version \(v.formatted)" }
        header += ", table \"\(table)\" (\(inbound ? "inbound" : "outbound")) of \(tableNames.count)"
        let declaredCount = declared[table]?["rowCount"]?.numberValue
        let offsets = RowOffsets(bytes: bytes)
        return InventoryInput(notes: [header], locate: offsets.line(ofRow:)) { input, body throws(ConversionError) in
            var count = 0
            if inbound {
                try streamDeferredArray(bytes, range: rowsRange, file: file, offsets: offsets) { record in
                    count = record.row
                    body(record)
                }
            } else {
                try streamArray(bytes, range: rowsRange, file: file, offsets: offsets) { row, value in
                    count = row
                    body(outboundRecord(value, row: row))
                }
            }
            if let declaredCount, declaredCount != Double(count) {
                input.notes.append("the header's rowCount says \(declaredCount.formatted) rows, the table holds \(count) (rowCount is unreliable; the rows were read)")
            }
        }
    }

    /// `""`, `null` or an empty first index spec: keys live outside the values.
    static func primaryKeyIsOutbound(_ schema: String) -> Bool {
        let first = schema.split(separator: ",", omittingEmptySubsequences: false).first.map(String.init) ?? ""
        return first.isEmpty || first == "null" || first == "++"
    }

    /// An outbound row `[key, value]`: the value is the record; an integer key becomes its `id` when it has
    /// none, and any other key is kept as the field `dexieKey`.
    static func outboundRecord(_ row: JSONValue, row n: Int) -> RawRecord {
        var pair = row
        if case .object(var wrapper) = row, let inner = wrapper.removeValue(forKey: "$") {
            pair = inner
            if let types = wrapper.removeValue(forKey: "$types") {
                guard let arrayTypes = types.objectValue?["$"] else {
                    return RawRecord(object: row, row: n, problem: FieldProblem(field: "$types", message: "an outbound row's types must be under \"$\""))
                }
                do {
                    pair = try Typeson.decode(inner, types: arrayTypes)
                } catch {
                    return RawRecord(object: row, row: n, revived: true,
                                     problem: FieldProblem(field: "$types[\"$\"][\"\(error.keyPath)\"]", message: error.message))
                }
            }
        }
        guard case .array(let kv) = pair, kv.count == 2 else {
            return RawRecord(object: row, row: n, problem: FieldProblem(field: "(row)", message: "an outbound row must be [key, value], found \(pair.kindDescription)"))
        }
        guard case .object(var value) = kv[1] else {
            return RawRecord(object: kv[1], row: n, revived: true)
        }
        let key = kv[0]
        if case .int = key, value["id"] == nil {
            value["id"] = key
        } else if value["id"] != key {
            value["dexieKey"] = key
        }
        return RawRecord(object: .object(value), row: n, revived: true)
    }

    /// The ids a Dexie export gives `spools`: a unique integer `id` is kept; a spool without one, or whose
    /// id an earlier spool (in serial order) already has, gets the next id above the largest.
    public static func assignIDs(_ spools: [StoredSpool]) -> (spools: [StoredSpool], assigned: [IDAssignment]) {
        var used = Set<Int64>()
        var maxID: Int64 = 0
        for s in spools { if let id = s.id { maxID = max(maxID, id) } }
        var out: [StoredSpool] = []
        out.reserveCapacity(spools.count)
        var assigned: [IDAssignment] = []
        for s in spools {
            if let id = s.id, used.insert(id).inserted {
                out.append(s)
                continue
            }
            maxID += 1
            var copy = s.spool()
            copy["id"] = .int(maxID)
            used.insert(maxID)
            assigned.append(IDAssignment(serial: s.serial, oldID: s.id, newID: maxID))
            out.append(s.replaced(by: copy))
        }
        return (out, assigned)
    }

    /// The export of `spools` (with unique ids; see ``assignIDs(_:)``), rows in key order, header before
    /// data, timestamps as plain numbers, typeson `$types` only where needed.
    static func write(_ spools: [StoredSpool], to sink: ByteSink) throws(ConversionError) {
        let rows = spools.sorted { ($0.id ?? 0) < ($1.id ?? 0) }
        var w = JSONWriter()
        w.append("{\"formatName\":\"dexie\",\"formatVersion\":1,\"data\":{\"databaseName\":")
        w.writeString(databaseName)
        w.appendRaw(",\"databaseVersion\":\(SpoolSchema.dexieVersion),\"tables\":[{\"name\":\"spools\",\"schema\":")
        w.writeString(SpoolSchema.dexieStoreSchema)
        w.appendRaw(",\"rowCount\":\(rows.count)}],\"data\":[{\"tableName\":\"spools\",\"inbound\":true,\"rows\":[")
        try sink.append(w.bytes)
        for (n, spool) in rows.enumerated() {
            try sink.append(n == 0 ? newline : commaNewline)
            try sink.append(spool.json)
        }
        try sink.append(Array("\n]}]}}\n".utf8))
    }
}

let newline: [UInt8] = [0x0A]
let commaNewline: [UInt8] = [0x2C, 0x0A]

extension Double {
    /// `3` for 3.0, `2.5` for 2.5.
    var formatted: String { rounded() == self && abs(self) < 1e15 ? String(Int64(self)) : String(self) }
}
