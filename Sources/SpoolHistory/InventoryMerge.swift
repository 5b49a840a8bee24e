import SpoolModel

extension InventoryRepository {
    /// The serials whose files differ between two commits' trees. Subtrees with the same id are skipped
    /// without being read, so the cost follows the change, not the inventory.
    public func changedSerials(from a: ObjectID?, to b: ObjectID?) throws(GitError) -> [String] {
        let ta = try a.map { (c) throws(GitError) in try git.readCommit(c).tree }
        let tb = try b.map { (c) throws(GitError) in try git.readCommit(c).tree }
        var out: [String] = []
        try diffTrees(ta, tb, prefix: "", into: &out)
        return out
    }

    func diffTrees(_ a: ObjectID?, _ b: ObjectID?, prefix: String, into out: inout [String]) throws(GitError) {
        if a == b { return }
        var left: [String: TreeEntry] = [:], right: [String: TreeEntry] = [:]
        if let a { for e in try git.readTree(a) { left[e.name] = e } }
        if let b { for e in try git.readTree(b) { right[e.name] = e } }
        for name in Set(left.keys).union(right.keys).sorted() {
            let l = left[name], r = right[name]
            if l?.id == r?.id { continue }
            let path = prefix.isEmpty ? name : prefix + "/" + name
            if l?.kind == .tree || r?.kind == .tree {
                try diffTrees(l?.kind == .tree ? l?.id : nil, r?.kind == .tree ? r?.id : nil, prefix: path, into: &out)
            }
            if l?.kind == .blob || r?.kind == .blob, let serial = SpoolPaths.serial(atPath: path) { out.append(serial) }
        }
    }

    /// Starts `branch` at `commit` (a device's branch, from the main head it last saw).
    public func createBranch(_ branch: String, at commit: ObjectID) throws(GitError) {
        try git.updateReference(Self.branchReference(branch), to: commit, expecting: nil, message: "filamentdb: branch \(branch)")
    }

    /// What a merge did.
    public struct MergeOutcome: Sendable {
        /// The merge commit, or `nil` when there was nothing to merge.
        public var commit: ObjectID?
        public var changed: [String]
        public var conflicts: [FieldConflict]
    }

    /// Merges `branch` into `into` field by field (``SpoolMerge``), from their merge base. The merge commit has
    /// both heads as parents and records every decided conflict under `conflicts/<id>.json`.
    public func merge(_ branch: String, into target: String = "main", author: Signature) throws(GitError) -> MergeOutcome {
        let reference = Self.branchReference(target)
        var lastError: GitError?
        for attempt in 0..<16 {
            if attempt > 0 { Self.backOff(attempt) }
            guard let theirs = try head(branch) else {
                throw GitError(code: .notFound, message: "no branch \(branch)", function: "InventoryRepository.merge")
            }
            let ours = try head(target)
            let base = try ours.flatMap { (o) throws(GitError) in try git.mergeBase(o, theirs) }
            if base == theirs { return MergeOutcome(commit: nil, changed: [], conflicts: []) }
            var changes: [String: Spool?] = [:]
            var conflicts: [FieldConflict] = []
            let (baseTree, ourTree, theirTree) = (try tree(of: base), try tree(of: ours), try tree(of: theirs))
            for serial in try changedSerials(from: base, to: theirs) {
                let current = try spool(serial, inTree: ourTree)
                let result = SpoolMerge.merge(base: try spool(serial, inTree: baseTree), ours: current, theirs: try spool(serial, inTree: theirTree))
                conflicts += result.conflicts
                if result.spool?.canonicalJSON != current?.canonicalJSON { changes[serial] = result.spool }
            }
            var blobs: [(components: ArraySlice<String>, blob: ObjectID?)] = []
            for (serial, spool) in changes {
                let components = SpoolPaths.path(for: serial).split(separator: "/").map(String.init)
                blobs.append((components[...], try spool.map { (s) throws(GitError) in try git.writeBlob(s.canonicalJSON) }))
            }
            for c in conflicts {
                blobs.append((["conflicts", c.id + ".json"][...], try git.writeBlob(Self.record(c, branch: branch, into: target, time: author.time))))
            }
            let tree: ObjectID
            if let updated = try updateTree(ourTree, blobs) { tree = updated } else { tree = try git.writeTree([]) }
            let summary = "merge \(branch) into \(target): \(changes.count) changed, \(conflicts.count) conflict\(conflicts.count == 1 ? "" : "s")"
            let message = summary + "\n\nFilamentdb-Merge: \(branch)\nFilamentdb-Changed: \(changes.count)\nFilamentdb-Conflicts: \(conflicts.count)\n"
            let commit = try git.writeCommit(tree: tree, parents: (ours.map { [$0] } ?? []) + [theirs], authorName: author.name,
                                             authorEmail: author.email, time: author.time, message: message)
            do {
                try git.updateReference(reference, to: commit, expecting: ours, message: "filamentdb: " + summary)
                return MergeOutcome(commit: commit, changed: changes.keys.sorted(by: utf8Ordered), conflicts: conflicts)
            } catch where error.code == .modified || error.code == .exists || error.code == .locked {
                lastError = error
                if error.code == .locked { clearStaleLock(reference) }
                continue
            }
        }
        throw Self.gaveUp(reference, lastError, in: git.path)
    }

    /// A conflict as the canonical JSON file kept in the merge commit's tree.
    static func record(_ c: FieldConflict, branch: String, into target: String, time: Int64) -> [UInt8] {
        var fields: [String: JSONValue] = [
            "id": .string(c.id), "serial": .string(c.serial), "field": .string(c.field), "time": .int(time * 1000),
            "winner": .string(c.winner.rawValue), "reason": .string(c.reason),
            "ours": .object(["branch": .string(target)].merging(c.ours.map { ["value": $0] } ?? [:]) { a, _ in a }),
            "theirs": .object(["branch": .string(branch)].merging(c.theirs.map { ["value": $0] } ?? [:]) { a, _ in a }),
        ]
        if let b = c.base { fields["base"] = b }
        if let types = Typeson.typesObject(of: .object(fields)) { fields["$types"] = types }
        return JSONValue.object(fields).jsonBytes + [0x0A]
    }
}
