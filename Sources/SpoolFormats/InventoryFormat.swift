import SpoolModel

/// A file format filamentdb reads or writes.
public enum InventoryFormat: String, Sendable, CaseIterable, Codable {
    /// The dexie-export-import format (`formatName: "dexie"`), what the web app imports and exports.
    case dexie
    /// A plain JSON array of spools (`JSON.stringify(await db.spools.toArray())`), or one spool object.
    case json
    /// JSON Lines: one spool object per line.
    case jsonl

    public var summary: String {
        switch self {
        case .dexie: return "Dexie export (dexie-export-import JSON with typeson $types), the web app's import/export"
        case .json: return "plain JSON array of spools (or one spool object)"
        case .jsonl: return "JSON Lines, one spool per line"
        }
    }

    public var canRead: Bool { true }
    public var canWrite: Bool { true }

    /// The extensions that select this format.
    public var extensions: [String] {
        switch self {
        case .dexie: return [".json", ".dexie"]
        case .json: return []
        case .jsonl: return [".jsonl", ".ndjson"]
        }
    }

    /// The format an output path asks for: `.json` is a Dexie export (what the web app imports);
    /// use `--to json` for a plain array.
    public static func forOutput(path: String) -> InventoryFormat? {
        let lower = path.lowercased()
        for f in allCases where f.extensions.contains(where: { lower.hasSuffix($0) }) { return f }
        return nil
    }

    /// The format of an input, from its extension and then its content.
    public static func detect(path: String, bytes: [UInt8]) -> InventoryFormat? {
        let lower = path.lowercased()
        if lower.hasSuffix(".jsonl") || lower.hasSuffix(".ndjson") { return .jsonl }
        // A Dexie export names itself in its first bytes: no need to scan the rest.
        let head = String(decoding: bytes.prefix(4096), as: UTF8.self)
        if head.contains("\"formatName\""), head.drop(while: { $0.isWhitespace || $0 == "\u{FEFF}" }).first == "{" { return .dexie }
        switch JSONParser.shape(of: bytes) {
        case .array: return .json
        case .sequence: return .jsonl
        case .object: return .json
        case .empty, .other: return nil
        }
    }
}
