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

    /// Writes `spools` as a new database at `path` (see ``FileIO/Output``: a temporary file moved into place
    /// after `check` passes, or copied into a device or FIFO).
    public static func write(_ spools: [StoredSpool], to path: String, check: () throws(ConversionError) -> Void = {}) throws(ConversionError) {
        let output = try FileIO.Output(path, seekable: true)
        guard let file = output.temporary else { throw .io(path: path, reason: "no temporary file to build the database in") }
        try write(spools, into: file, reportingAs: path)
        try check()
        try output.commit()
    }

    /// Writes `spools` as a new database into `file`, a fresh empty temporary file.
    static func write(_ spools: [StoredSpool], into file: FileIO.TemporaryFile, reportingAs path: String) throws(ConversionError) {
        _ = SQLiteAnonymousFiles.registered
        do {
            let queue = try DatabaseQueue(path: file.path)
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
            throw .io(path: path, reason: "cannot write the SQLite database: \(error)")
        }
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
        do {
            let queue: DatabaseQueue
            if isFile {
                var config = Configuration()
                config.readonly = true
                queue = try DatabaseQueue(path: path, configuration: config)
            } else {
                // Standard input: the bytes are at hand, so SQLite reads them where they are; no file to leave behind.
                queue = try DatabaseQueue()
                try queue.inDatabase { db in
                    guard let buffer = sqlite3_malloc64(sqlite3_uint64(bytes.count)) else { throw DatabaseError(resultCode: .SQLITE_NOMEM) }
                    bytes.withUnsafeBytes { _ = memcpy(buffer, $0.baseAddress!, bytes.count) }
                    let rc = sqlite3_deserialize(db.sqliteConnection, "main", buffer.assumingMemoryBound(to: UInt8.self), Int64(bytes.count), Int64(bytes.count),
                                                 UInt32(SQLITE_DESERIALIZE_FREEONCLOSE | SQLITE_DESERIALIZE_READONLY))
                    guard rc == SQLITE_OK else { throw DatabaseError(resultCode: ResultCode(rawValue: rc)) }
                    db.clearSchemaCache()
                }
            }
            let kind = try queue.read { db -> String in
                if try db.tableExists("metadata"), try db.tableExists("spools") { return "ours" }
                if try db.tableExists("spool"), try db.tableExists("filament") { return "spoolman" }
                let tables = try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
                return "unknown:" + tables.joined(separator: ", ")
            }
            switch kind {
            case "ours": return try readOurs(queue, file: file)
            case "spoolman": return try readSpoolman(queue, file: file)
            default:
                try? queue.close()
                let tables = kind.dropFirst("unknown:".count)
                throw ConversionError.notAnInventory(file: file, reason: "a SQLite database with a schema filamentdb does not know (tables: \(tables.isEmpty ? "none" : tables)); it reads its own (metadata, spools) and Spoolman's (vendor, filament, spool)")
            }
        } catch let e as ConversionError {
            throw e
        } catch {
            throw .notAnInventory(file: file, reason: "cannot read the SQLite database: \(error)")
        }
    }

    /// Our schema, row by row as the records are asked for. The database is closed when the records have been read.
    static func readOurs(_ queue: DatabaseQueue, file: String) throws -> InventoryInput {
        let meta = try queue.read { db in
            var meta: [String: String] = [:]
            for (n, row) in try Row.fetchAll(db, sql: "SELECT key, value FROM metadata").enumerated() {
                let cells = Array(row)
                func text(_ i: Int) throws(ConversionError) -> String {
                    if case .string(let s) = cells[i].1.storage { return s }
                    throw .notAnInventory(file: file, reason: "table metadata, row \(n + 1): column \"\(cells[i].0)\": expected text, found \(describe(cells[i].1))")
                }
                meta[try text(0)] = try text(1)
            }
            return meta
        }
        guard meta["format"] == "filamentdb" else {
            throw ConversionError.notAnInventory(file: file, reason: "table metadata: format is \(meta["format"].map { "\"\($0)\"" } ?? "missing"), not \"filamentdb\"")
        }
        guard meta["schema_version"] == String(schemaVersion) else {
            throw ConversionError.unsupported(file: file, reason: "table metadata: schema_version \(meta["schema_version"] ?? "missing") is not one this filamentdb reads (\(schemaVersion)); written by filamentdb \(meta["tool_version"] ?? "?")")
        }
        let note = "filamentdb SQLite database, schema version \(schemaVersion), written by filamentdb \(meta["tool_version"] ?? "?")"
        return InventoryInput(notes: [note]) { _, body throws(ConversionError) in
            defer { try? queue.close() }
            do {
                try queue.inDatabase { db in
                    var n = 0
                    try forEachExactRow(db, sql: "SELECT * FROM spools ORDER BY rowid") { cells in
                        n += 1
                        var record = RawRecord(object: .null, row: n)
                        switch object(of: cells) {
                        case .success(let o): record.object = .object(o)
                        case .failure(let problem):
                            record.problem = problem.problem
                            record.object = .object(problem.partial)
                        }
                        body(record)
                    }
                }
            } catch {
                throw .notAnInventory(file: file, reason: "cannot read the SQLite database: \(error)")
            }
        }
    }

    /// One value of a row, as ``forEachExactRow(_:sql:_:)`` read it.
    typealias Cell = (column: String, value: Result<JSONValue?, FieldProblem>)

    /// Runs `sql` and hands each row to `body` as JSON values, read with SQLite's C API by their storage class,
    /// never converted, as the JSON reader would have them: NULL is absent, an infinite REAL is typeson's
    /// `infinity` (so the same warning follows), a BLOB is an `arraybuffer`, text is its exact bytes (a NUL
    /// included), and text that is not UTF-8 is a problem of its column (GRDB's `String` would replace it).
    static func forEachExactRow(_ db: Database, sql: String, _ body: ([Cell]) throws -> Void) throws {
        let statement = try db.makeStatement(sql: sql)
        let raw = statement.sqliteStatement
        let names = (0..<sqlite3_column_count(raw)).map { String(cString: sqlite3_column_name(raw, $0)) }
        var cells: [Cell] = []
        cells.reserveCapacity(names.count)
        while true {
            let rc = sqlite3_step(raw)
            if rc == SQLITE_DONE { break }
            guard rc == SQLITE_ROW else {
                throw DatabaseError(resultCode: ResultCode(rawValue: rc), message: String(cString: sqlite3_errmsg(db.sqliteConnection)), sql: sql)
            }
            cells.removeAll(keepingCapacity: true)
            for (i, column) in names.enumerated() {
                let n = Int32(i)
                switch sqlite3_column_type(raw, n) {
                case SQLITE_INTEGER: cells.append((column, .success(.int(sqlite3_column_int64(raw, n)))))
                case SQLITE_FLOAT: cells.append((column, .success(jsonValue(sqlite3_column_double(raw, n)))))
                case SQLITE_TEXT:
                    let count = Int(sqlite3_column_bytes(raw, n))
                    let text = sqlite3_column_text(raw, n).flatMap { String(validating: UnsafeBufferPointer(start: $0, count: count), as: UTF8.self) } ?? (count == 0 ? "" : nil)
                    if let text {
                        cells.append((column, .success(.string(text))))
                    } else {
                        cells.append((column, .failure(FieldProblem(field: column, message: "invalid UTF-8 in a text value"))))
                    }
                case SQLITE_BLOB:
                    let count = Int(sqlite3_column_bytes(raw, n))
                    let data = sqlite3_column_blob(raw, n).map { Data(bytes: $0, count: count) } ?? Data()
                    cells.append((column, .success(.typed("arraybuffer", .string(data.base64EncodedString())))))
                default: cells.append((column, .success(nil)))
                }
            }
            try body(cells)
        }
    }

    /// Every row of `sql`, read as ``forEachExactRow(_:sql:_:)`` reads them.
    static func exactRows(_ db: Database, sql: String) throws -> [[Cell]] {
        var rows: [[Cell]] = []
        try forEachExactRow(db, sql: sql) { rows.append($0) }
        return rows
    }

    /// What is wrong with a row, and the fields that could be read (for the serial in the report).
    struct RowProblem: Error {
        var problem: FieldProblem
        var partial: [String: JSONValue]
    }

    /// A row of our `spools` table as a record object: `extra` spread into it, `deleted` 0/1 as a boolean,
    /// `tags` and `nfcTagHistory` parsed.
    static func object(of cells: [Cell]) -> Result<[String: JSONValue], RowProblem> {
        var object: [String: JSONValue] = [:]
        var firstProblem: FieldProblem?
        for (column, value) in cells {
            let v: JSONValue
            switch value {
            case .success(nil): continue
            case .success(let x?): v = x
            case .failure(let p):
                if firstProblem == nil { firstProblem = p }
                continue
            }
            if column == "extra" {
                guard case .string(let text) = v, case .object(let extra)? = try? JSONParser.parse(text) else {
                    let found: String
                    if case .string(let text) = v { found = (try? JSONParser.parse(text))?.kindDescription ?? "text that is not JSON" } else { found = v.kindDescription }
                    if firstProblem == nil { firstProblem = FieldProblem(field: "extra", message: "expected a JSON object of the other fields, found \(found)") }
                    continue
                }
                for (k, x) in extra { object[k] = x }
                continue
            }
            switch SpoolSchema.spec(column)?.kind {
            case .boolean?: if case .int(let n) = v, n == 0 || n == 1 { object[column] = .bool(n == 1) } else { object[column] = v }
            case .stringArray?, .tagHistory?:
                if case .string(let text) = v, let parsed = try? JSONParser.parse(text) { object[column] = parsed } else { object[column] = v }
            default: object[column] = v
            }
        }
        if let firstProblem { return .failure(RowProblem(problem: firstProblem, partial: object)) }
        return .success(object)
    }

    /// A REAL as JSON: non-finite ones as typeson's `infinity`, `negativeInfinity` (SQLite stores NaN as NULL).
    static func jsonValue(_ d: Double) -> JSONValue {
        if d.isFinite { return JSONValue.number(d) }
        if d.isNaN { return .typed("nan", .string("NaN")) }
        return d > 0 ? .typed("infinity", .string("Infinity")) : .typed("negativeInfinity", .string("-Infinity"))
    }

    /// A value for an error message: `an integer (1)`, `NULL`, `text ("abc")`.
    static func describe(_ v: DatabaseValue) -> String {
        switch v.storage {
        case .null: return "NULL"
        case .int64(let i): return "an integer (\(i))"
        case .double(let d): return "a real (\(d))"
        case .string(let s): return "text (\(JSONValue.string(s).jsonText))"
        case .blob(let data): return "a blob of \(data.count) bytes"
        }
    }

    /// Spoolman's tables joined into the flat rows of its export, then mapped like the export. A value that is
    /// not UTF-8 text rejects the spools that use it; an id or key of the wrong type is an error naming its place.
    static func readSpoolman(_ queue: DatabaseQueue, file: String) throws -> InventoryInput {
        defer { try? queue.close() }
        typealias Flat = (values: [String: JSONValue], problem: FieldProblem?)
        let flats = try queue.read { db -> [Flat] in
            /// Every row of `name`, each column checked.
            func rows(_ name: String, orderBy: String? = nil) throws -> [[Cell]] {
                try exactRows(db, sql: "SELECT * FROM \(quoted(name))" + (orderBy.map { " ORDER BY \($0)" } ?? ""))
            }
            func wrongType(_ name: String, _ n: Int, _ column: String, _ expected: String, _ found: JSONValue?) -> ConversionError {
                let what: String
                switch found {
                case nil: what = "NULL"
                case .string(let s)?: what = "text (\(JSONValue.string(s).jsonText))"
                case .int(let i)?: what = "an integer (\(i))"
                case let v?: what = v.kindDescription
                }
                return .notAnInventory(file: file, reason: "table \(name), row \(n): column \"\(column)\": expected \(expected), found \(what)")
            }
            /// The rows of `name` by their integer `id`, with the first problem among their values.
            func table(_ name: String) throws -> [Int64: Flat] {
                guard try db.tableExists(name) else { return [:] }
                var out: [Int64: Flat] = [:]
                for (n, cells) in try rows(name).enumerated() {
                    var flat: Flat = ([:], nil)
                    for (column, value) in cells {
                        switch value {
                        case .success(let v?): flat.values[column] = v
                        case .success(nil): break
                        case .failure(let p): if flat.problem == nil { flat.problem = p }
                        }
                    }
                    guard case .int(let id)? = flat.values["id"] else {
                        throw wrongType(name, n + 1, "id", "an integer", flat.values["id"])
                    }
                    out[id] = flat
                }
                return out
            }
            /// Spoolman's extra fields of each `owner`: key and value text.
            func fields(_ name: String, owner: String) throws -> [Int64: Flat] {
                guard try db.tableExists(name) else { return [:] }
                var out: [Int64: Flat] = [:]
                for (n, cells) in try rows(name).enumerated() {
                    func cell(_ column: String) -> Result<JSONValue?, FieldProblem> { cells.first { $0.column == column }?.value ?? .success(nil) }
                    guard case .success(.int(let id)?) = cell(owner) else { throw wrongType(name, n + 1, owner, "an integer", try? cell(owner).get()) }
                    guard case .success(.string(let key)?) = cell("key") else { throw wrongType(name, n + 1, "key", "text", try? cell("key").get()) }
                    switch cell("value") {
                    case .success(let v): out[id, default: ([:], nil)].values[key] = v ?? .null
                    case .failure(let p): if out[id]?.problem == nil { out[id, default: ([:], nil)].problem = p }
                    }
                }
                return out
            }
            let vendors = try table("vendor"), filaments = try table("filament")
            let vendorExtra = try fields("vendor_field", owner: "vendor_id")
            let filamentExtra = try fields("filament_field", owner: "filament_id")
            let spoolExtra = try fields("spool_field", owner: "spool_id")
            var out: [Flat] = []
            for cells in try rows("spool", orderBy: "id") {
                var flat: [String: JSONValue] = [:]
                var problem: FieldProblem?
                func note(_ p: FieldProblem?, prefix: String) {
                    if problem == nil, let p { problem = FieldProblem(field: prefix + p.field, message: p.message) }
                }
                for (column, value) in cells {
                    switch value {
                    case .success(let v?): flat[column] = v
                    case .success(nil): break
                    case .failure(let p): note(p, prefix: "")
                    }
                }
                if case .int(let a)? = flat["archived"] { flat["archived"] = .bool(a != 0) }
                if case .int(let id)? = flat["id"] {
                    for (k, v) in spoolExtra[id]?.values ?? [:] { flat["extra." + k] = v }
                    note(spoolExtra[id]?.problem, prefix: "extra.")
                }
                if case .int(let fid)? = flat["filament_id"], let filament = filaments[fid] {
                    for (k, v) in filament.values { flat["filament." + k] = v }
                    note(filament.problem, prefix: "filament.")
                    for (k, v) in filamentExtra[fid]?.values ?? [:] { flat["filament.extra." + k] = v }
                    note(filamentExtra[fid]?.problem, prefix: "filament.extra.")
                    if case .int(let vid)? = filament.values["vendor_id"], let vendor = vendors[vid] {
                        for (k, v) in vendor.values { flat["filament.vendor." + k] = v }
                        note(vendor.problem, prefix: "filament.vendor.")
                        for (k, v) in vendorExtra[vid]?.values ?? [:] { flat["filament.vendor.extra." + k] = v }
                        note(vendorExtra[vid]?.problem, prefix: "filament.vendor.extra.")
                    }
                }
                out.append((flat, problem))
            }
            return out
        }
        let records = flats.enumerated().map { n, flat -> RawRecord in
            var record = Spoolman.map(flat.values, row: n + 1)
            if record.problem == nil, let problem = flat.problem { record.problem = problem }
            return record
        }
        return InventoryInput(records: records, notes: Spoolman.notes(archived: records.count(where: \.isArchivedSpoolmanSpool), source: "Spoolman database"))
    }
}
