import Foundation
import GRDB
import GRDBSQLite
import SpoolModel

/// SQLite files: filamentdb's own schema (read and write) and Spoolman's `spoolman.db` (read).
///
/// Ours, readable by the `sqlite3` shell and any script:
/// - `spools`: one row per spool, `serial` the primary key, a typed column per canonical field (text `TEXT`,
///   timestamps `INTEGER` epoch ms, `deleted` 0/1, numbers `ANY` so integers and doubles stay what they are,
///   `tags` and `nfcTagHistory` as JSON text), and `extra`: a JSON object of every other field (with a `$types`
///   member when a field holds a JavaScript-only value). An index on `lastUpdated`.
/// - `metadata`: `format` = `filamentdb`, `schema_version`, `tool_version`.
/// Tables are `STRICT` (SQLite 3.37+), so no value is silently converted.
public enum SpoolSQLite {
    public static let schemaVersion = 1
    static let magic = Array("SQLite format 3\u{0}".utf8)

    static func isSQLite(_ bytes: [UInt8]) -> Bool { bytes.starts(with: magic) }

    static func sqlType(_ kind: FieldKind) -> String {
        switch kind {
        case .string, .isoDate, .stringArray, .tagHistory: return "TEXT"
        case .integer, .timestamp, .boolean: return "INTEGER"
        case .number: return "ANY"
        }
    }

