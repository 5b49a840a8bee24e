import SpoolModel

/// A file format filamentdb reads or writes.
public enum InventoryFormat: String, Sendable, CaseIterable, Codable {
    /// The dexie-export-import format (`formatName: "dexie"`), what the web app imports and exports.
    case dexie
    /// A plain JSON array of spools (`JSON.stringify(await db.spools.toArray())`), or one spool object.
    case json
    /// JSON Lines: one spool object per line.
    case jsonl
    /// filamentdb's CSV; reading also recognises Spoolman's and OctoPrint-SpoolManager's by their headers.
    case csv
    /// filamentdb's SQLite database; reading also recognises Spoolman's `spoolman.db`.
    case sqlite
    /// The web app's backup: a ZIP of one JSON file per spool.
    case zip
    /// Spoolman's spool export (CSV or JSON) or database, read only.
    case spoolman
    /// OctoPrint-SpoolManager's CSV export, read only.
    case octoprint

    public var summary: String {
        switch self {
        case .dexie: return "Dexie export (dexie-export-import JSON with typeson $types), the web app's import/export"
        case .json: return "plain JSON array of spools (or one spool object); Spoolman's JSON export is recognised"
        case .jsonl: return "JSON Lines, one spool per line"
        case .csv: return "CSV, one column per field; Spoolman's and OctoPrint-SpoolManager's exports are recognised"
        case .sqlite: return "SQLite, one typed column per field; Spoolman's spoolman.db is recognised"
        case .zip: return "the web app's backup ZIP, one JSON file per spool"
        case .spoolman: return "Spoolman spool export (CSV or JSON) or spoolman.db"
        case .octoprint: return "OctoPrint-SpoolManager CSV export"
        }
    }

    public var canRead: Bool { true }
    public var canWrite: Bool { self != .spoolman && self != .octoprint }

    /// The extensions that select this format.
    public var extensions: [String] {
        switch self {
        case .dexie: return [".json", ".dexie"]
        case .json: return []
        case .jsonl: return [".jsonl", ".ndjson"]
        case .csv: return [".csv", ".tsv"]
        case .sqlite: return [".sqlite", ".sqlite3", ".db"]
        case .zip: return [".zip"]
        case .spoolman, .octoprint: return []
        }
    }

    /// The format an output path asks for: `.json` is a Dexie export (what the web app imports);
    /// use `--to json` for a plain array.
    public static func forOutput(path: String) -> InventoryFormat? {
        let lower = path.lowercased()
        for f in allCases where f.canWrite && f.extensions.contains(where: { lower.hasSuffix($0) }) { return f }
        return nil
    }

    /// The format of an input, from its first bytes, its extension, then its content.
    public static func detect(path: String, bytes: [UInt8]) -> InventoryFormat? {
        if SpoolSQLite.isSQLite(bytes) { return .sqlite }
        if SpoolZIP.isZIP(bytes) { return .zip }
        let lower = path.lowercased()
        for f in [InventoryFormat.sqlite, .zip, .csv, .jsonl] where f.extensions.contains(where: { lower.hasSuffix($0) }) { return f }
        // A Dexie export names itself in its first bytes: no need to scan the rest.
        let head = String(decoding: bytes.prefix(4096), as: UTF8.self)
        if head.contains("\"formatName\""), head.drop(while: { $0.isWhitespace || $0 == "\u{FEFF}" }).first == "{" { return .dexie }
        switch JSONParser.shape(of: bytes) {
        case .array: return .json
        case .sequence: return .jsonl
        case .object: return .json
        case .empty: return nil
        case .other:
            // Not JSON: a CSV if its first line has cells.
            let firstLine = head.prefix { $0 != "\n" }
            return firstLine.contains(",") || firstLine.contains(";") || firstLine.contains("\t") ? .csv : nil
        }
    }
}
