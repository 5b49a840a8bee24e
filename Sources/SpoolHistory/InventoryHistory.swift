import SpoolModel

/// One field that differs between two versions of a spool.
public struct FieldChange: Sendable, Hashable {
    public var serial: String
    public var field: String
    /// `nil`: the field (or the whole spool) is absent on that side.
    public var old: JSONValue?
    public var new: JSONValue?
}

extension InventoryRepository {
    /// A revision or a date: a date (ISO 8601) names the newest commit of `branch` made at or before it.
    public func resolve(_ revisionOrDate: String, branch: String = "main") throws(GitError) -> ObjectID {
        if let ms = Timestamps.parseISO8601(revisionOrDate) {
            let seconds = ms / 1000
            guard let commit = try log(from: try head(branch)).first(where: { $0.time <= seconds }) else {
                throw GitError(code: .notFound, message: "no commit on \(branch) at or before \(revisionOrDate)", function: "InventoryRepository.resolve")
            }
            return commit.id
        }
        return try git.resolve(revisionOrDate)
    }

    /// Field by field, what changed from `a` to `b` (only changed fields unless `includingUnchanged`; a spool
    /// that appears or disappears lists each of its fields against nothing).
    public func diff(from a: ObjectID?, to b: ObjectID?, includingUnchanged: Bool = false) throws(GitError) -> [FieldChange] {
        var out: [FieldChange] = []
        let (treeA, treeB) = (try tree(of: a), try tree(of: b))
        for serial in try changedSerials(from: a, to: b).sorted(by: utf8Ordered) {
            let old = try spool(serial, inTree: treeA), new = try spool(serial, inTree: treeB)
            var keys: [String] = []
            var seen = Set<ExactString>()
            for k in (old?.orderedFields.map(\.key) ?? []) + (new?.orderedFields.map(\.key) ?? []) where seen.insert(ExactString(k)).inserted {
                keys.append(k)
            }
            for k in keys {
                let o = old?[k], n = new?[k]
                if !includingUnchanged, SpoolMerge.same(o, n) { continue }
                out.append(FieldChange(serial: serial, field: k, old: o, new: n))
            }
        }
        return out
    }

    /// Every spool at `commit`.
    public func spools(at commit: ObjectID?) throws(GitError) -> [Spool] {
        var out: [Spool] = []
        for (_, blob) in try files(at: commit) {
            if let s = Spool(canonicalJSON: try git.readBlob(blob)) { out.append(s) }
        }
        return out.sorted { utf8Ordered($0.serial, $1.serial) }
    }

    /// Writes a new commit on `branch` whose inventory equals the one at `commit` (or, with `serial`, whose
    /// copy of that spool does). Nothing is rewritten: the restore is a commit like any other, and can be
    /// undone the same way. `nil` when the inventory already is that.
    public func restore(to commit: ObjectID, serial: String? = nil, branch: String = "main", label: String, author: Signature) throws(GitError) -> ObjectID? {
        let head = try head(branch)
        let serials: [String]
        if let serial { serials = [serial] } else { serials = try changedSerials(from: head, to: commit) }
        var changes: [String: Spool?] = [:]
        let (pastTree, headTree) = (try tree(of: commit), try tree(of: head))
        for s in serials {
            let past = try spool(s, inTree: pastTree)
            if past?.canonicalJSON != (try spool(s, inTree: headTree))?.canonicalJSON { changes[s] = .some(past) }
        }
        let what = serial.map { "spool \(JSONValue.string($0).jsonText)" } ?? "\(branch)"
        let message = "restore \(what) to \(label): \(changes.count) spool\(changes.count == 1 ? "" : "s") changed\n\nFilamentdb-Restore: \(commit.hex)\n"
        return try self.commit(branch: branch, changes: changes, author: author, message: message)
    }
}

extension InventoryRepository {
    /// The id of the object at `components` under `tree`, `nil` if absent.
    func objectID(at components: [String], in tree: ObjectID) throws(GitError) -> ObjectID? {
        var current = tree
        for name in components {
            guard let entry = try git.readTree(current).first(where: { $0.name == name }) else { return nil }
            current = entry.id
        }
        return current
    }

    /// The commits of `branch`'s first-parent line that changed `serial`'s file, newest first. Each commit is
    /// compared with its parent from the root down the spool's path, stopping at the first subtree both share,
    /// so most commits cost a few small tree reads.
    public func history(of serial: String, branch: String = "main", limit: Int = .max) throws(GitError) -> [CommitInfo] {
        let components = SpoolPaths.path(for: serial).split(separator: "/").map(String.init)
        var out: [CommitInfo] = []
        var next = try head(branch)
        while let id = next, out.count < limit {
            let commit = try git.readCommit(id)
            next = commit.parents.first
            let parentTree = try next.map { (p) throws(GitError) in try git.readCommit(p).tree }
            if try pathChanged(components[...], commit.tree, parentTree) { out.append(commit) }
        }
        return out
    }

    func pathChanged(_ components: ArraySlice<String>, _ a: ObjectID?, _ b: ObjectID?) throws(GitError) -> Bool {
        if a == b { return false }
        guard let name = components.first else { return true }
        let childA = try a.flatMap { (t) throws(GitError) in try git.readTree(t).first(where: { $0.name == name })?.id }
        let childB = try b.flatMap { (t) throws(GitError) in try git.readTree(t).first(where: { $0.name == name })?.id }
        return try pathChanged(components.dropFirst(), childA, childB)
    }
}
