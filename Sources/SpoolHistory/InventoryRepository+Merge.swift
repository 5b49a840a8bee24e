import SpoolModel

/// What a merge did.
public struct MergeOutcome: Sendable {
    /// The merge commit, or `nil` when there was nothing to merge.
    public var commit: ObjectID?
    public var changed: [String]
    public var conflicts: [FieldConflict]
    /// The file each changed serial has in the merge (`nil`: none), when the three-way merge wrote it.
    package var files: [ExactString: ObjectID?] = [:]

    public init(commit: ObjectID?, changed: [String], conflicts: [FieldConflict]) {
        (self.commit, self.changed, self.conflicts) = (commit, changed, conflicts)
    }
}

extension InventoryRepository {
    /// The serials whose files differ between two commits' trees. Subtrees with the same id are skipped
    /// without being read, so the cost follows the change, not the inventory.
    package func changedSerials(from a: ObjectID?, to b: ObjectID?) throws(HistoryError) -> [String] {
        try changedFiles(from: a, to: b).map(\.serial)
    }

    /// ``changedSerials(from:to:)`` with each serial's file at `b` (`nil`: none there), found on the way.
    package func changedFiles(from a: ObjectID?, to b: ObjectID?) throws(HistoryError) -> [(serial: String, file: ObjectID?)] {
        var out: [(serial: String, file: ObjectID?)] = []
        try diffTrees(try tree(of: a), try tree(of: b), into: &out)
        return out
    }

    func diffTrees(_ a: ObjectID?, _ b: ObjectID?, into out: inout [(serial: String, file: ObjectID?)]) throws(HistoryError) {
        guard a != b else { return }
        let left = try a.map { (t) throws(HistoryError) in try git.entry(SpoolPaths.root, in: t).map { (e) throws(HistoryError) in try shardFolder(e, root: true, ""); return e.id } } ?? nil
        let right = try b.map { (t) throws(HistoryError) in try git.entry(SpoolPaths.root, in: t).map { (e) throws(HistoryError) in try shardFolder(e, root: true, ""); return e.id } } ?? nil
        try diffSpools(left, right, depth: 0, shard: [], folders: [], into: &out)
    }

    /// The serials whose files differ under two `spools/` trees: three levels of shard folders, then the files
    /// (and the folders of long names), read only where the two sides differ.
    func diffSpools(_ a: ObjectID?, _ b: ObjectID?, depth: Int, shard: [Substring], folders: [Substring],
                    into out: inout [(serial: String, file: ObjectID?)]) throws(HistoryError) {
        if a == b { return }
        if SpoolPaths.deeperThanAnySpool(depth) { throw HistoryError.tooDeep("spools/" + (shard + folders.prefix(3)).joined(separator: "/"), path: path) }
        // Only the entries that differ, in git's order (a name that is a file on one side and a folder on the
        // other comes once for each).
        for (l, r) in try git.differingEntries(a, b) {
            guard let name = l?.name ?? r?.name else { continue }
            if depth < 3 {
                for side in [l, r].compactMap({ $0 }) { try shardFolder(side, "spools/" + shard.map { $0 + "/" }.joined()) }
            }
            if l?.kind == .tree || r?.kind == .tree {
                let lt = l?.kind == .tree ? l?.id : nil, rt = r?.kind == .tree ? r?.id : nil
                if depth < 3 {
                    try diffSpools(lt, rt, depth: depth + 1, shard: shard + [Substring(name)], folders: [], into: &out)
                } else {
                    try diffSpools(lt, rt, depth: depth + 1, shard: shard, folders: folders + [Substring(name)], into: &out)
                }
            }
            if depth >= 3, l?.kind == .blob || r?.kind == .blob,
               let serial = SpoolPaths.serial(shard: (shard[0], shard[1], shard[2]), folders: folders, name: Substring(name)) {
                out.append((serial, r?.kind == .blob ? r?.id : nil))
            }
        }
    }

    /// A merge written to memory, waiting for its branch to move.
    struct PreparedMerge {
        var reference: String
        var ours: ObjectID?
        var outcome: MergeOutcome
        var message: String

        /// Moves main to the merge commit if it still is where the merge started.
        func land(in repository: InventoryRepository) throws(HistoryError) {
            guard let commit = outcome.commit else { return }
            try repository.moveBranch(reference, to: commit, from: ours, message: message)
        }
    }