    static func quoted(_ name: String) -> String { "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }

    static var createStatements: [String] {
        let columns = SpoolSchema.fields.map { spec -> String in
            var col = "\(quoted(spec.name)) \(sqlType(spec.kind))"
            if spec.name == "serial" { col += " NOT NULL PRIMARY KEY" }
            if spec.name == "lastUpdated" { col += " NOT NULL" }
            return col
        } + ["\"extra\" TEXT"]
        return [
            "CREATE TABLE metadata (key TEXT NOT NULL PRIMARY KEY, value TEXT NOT NULL) STRICT",
            "CREATE TABLE spools (\n  " + columns.joined(separator: ",\n  ") + "\n) STRICT",
        ]
    }

    /// Created after the rows are in: one sort instead of an index update per insert.
    static var indexStatements: [String] {
        ["CREATE INDEX spools_lastUpdated ON spools (lastUpdated)"]
    }

    // MARK: writing

    /// Writes `spools` as a new database at `path`, through a temporary file renamed into place after
    /// `check` passes.
    public static func write(_ spools: [StoredSpool], to path: String, check: () throws(ConversionError) -> Void = {}) throws(ConversionError) {
        let temp = FileIO.temporaryPath(for: path)
        do {
            let queue = try DatabaseQueue(path: temp)
            try queue.writeWithoutTransaction { db in
                // A fresh temporary file: no journal needed, the rename makes it appear whole.
                try db.execute(sql: "PRAGMA journal_mode = OFF")
                try db.execute(sql: "PRAGMA synchronous = OFF")
                try db.inTransaction {
                    for sql in createStatements { try db.execute(sql: sql) }
                    try db.execute(sql: "INSERT INTO metadata (key, value) VALUES ('format', 'filamentdb'), ('schema_version', ?), ('tool_version', ?)",
                                   arguments: [String(schemaVersion), FilamentDBVersion.string])
                    let names = SpoolSchema.fields.map(\.name) + ["extra"]
                    let statement = try db.makeStatement(sql: "INSERT INTO spools (\(names.map(quoted).joined(separator: ", "))) VALUES (\(Array(repeating: "?", count: names.count).joined(separator: ", ")))")
                    let raw = statement.sqliteStatement
                    // Spools are decoded on all cores a chunk at a time; the inserts run in order.
                    for start in stride(from: 0, to: spools.count, by: 8192) {
                        let end = min(start + 8192, spools.count)
                        let prepared = Parallel.map(end - start) { range in range.map { values(of: spools[start + $0].spool()) } }
                        for part in prepared {
                            for row in part {
                                sqlite3_reset(raw)
                                bind(row, to: raw)
                                let rc = sqlite3_step(raw)
                                guard rc == SQLITE_DONE else {
                                    throw DatabaseError(resultCode: ResultCode(rawValue: rc), message: String(cString: sqlite3_errmsg(db.sqliteConnection)), sql: nil)
                                }
                            }
                        }
                    }
                    for sql in indexStatements { try db.execute(sql: sql) }
                    return .commit
                }
            }
            try queue.close()
        } catch {
            try? FileManager.default.removeItem(atPath: temp)
            throw .io(path: path, reason: "cannot write the SQLite database: \(error)")
        }
        do {
            try check()
        } catch {
            try? FileManager.default.removeItem(atPath: temp)
            throw error
        }
        try FileIO.commitTemporary(temp, to: path)
    }

    /// Whether a column holds text (read back through `CAST(… AS BLOB)`, see ``bind(_:to:)``).
    static func isText(_ kind: FieldKind) -> Bool { sqlType(kind) == "TEXT" }

    /// SQLite copies bound text and blobs at once.
    static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    /// A value ready to bind.
    enum SQLValue {
        case null
        case int(Int64)
        case double(Double)
        case text(String)
    }

    /// One spool as the insert statement's parameters: the schema's fields, then `extra` (made on any thread).
    static func values(of spool: Spool) -> [SQLValue] {
        let known = spool.knownFieldsByIndex
        var out: [SQLValue] = []
        out.reserveCapacity(known.count + 1)
        for (n, spec) in SpoolSchema.fields.enumerated() {
            switch (spec.kind, known[n]) {
            case (_, nil): out.append(.null)
            case (_, .string(let s)?): out.append(.text(s))
            case (_, .int(let i)?): out.append(.int(i))
            case (_, .double(let d)?): out.append(.double(d))
            case (.boolean, .bool(let b)?): out.append(.int(b ? 1 : 0))
            case (_, let v?): out.append(.text(v.jsonText))
            }
        }
        var extra = spool.unknownFields
        if let types = Typeson.typesObject(of: spool.jsonObject) { extra["$types"] = types }
        out.append(extra.isEmpty ? .null : .text(JSONValue.object(extra).jsonText))
        return out
    }

    /// Binds a prepared row. Text is bound with its byte length, so a NUL character inside it survives;
    /// reading casts text columns to BLOB for the same reason.
    static func bind(_ row: [SQLValue], to statement: OpaquePointer) {
        for (n, value) in row.enumerated() {
            let index = Int32(n + 1)
            switch value {
            case .null: sqlite3_bind_null(statement, index)
            case .int(let i): sqlite3_bind_int64(statement, index, i)
            case .double(let d): sqlite3_bind_double(statement, index, d)
            case .text(var s):
                s.withUTF8 { u in
                    u.withMemoryRebound(to: CChar.self) { c in
                        // An empty string still needs a non-null pointer, or SQLite would store NULL.
                        if let base = c.baseAddress {
                            _ = sqlite3_bind_text(statement, index, base, Int32(c.count), transient)
                        } else {
                            _ = sqlite3_bind_text(statement, index, "", 0, transient)
                        }
                    }
                }
            }
        }
    }

    // MARK: reading

    static func read(_ bytes: [UInt8], path: String, isFile: Bool, file: String) throws(ConversionError) -> InventoryInput {
        guard isSQLite(bytes) else {
            throw .notAnInventory(file: file, reason: "not a SQLite database (its first bytes are not \"SQLite format 3\")")
        }
        var openPath = path
        var temp: String?
        if !isFile {
            let t = FileIO.temporaryPath(for: NSTemporaryDirectory() + "/input.sqlite")
            try FileIO.writeAtomically(bytes, to: t)
            openPath = t
            temp = t
        }
        do {
            var config = Configuration()
            config.readonly = true
            let queue = try DatabaseQueue(path: openPath, configuration: config)
            let kind = try queue.read { db -> String in
                if try db.tableExists("metadata"), try db.tableExists("spools") { return "ours" }
                if try db.tableExists("spool"), try db.tableExists("filament") { return "spoolman" }
                let tables = try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
                return "unknown:" + tables.joined(separator: ", ")
            }
            switch kind {
            case "ours": return try readOurs(queue, file: file, keeping: temp)
            case "spoolman": return try readSpoolman(queue)
            default:
                try? queue.close()
                let tables = kind.dropFirst("unknown:".count)
                throw ConversionError.notAnInventory(file: file, reason: "a SQLite database with a schema filamentdb does not know (tables: \(tables.isEmpty ? "none" : tables)); it reads its own (metadata, spools) and Spoolman's (vendor, filament, spool)")
            }
        } catch let e as ConversionError {
            if let temp { try? FileManager.default.removeItem(atPath: temp) }
            throw e
        } catch {
            if let temp { try? FileManager.default.removeItem(atPath: temp) }
            throw .notAnInventory(file: file, reason: "cannot read the SQLite database: \(error)")
        }
    }

    /// Our schema, row by row as the records are asked for. The database (and `temp`, a copy of standard
    /// input) is closed and removed when the records have been read.
    static func readOurs(_ queue: DatabaseQueue, file: String, keeping temp: String?) throws -> InventoryInput {
        let meta = try queue.read { db in
            try Row.fetchAll(db, sql: "SELECT key, value FROM metadata").reduce(into: [String: String]()) { $0[$1["key"]] = $1["value"] }
        }
        guard meta["format"] == "filamentdb" else {
            throw ConversionError.notAnInventory(file: file, reason: "table metadata: format is \(meta["format"].map { "\"\($0)\"" } ?? "missing"), not \"filamentdb\"")
        }
        guard meta["schema_version"] == String(schemaVersion) else {
            throw ConversionError.unsupported(file: file, reason: "table metadata: schema_version \(meta["schema_version"] ?? "missing") is not one this filamentdb reads (\(schemaVersion)); written by filamentdb \(meta["tool_version"] ?? "?")")
        }
        let note = "filamentdb SQLite database, schema version \(schemaVersion), written by filamentdb \(meta["tool_version"] ?? "?")"
        return InventoryInput(notes: [note]) { _, body throws(ConversionError) in
            defer {
                try? queue.close()
                if let temp { try? FileManager.default.removeItem(atPath: temp) }
            }
            do {
                try queue.inDatabase { db in
                    let columns = try db.columns(in: "spools").map { column -> String in
                        let textual = SpoolSchema.spec(column.name).map { isText($0.kind) } ?? (column.type.uppercased() == "TEXT")
                        return textual ? "CAST(\(quoted(column.name)) AS BLOB) AS \(quoted(column.name))" : quoted(column.name)
                    }
                    let cursor = try Row.fetchCursor(db, sql: "SELECT \(columns.joined(separator: ", ")) FROM spools ORDER BY rowid")
                    var n = 0
                    while let row = try cursor.next() {
                        n += 1
                        body(RawRecord(object: .object(object(of: row)), row: n))
                    }
                }
            } catch {
                throw .notAnInventory(file: file, reason: "cannot read the SQLite database: \(error)")
            }
        }
    }

    static func object(of row: Row) -> [String: JSONValue] {
        var object: [String: JSONValue] = [:]
        for (column, dbValue) in row {
            let v: JSONValue
            if case .blob(let data) = dbValue.storage {
                v = .string(String(decoding: data, as: UTF8.self))
            } else if let plain = jsonValue(dbValue) {
                v = plain
            } else {
                continue
            }
            if column == "extra" {
                if case .string(let text) = v, case .object(let extra)? = try? JSONParser.parse(text) {
                    for (k, x) in extra { object[k] = x }
                } else {
                    object["extra"] = v
                }
                continue
            }
            switch SpoolSchema.spec(column)?.kind {
            case .boolean?: if case .int(let n) = v, n == 0 || n == 1 { object[column] = .bool(n == 1) } else { object[column] = v }
            case .stringArray?, .tagHistory?:
                if case .string(let text) = v, let parsed = try? JSONParser.parse(text) { object[column] = parsed } else { object[column] = v }
            default: object[column] = v
            }
        }
        return object
    }

    static func jsonValue(_ v: DatabaseValue) -> JSONValue? {
        switch v.storage {
        case .null: return nil
        case .int64(let i): return .int(i)
        case .double(let d): return d.isFinite ? JSONValue.number(d) : nil
        case .string(let s): return .string(s)
        case .blob(let data): return .string(data.base64EncodedString())
        }
    }

    /// Spoolman's tables joined into the flat rows of its export, then mapped like the export.
    static func readSpoolman(_ queue: DatabaseQueue) throws -> InventoryInput {
        defer { try? queue.close() }
        let flats = try queue.read { db -> [[String: JSONValue]] in
            func table(_ name: String) throws -> [Int64: [String: JSONValue]] {
                guard try db.tableExists(name) else { return [:] }
                var out: [Int64: [String: JSONValue]] = [:]
                for row in try Row.fetchAll(db, sql: "SELECT * FROM \(quoted(name))") {
                    var o: [String: JSONValue] = [:]
                    for (column, value) in row { if let v = jsonValue(value) { o[column] = v } }
                    if case .int(let id)? = o["id"] { out[id] = o }
                }
                return out
            }
            func fields(_ name: String, owner: String) throws -> [Int64: [String: JSONValue]] {
                guard try db.tableExists(name) else { return [:] }
                var out: [Int64: [String: JSONValue]] = [:]
                for row in try Row.fetchAll(db, sql: "SELECT \(quoted(owner)), key, value FROM \(quoted(name))") {
                    guard let id: Int64 = row[0], let key: String = row[1] else { continue }
                    out[id, default: [:]][key] = (row[2] as String?).map { .string($0) } ?? .null
                }
                return out
            }
            let vendors = try table("vendor"), filaments = try table("filament")
            let vendorExtra = try fields("vendor_field", owner: "vendor_id")
            let filamentExtra = try fields("filament_field", owner: "filament_id")
            let spoolExtra = try fields("spool_field", owner: "spool_id")
            var rows: [[String: JSONValue]] = []
            for row in try Row.fetchAll(db, sql: "SELECT * FROM spool ORDER BY id") {
                var flat: [String: JSONValue] = [:]
                for (column, value) in row { if let v = jsonValue(value) { flat[column] = v } }
                if case .int(let a)? = flat["archived"] { flat["archived"] = .bool(a != 0) }
                guard case .int(let id)? = flat["id"] else { continue }
                for (k, v) in spoolExtra[id] ?? [:] { flat["extra." + k] = v }
                if case .int(let fid)? = flat["filament_id"], let filament = filaments[fid] {
                    for (k, v) in filament { flat["filament." + k] = v }
                    for (k, v) in filamentExtra[fid] ?? [:] { flat["filament.extra." + k] = v }
                    if case .int(let vid)? = filament["vendor_id"], let vendor = vendors[vid] {
                        for (k, v) in vendor { flat["filament.vendor." + k] = v }
                        for (k, v) in vendorExtra[vid] ?? [:] { flat["filament.vendor.extra." + k] = v }
                    }
                }
                rows.append(flat)
            }
            return rows
        }
        let records = flats.enumerated().map { Spoolman.map($1, row: $0 + 1) }
        return InventoryInput(records: records, notes: Spoolman.notes(archived: records.count(where: \.isArchivedSpoolmanSpool), source: "Spoolman database"))
    }
}
