/// What a known field holds. Decides how input is checked and how text formats (CSV) parse a cell.
public enum FieldKind: String, Sendable, Codable {
    /// Text.
    case string
    /// An integer (the legacy Dexie `id`).
    case integer
    /// Any finite number (grams, millimetres, °C, g/cm³).
    case number
    /// Integer milliseconds since the Unix epoch (UTC).
    case timestamp
    case boolean
    /// An array of strings (`tags`).
    case stringArray
    /// An ISO 8601 date as text (`productionDate`).
    case isoDate
    /// `nfcTagHistory`: an array of `{timestamp, action, tagSerial, previousTagSerial?, notes?}`.
    case tagHistory
}

/// One known field of the canonical spool.
public struct FieldSpec: Sendable, Hashable {
    public let name: String
    public let kind: FieldKind
    public let group: String
}

/// The canonical spool record: the web app's `Spool` at its newest version (shared/SPOOL-SCHEMA.md).
///
/// The order of ``fields`` is the order of the canonical JSON encoding and of our CSV columns.
public enum SpoolSchema {
    public static let fields: [FieldSpec] = {
        var f: [FieldSpec] = []
        func add(_ group: String, _ kind: FieldKind, _ names: String...) {
            for n in names { f.append(FieldSpec(name: n, kind: kind, group: group)) }
        }
        add("identity", .string, "serial")
        add("identity", .integer, "id")
        add("basic", .string, "brand", "series", "type", "color", "colorHex", "finish", "ownerId", "visibility")
        add("weights", .number, "weightTotal", "weightRemaining", "weightSpool")
        add("physical", .number, "diameter", "density")
        add("temperatures", .number, "temperatureNozzleMin", "temperatureNozzleMax", "temperatureBedMin",
            "temperatureBedMax", "temperatureChamberMin", "temperatureChamberMax", "temperatureChamberIdeal",
            "temperaturePreheat")
        add("openprinttag", .stringArray, "tags")
        add("openprinttag", .string, "gtin", "countryOfOrigin")
        add("openprinttag", .number, "transmissionDistance", "shoreHardnessA", "shoreHardnessD", "spoolWidth",
            "spoolOuterDiameter", "spoolInnerDiameter", "spoolHoleDiameter")
        add("traceability", .string, "batchNumber")
        add("traceability", .isoDate, "productionDate")
        add("traceability", .string, "nfcTagSerial")
        add("traceability", .tagHistory, "nfcTagHistory")
        add("metadata", .timestamp, "lastScanned")
        add("metadata", .string, "detailUrl", "notes")
        add("sync", .timestamp, "lastUpdated", "createdAt")
        add("sync", .boolean, "deleted")
        return f
    }()

    /// The index in ``fields`` of a known field name. Every key of every record is looked up, so this is a
    /// small open-addressing table on an FNV-1a hash of the UTF-8 bytes rather than a `Dictionary`, whose
    /// seeded SipHash dominated conversion profiles.
    public static func index(of key: String) -> Int? {
        var key = key
        return key.withUTF8 { u -> Int? in
            var slot = Int(fnv1a(u) & UInt32(lookupTable.count - 1))
            while let entry = lookupTable[slot] {
                if entry.bytes.count == u.count, entry.bytes.withUnsafeBufferPointer({ e in
                    var k = 0
                    while k < u.count, e[k] == u[k] { k += 1 }
                    return k == u.count
                }) { return entry.index }
                slot = (slot + 1) & (lookupTable.count - 1)
            }
            return nil
        }
    }

    /// The spec of a known field name (``index(of:)``).
    public static func spec(_ key: String) -> FieldSpec? { index(of: key).map { fields[$0] } }

    static func fnv1a(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt32 {
        var h: UInt32 = 2_166_136_261
        for b in bytes { h = (h ^ UInt32(b)) &* 16_777_619 }
        return h
    }

    static let lookupTable: [(bytes: [UInt8], index: Int)?] = {
        var table = [(bytes: [UInt8], index: Int)?](repeating: nil, count: 256)
        for (n, f) in fields.enumerated() {
            let bytes = Array(f.name.utf8)
            var slot = Int(bytes.withUnsafeBufferPointer(fnv1a) & UInt32(table.count - 1))
            while table[slot] != nil { slot = (slot + 1) & (table.count - 1) }
            table[slot] = (bytes, n)
        }
        return table
    }()

    /// The known fields of one `nfcTagHistory` entry and their kinds.
    public static let tagHistoryFields: [(String, FieldKind)] = [
        ("timestamp", .timestamp), ("action", .string), ("tagSerial", .string),
        ("previousTagSerial", .string), ("notes", .string),
    ]

    /// The longest serial accepted on input, in bytes of UTF-8. The history stores a spool at a path that
    /// escapes a serial's bytes (at most three characters each, ``SpoolPaths``): 3,072 bytes, with the
    /// folders around it, stays well inside the 4,096 bytes of a path on Linux when the history is checked
    /// out. A renamed duplicate is cut to stay within the limit. README ("Serials") has the other formats'.
    public static let maxSerialBytes = 1024

    /// The Dexie store definition the web app uses at schema version 3.
    public static let dexieStoreSchema = "++id,serial,brand,type,color,lastScanned,lastUpdated"
    /// Dexie's version number of that schema (IndexedDB's own number is ten times it).
    public static let dexieVersion = 3
}