    /// Merges `theirs` (a commit of `device`'s branch) into main field by field (``SpoolMerge``) from their
    /// merge base, writing the merge commit (both heads as parents, every decided conflict under
    /// `conflicts/<id>.json`) to memory. Only the serials `theirs` changed since the base are read;
    /// `changedSinceBase` names them when `theirs` is a commit whose parent is the merge base.
    ///
    /// `adjust` may change each merged spool before it is compared with main's and written (the sync server
    /// makes a spool that goes back to its sender later than what the sender had).
    /// `mergeBase`, when the caller knows it (the sync server: the device's base, a state of main), saves
    /// walking the history for it.
    /// `theirFiles`, when the caller has them: the device's spools' files (canonical documents) and ids, as its
    /// commit holds them, used as they are where the merge keeps the device's spool.
    /// `theirsFollowsBase`: `theirs` was written on the merge base by a device that had it (a sync request), so
    /// what it changed is a change of the base whatever its times (``SpoolMerge/merge(base:ours:theirs:baseKnown:theirsFollowsBase:names:)``).
    func prepareMerge(_ theirs: ObjectID, device: String, author: Signature, changedSinceBase known: [String]? = nil,
                      adjust: ((String, Spool?) -> Spool?)? = nil, mergeBase: ObjectID?? = nil,
                      theirsFollowsBase: Bool = false,
                      theirFiles: [ExactString: (file: [UInt8], id: ObjectID)]? = nil) throws(HistoryError) -> PreparedMerge {
        let reference = Self.mainReference
        let ours = try head(reference)
        let base: ObjectID?
        if let mergeBase, ours != nil { base = mergeBase } else { base = try ours.flatMap { (o) throws(HistoryError) in try git.mergeBase(o, theirs) } }
        if base == theirs { return PreparedMerge(reference: reference, ours: ours, outcome: MergeOutcome(commit: nil, changed: [], conflicts: []), message: "") }
        var conflicts: [FieldConflict] = []
        let (baseTree, ourTree, theirTree) = (try tree(of: base), try tree(of: ours), try tree(of: theirs))
        // What the device's commit changed since its base, when the caller knows it already (it wrote it on top of
        // the merge base); else from the trees.
        func theirChanges() throws(HistoryError) -> [String] {
            if let known, try git.links(of: theirs).parents == (base.map { [$0] } ?? []) { return known }
            return try changedSerials(from: base, to: theirs)
        }
        if base == ours, let theirTree {
            // main has not moved since the device's base (or is empty): nothing can conflict, and the merge's
            // inventory is the device's, tree for tree. The conflict records main had stay.
            var tree = theirTree
            if let conflictsFolder = try objectID(atPath: "conflicts", in: ourTree), try objectID(atPath: "conflicts", in: theirTree) != conflictsFolder {
                var entries = try git.readTree(theirTree).filter { $0.name != "conflicts" }
                entries.append(TreeEntry(name: "conflicts", id: conflictsFolder, kind: .tree))
                tree = try git.writeTree(entries)
            }
            var changed = try theirChanges()
            changed.sort(by: utf8Ordered)
            return try writeMerge(tree: tree, ours: ours, theirs: theirs, changed: changed, conflicts: [], device: device, author: author)
        }
        let merged = try mergeFiles(try theirChanges(), baseTree: baseTree, ourTree: ourTree, baseKnown: base != nil, device: device,
                                    theirsFollowsBase: theirsFollowsBase, adjust: adjust, theirFiles: theirFiles) { (serial) throws(HistoryError) in
            try spool(serial, inTree: theirTree)
        }
        let (files, written) = (merged.files, merged.written)
        conflicts = merged.conflicts
        let tree = try rootTree(ourTree, try mergeTreeChanges(files, conflicts, device: device, author: author))
        // Nothing to change in main (what the device sent is there already, as a retry would): no commit.
        if tree == ourTree, ours != nil {
            return PreparedMerge(reference: reference, ours: ours, outcome: MergeOutcome(commit: nil, changed: [], conflicts: []), message: "")
        }
        var merge = try writeMerge(tree: tree, ours: ours, theirs: theirs, changed: files.map(\.serial).sorted(by: utf8Ordered),
                                   conflicts: conflicts, device: device, author: author)
        merge.outcome.files = written
        return merge
    }

