import SpoolModel

extension InventoryRepository {
    /// How an import lands.
    public enum ImportMode: Sendable {
        /// Onto the device's branch (created from main's head), then merged into main field by field.
        case merge(device: String)
        /// Onto the device's branch only; `filamentdb merge` brings it into main later.
        case deviceOnly(device: String)
        /// main becomes exactly the file's inventory.
        case replace
    }

    public struct ImportOutcome: Sendable {
        public var commit: ObjectID?
        public var added = 0
        public var changed = 0
        /// Spools the import turned into tombstones.
        public var deleted = 0
        public var removed = 0
        public var merge: MergeOutcome?
    }

    /// Commits `spools` as one import. With a device branch only the file's spools are added or changed
    /// (spools it does not mention are left alone: deletions travel as tombstones); `.replace` also removes
    /// from main every spool the file does not hold.
    public func importSpools(_ spools: [Spool], mode: ImportMode, source: String, author: Signature) throws(GitError) -> ImportOutcome {
        let branch: String
        switch mode {
        case .replace: branch = "main"
        case .merge(let device), .deviceOnly(let device): branch = device
        }
        if branch != "main", try head(branch) == nil, let mainHead = try head("main") {
            try createBranch(branch, at: mainHead)
        }
        let current = try files(at: try head(branch))
        var outcome = ImportOutcome()
        var changes: [String: Spool?] = [:]
        var inFile = Set<ExactString>()
        for spool in spools {
            inFile.insert(ExactString(spool.serial))
            let blob = try git.hashBlob(spool.canonicalJSON)
            switch current[spool.serial] {
            case nil: outcome.added += 1
            case blob?: continue
            case let old?:
                let wasDeleted = Spool(canonicalJSON: try git.readBlob(old))?.isDeleted ?? false
                if spool.isDeleted && !wasDeleted { outcome.deleted += 1 } else { outcome.changed += 1 }
            }
            changes[spool.serial] = spool
        }
        if case .replace = mode {
            for serial in current.keys where !inFile.contains(ExactString(serial)) {
                changes[serial] = .some(nil)
                outcome.removed += 1
            }
        }
        let summary = "import \(source): \(outcome.added) added, \(outcome.changed) changed, \(outcome.deleted) deleted, \(outcome.removed) removed"
        let message = summary + "\n\nFilamentdb-Source: \(source)\nFilamentdb-Device: \(author.name)\nFilamentdb-Added: \(outcome.added)\nFilamentdb-Changed: \(outcome.changed)\nFilamentdb-Deleted: \(outcome.deleted)\nFilamentdb-Removed: \(outcome.removed)\n"
        outcome.commit = try commit(branch: branch, changes: changes, author: author, message: message)
        if case .merge = mode {
            outcome.merge = try merge(branch, into: "main", author: author)
        }
        return outcome
    }
}
