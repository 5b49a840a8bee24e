/// What is wrong with one field of one record.
public struct FieldProblem: Error, Sendable, Hashable, Codable {
    /// The field, as a path (`weightRemaining`, `nfcTagHistory[0].timestamp`, `$types`).
    public var field: String
    public var message: String

    public init(field: String, message: String) {
        self.field = field
        self.message = message
    }
}

/// Where a record was in its input: its 1-based position among the records, and, when the format has
/// them, the line it starts on and the archive entry it came from.
public struct RecordLocation: Sendable, Hashable, Codable {
    public var row: Int
    public var line: Int?
    public var entry: String?

    public init(row: Int, line: Int? = nil, entry: String? = nil) {
        self.row = row
        self.line = line
        self.entry = entry
    }

    public var description: String {
        var parts: [String] = []
        if let entry { parts.append("entry \(entry)") }
        if let line { parts.append("line \(line)") }
        parts.append("row \(row)")
        return parts.joined(separator: ", ")
    }
}

/// A record that was not converted, and every reason why.
public struct Rejection: Error, Sendable, Hashable, Codable {
    public var location: RecordLocation
    public var serial: String?
    public var problems: [FieldProblem]

    /// One line per problem: `row 3, line 45: serial "ABC-1": field "weightRemaining": expected a number, found a string`.
    public func lines(file: String) -> [String] {
        problems.map { p in
            "\(file): \(location.description): \(serialPhrase(serial)): field \"\(p.field)\": \(p.message)"
        }
    }
}

/// A record that kept its data but got a new serial (duplicate or empty serial).
public struct Rename: Sendable, Hashable, Codable {
    public var location: RecordLocation
    public var id: Int64?
    public var serial: String
    public var newSerial: String
    public var reason: String
}

/// Something changed that the user should know of, short of a rejection.
public struct ImportWarning: Sendable, Hashable, Codable {
    public var location: RecordLocation
    public var serial: String
    public var field: String
    public var message: String
}

func serialPhrase(_ serial: String?) -> String {
    guard let serial else { return "no serial" }
    if serial.utf8.count > SpoolSchema.maxSerialBytes {
        // Too long to be a serial: its start is enough to find it.
        return "serial \(JSONValue.string(String(String.UnicodeScalarView(serial.unicodeScalars.prefix(60)))).jsonText)… (cut)"
    }
    return serial.isEmpty ? "empty serial" : "serial \(JSONValue.string(serial).jsonText)"
}

/// The counted migration rules (shared/SPOOL-SCHEMA.md, "Dexie database history"), by the names the report uses.
public enum MigrationRule: String, Sendable, Codable, CaseIterable {
    case lastUpdatedFromLastScanned = "lastUpdated-from-lastScanned"
    case lastUpdatedFromCreatedAt = "lastUpdated-from-createdAt"
    case lastUpdatedFromImportTime = "lastUpdated-from-import-time"
    case timestampFromISOString = "timestamp-from-iso-string"
    case timestampFromTypesonDate = "timestamp-from-typeson-date"
    case timestampRounded = "timestamp-rounded-to-ms"
    case productionDateFromTypesonDate = "productionDate-from-typeson-date"
    case deletedFromNumber = "deleted-from-0-or-1"
    case tagsFromSet = "tags-from-set"
    case nullFieldRemoved = "null-known-field-removed"
    case softDeleteToTombstone = "soft-delete-to-tombstone"
}

/// What reading and normalising an input did: the conversion report, less the writing side.
public struct ImportOutcome: Sendable, Codable {
    public var read = 0
    public var accepted = 0
    public var live = 0
    public var tombstones = 0
    /// Applications of each migration rule, by ``MigrationRule`` name.
    public var migrated: [String: Int] = [:]
    public var renamed: [Rename] = []
    public var rejected: [Rejection] = []
    public var warnings: [ImportWarning] = []
    /// The first place, in input order, where the input itself is broken (a record that is not valid JSON
    /// where records were located without parsing them): no conversion goes past it.
    public var brokenInput: JSONSyntaxError?

    public init() {}

    mutating func count(_ rule: MigrationRule, _ n: Int = 1) {
        migrated[rule.rawValue, default: 0] += n
    }
}
