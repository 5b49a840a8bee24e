import SpoolModel

/// A conflict as kept in the history (`conflicts/<id>.json`).
public struct ConflictRecord: Sendable {
    public var id: String
    public var serial: String
    public var field: String
    /// Milliseconds since the epoch, when the merge decided it.
    public var time: Int64
    public var base: JSONValue?
    public var ours: JSONValue?
    public var theirs: JSONValue?
    public var oursBranch: String
    public var theirsBranch: String
    public var winner: MergeSide
    public var reason: String
    /// The raw record.
    public var json: JSONValue

    init?(_ value: JSONValue) {
        guard case .object(let document) = value, let o = try? Typeson.decodeDocument(document) else { return nil }
        guard let id = o["id"]?.stringValue, let serial = o["serial"]?.stringValue, let field = o["field"]?.stringValue,
              let winner = o["winner"]?.stringValue.flatMap(MergeSide.init(rawValue:)) else { return nil }
        self.id = id
        self.serial = serial
        self.field = field
        self.time = o["time"]?.numberValue.map { Int64($0) } ?? 0
        base = o["base"]
        ours = o["ours"]?.objectValue?["value"]
        theirs = o["theirs"]?.objectValue?["value"]
        oursBranch = o["ours"]?.objectValue?["branch"]?.stringValue ?? "main"
        theirsBranch = o["theirs"]?.objectValue?["branch"]?.stringValue ?? "?"
        self.winner = winner
        reason = o["reason"]?.stringValue ?? ""
        json = value
    }

    /// The value the decision did not keep.
    public var other: JSONValue? { winner == .ours ? theirs : ours }
    /// The value the decision kept.
    public var kept: JSONValue? { winner == .ours ? ours : theirs }
}

/// What a conflict's field may be set to instead of the decision.
public enum Resolution: Sendable {
    /// The value the decision did not keep.
    case other
    /// The value before either side changed it.
    case base
    /// A value of the user's (`nil`: the field removed).
    case value(JSONValue?)
}

extension InventoryRepository {
    /// Every conflict recorded on main, oldest first.
    package func conflicts() throws(HistoryError) -> [ConflictRecord] {
        guard let folder = try objectID(atPath: "conflicts", in: try tree(of: try head())) else { return [] }
        var out: [ConflictRecord] = []
        for entry in try git.readTree(folder) where entry.kind == .blob {
            if let parsed = try? JSONParser.parse(try git.readBlob(entry.id)), let record = ConflictRecord(parsed) { out.append(record) }
        }
        return out.sorted { $0.time != $1.time ? $0.time < $1.time : $0.id < $1.id }
    }

    /// The shortest prefix that names a conflict.
    package static let minimumConflictPrefix = 4

    /// The conflict whose id is `id` or starts with it (at least ``minimumConflictPrefix`` characters);
    /// ``HistoryError/Code/ambiguous`` with the candidates when several do.
    package func conflict(_ id: String) throws(HistoryError) -> ConflictRecord {
        let all = try conflicts()
        if let exact = all.first(where: { $0.id == id }) { return exact }
        let matches = id.count >= Self.minimumConflictPrefix ? all.filter { $0.id.hasPrefix(id) } : []
        if matches.count > 1 {
            throw HistoryError(.ambiguous, "conflict id \(id) is the start of \(matches.count) conflicts' ids", path: path, candidates: matches.map(\.id))
        }
        guard let found = matches.first else {
            let hint = id.count < Self.minimumConflictPrefix ? " (give at least \(Self.minimumConflictPrefix) characters)" : ""
            throw HistoryError(.noSuchConflict, "no conflict \(id) on main\(hint)", path: path)
        }
        return found
    }

    /// Writes a new commit on main setting the conflict's field to `resolution` (a deletion conflict:
    /// `deleted`), with `lastUpdated` set to the signature's time so the decision travels to every device.
    /// `nil` when the spool already holds that value. One attempt.
    package func resolve(conflict id: String, with resolution: Resolution, author: Signature) throws(HistoryError) -> ObjectID? {
        let record = try conflict(id)
        let value: JSONValue?
        switch resolution {
        case .other: value = record.other
        case .base: value = record.base
        case .value(let v): value = v
        }
        guard var spool = try spool(record.serial, at: try head()) else {
            throw HistoryError(.noSuchSpool, "spool \(JSONValue.string(record.serial).jsonText) is not on main", path: path)
        }
        if SpoolMerge.same(spool[record.field], value) { return nil }
        spool[record.field] = value
        spool["lastUpdated"] = .int(max(author.time * 1000, (spool.lastUpdated ?? 0) + 1))
        let message = "resolve conflict \(record.id): \(JSONValue.string(record.serial).jsonText) \(record.field) = \(value?.jsonText ?? "(absent)")\n\nFilamentdb-Conflict: \(record.id)\n\(author.trailer)\n"
        return try commit(changes: [(record.serial, spool)], author: author, message: message)
    }
}