    /// The files a three-way merge writes to main for `serials` (those the device changed since the base), the
    /// file each gets (`nil`: none), and the conflicts it decided, from the base's, main's and the device's
    /// versions (`theirs`). Nothing is written.
    func mergeFiles(_ serials: [String], baseTree: ObjectID?, ourTree: ObjectID?, baseKnown: Bool, device: String, theirsFollowsBase: Bool,
                    adjust: ((String, Spool?) -> Spool?)?, theirFiles: [ExactString: (file: [UInt8], id: ObjectID)]?,
                    theirs: (String) throws(HistoryError) -> Spool?) throws(HistoryError)
        -> (files: [FileChange], written: [ExactString: ObjectID?], conflicts: [FieldConflict]) {
        var files: [FileChange] = []
        var written: [ExactString: ObjectID?] = [:]
        var conflicts: [FieldConflict] = []
        for serial in serials {
            // main's file, read once when the base has the same one (main did not change the spool since).
            let ourFile = try spoolFile(serial, inTree: ourTree)
            let baseFile = baseTree == ourTree ? ourFile : try spoolFile(serial, inTree: baseTree)
            let current = try ourFile.map { (f) throws(HistoryError) in try decodeSpool(f, serial: serial) }
            let baseSpool = baseFile == ourFile ? current : try baseFile.map { (f) throws(HistoryError) in try decodeSpool(f, serial: serial) }
            let theirSpool = try theirs(serial)
            // Histories with no common commit (a file whose base is not known) have no base to compare with.
            let names = SpoolMerge.Names(ours: "main", theirs: JSONValue.string(device).jsonText)
            let result: SpoolMergeResult
            if baseFile == ourFile, let current {
                // main did not change the spool since the base (the same file).
                result = SpoolMerge.merge(unchanged: current, theirs: theirSpool, baseKnown: baseKnown, theirsFollowsBase: theirsFollowsBase, names: names)
            } else {
                result = SpoolMerge.merge(base: baseSpool, ours: current, theirs: theirSpool, baseKnown: baseKnown,
                                          theirsFollowsBase: theirsFollowsBase, names: names)
            }
            conflicts += result.conflicts
            let merged = adjust.map { $0(serial, result.spool) } ?? result.spool
            // Written when it is not main's spool, nor its file (main's files are canonical documents, compared by id).
            guard merged != current else { continue }
            // The device's spool as it is (the most frequent outcome): its file as the caller encoded it.
            let bytes: [UInt8]?, id: ObjectID?
            if let merged, let known = theirFiles?[ExactString(serial)], merged == theirSpool {
                (bytes, id) = (known.file, known.id)
            } else {
                bytes = merged?.canonicalJSON
                id = bytes.map(GitRepository.blobID)
            }
            if id != ourFile {
                files.append((serial, bytes, id))
                written[ExactString(serial)] = .some(id)
            }
        }
        return (files, written, conflicts)
    }

    /// The tree changes of a merge's files and of its conflicts' records (`conflicts/<id>.json`), their blobs written.
    func mergeTreeChanges(_ files: [FileChange], _ conflicts: [FieldConflict], device: String, author: Signature) throws(HistoryError) -> [TreeChange] {
        var blobs = try treeChanges(files: files)
        for c in conflicts {
            blobs.append((["conflicts", c.id + ".json"][...], try git.writeBlob(Self.record(c, device: device, time: author.time))))
        }
        return blobs
    }

    /// A merge commit's message: its summary line (the reflog's), then the trailers.
    func mergeMessage(changed: Int, conflicts: Int, device: String, author: Signature) -> (summary: String, message: String) {
        let summary = "merge \(JSONValue.string(device).jsonText) into main: \(changed) changed, \(conflicts) conflict\(conflicts == 1 ? "" : "s")"
        let message = summary + "\n\nFilamentdb-Merge: \(JSONValue.string(device).jsonText)\n\(author.trailer)\nFilamentdb-Changed: \(changed)\nFilamentdb-Conflicts: \(conflicts)\n"
        return (summary, message)
    }

    /// The merge commit of `theirs` into main (`ours`), to memory.
    func writeMerge(tree: ObjectID, ours: ObjectID?, theirs: ObjectID, changed: [String], conflicts: [FieldConflict], device: String, author: Signature) throws(HistoryError) -> PreparedMerge {
        let (summary, message) = mergeMessage(changed: changed.count, conflicts: conflicts.count, device: device, author: author)
        let commit = try git.writeCommit(tree: tree, parents: (ours.map { [$0] } ?? []) + [theirs], authorName: author.name,
                                         authorEmail: author.email, time: author.time, message: message)
        return PreparedMerge(reference: Self.mainReference, ours: ours, outcome: MergeOutcome(commit: commit, changed: changed, conflicts: conflicts),
                             message: summary)
    }

    /// Merges `device`'s branch into main. One attempt.
    package func merge(device: String, author: Signature) throws(HistoryError) -> MergeOutcome {
        let reference = try deviceReference(device)
        guard let theirs = try head(reference) else {
            throw HistoryError(.noSuchBranch, "no branch for device \(JSONValue.string(device).jsonText)", path: path)
        }
        return try writing { () throws(HistoryError) -> MergeOutcome in
            let merge = try prepareMerge(theirs, device: device, author: author)
            try expectUnmoved([(merge.reference, merge.ours)])
            try git.flushObjects()
            try merge.land(in: self)
            return merge.outcome
        }
    }

    /// A conflict as the canonical JSON file kept in the merge commit's tree.
    static func record(_ c: FieldConflict, device: String, time: Int64) -> [UInt8] {
        var fields: [String: JSONValue] = [
            "id": .string(c.id), "serial": .string(c.serial), "field": .string(c.field), "time": .int(time * 1000),
            "winner": .string(c.winner.rawValue), "reason": .string(c.reason),
            "ours": .object(["branch": .string("main")].merging(c.ours.map { ["value": $0] } ?? [:]) { a, _ in a }),
            "theirs": .object(["branch": .string(device)].merging(c.theirs.map { ["value": $0] } ?? [:]) { a, _ in a }),
        ]
        if let b = c.base { fields["base"] = b }
        if let types = Typeson.typesObject(of: .object(fields)) { fields["$types"] = types }
        return JSONValue.object(fields).jsonBytes + [0x0A]
    }
}
