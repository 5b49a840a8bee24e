import SpoolModel

/// One field that differs between two versions of a spool.
public struct FieldChange: Sendable, Hashable {
    public var serial: String
    public var field: String
    /// `nil`: the field (or the whole spool) is absent on that side.
    public var old: JSONValue?
    public var new: JSONValue?
}

/// What happened to one spool between two states.
public struct SpoolChange: Sendable {
    public enum Status: String, Sendable {
        /// It is new.
        case added
        /// Its file is gone (a replace).
        case removed
        /// It became a tombstone.
        case deleted
        /// Some of its fields changed (or it came back from a tombstone).
        case changed
    }

    public var serial: String
    public var status: Status
    public var fields: [FieldChange]

    /// The documented JSON form: `{"serial", "status", "fields": [{"field", "old"?, "new"?}]}`, an absent side
    /// left out.
    public var json: JSONValue {
        .object(["serial": .string(serial), "status": .string(status.rawValue), "fields": .array(fields.map { c in
            var o: [String: JSONValue] = ["field": .string(c.field)]
            if let old = c.old { o["old"] = old }
            if let new = c.new { o["new"] = new }
            return .object(o)
        })])
    }
}

extension InventoryRepository {
    /// Spool by spool, what changed from `a` to `b` (only changed fields unless `includingUnchanged`; a spool
    /// that appears or disappears lists each of its fields against nothing).
    package func diff(from a: ObjectID?, to b: ObjectID?, includingUnchanged: Bool = false) throws(HistoryError) -> [SpoolChange] {
        var out: [SpoolChange] = []
        let (treeA, treeB) = (try tree(of: a), try tree(of: b))
        for serial in try changedSerials(from: a, to: b).sorted(by: utf8Ordered) {
            let old = try spool(serial, inTree: treeA), new = try spool(serial, inTree: treeB)
            var keys: [String] = []
            var seen = Set<ExactString>()
            for k in (old?.orderedFields.map(\.key) ?? []) + (new?.orderedFields.map(\.key) ?? []) where seen.insert(ExactString(k)).inserted {
                keys.append(k)
            }
            var fields: [FieldChange] = []
            for k in keys {
                let o = old?[k], n = new?[k]
                if !includingUnchanged, SpoolMerge.same(o, n) { continue }
                fields.append(FieldChange(serial: serial, field: k, old: o, new: n))
            }
            let status: SpoolChange.Status
            switch (old, new) {
            case (nil, _): status = .added
            case (_, nil): status = .removed
            case (let o?, let n?): status = n.isDeleted && !o.isDeleted ? .deleted : .changed
            }
            out.append(SpoolChange(serial: serial, status: status, fields: fields))
        }
        return out
    }

    /// Every spool at `commit`.
    package func spools(at commit: ObjectID?, progress: HistoryProgress? = nil) throws(HistoryError) -> [Spool] {
        var out: [Spool] = []
        let files = try files(at: commit)
        for (serial, blob) in files {
            if out.count % 4096 == 0 { progress?(out.count, files.count) }
            out.append(try decodeSpool(blob, serial: serial.string))
        }
        progress?(files.count, files.count)
        return out.sorted { utf8Ordered($0.serial, $1.serial) }
    }

    /// Writes a new commit on main whose inventory equals the one at `commit` (or, with `serial`, whose copy of
    /// that spool does). Nothing is rewritten: the restore is a commit like any other, and can be undone the
    /// same way. `nil` when the inventory already is that. One attempt.
    package func restore(to commit: ObjectID, serial: String? = nil, label: String, progress: HistoryProgress? = nil, author: Signature) throws(HistoryError) -> ObjectID? {
        let head = try head()
        let serials: [String]
        if let serial { serials = [serial] } else { serials = try changedSerials(from: head, to: commit) }
        var changes: [(serial: String, spool: Spool?)] = []
        let (pastTree, headTree) = (try tree(of: commit), try tree(of: head))
        for (k, s) in serials.enumerated() where try spoolFile(s, inTree: pastTree) != (try spoolFile(s, inTree: headTree)) {
            if k % 4096 == 0 { progress?(k, serials.count) }
            changes.append((s, try spool(s, inTree: pastTree)))
        }
        progress?(serials.count, serials.count)
        let what = serial.map { "spool \(JSONValue.string($0).jsonText)" } ?? "main"
        let message = "restore \(what) to \(label): \(changes.count) spool\(changes.count == 1 ? "" : "s") changed\n\nFilamentdb-Restore: \(commit.hex)\n\(author.trailer)\n"
        return try self.commit(changes: changes, author: author, message: message)
    }
}
