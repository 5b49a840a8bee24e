import SpoolModel

/// Tombstones (spools with `deleted: true`) are what carries a deletion to every device. They are kept until
/// removed on purpose: ``purgeTombstones(before:author:)`` removes the old ones in one commit of main and
/// records it as the horizon (`refs/filamentdb/horizon`). A device whose place in main's history is older
/// than the horizon may have missed a deletion that is no longer there to send, so the sync server gives it
/// the whole inventory instead (`fullResync`).
extension InventoryRepository {
    package static let horizonReference = "refs/filamentdb/horizon"

    /// The latest purge of tombstones, `nil` if there was none.
    package func tombstoneHorizon() throws(HistoryError) -> ObjectID? { try head(Self.horizonReference) }

    /// Removes from main every tombstone deleted before `cutoff` (milliseconds), as one commit, and moves the
    /// horizon there. One attempt. Returns the commit (`nil`: nothing to remove) and how many were removed.
    package func purgeTombstones(before cutoff: Int64, author: Signature) throws(HistoryError) -> (commit: ObjectID?, removed: Int) {
        let main = try head()
        var removed: [(serial: String, spool: Spool?)] = []
        for (key, blob) in try files(at: main) {
            let spool = try decodeSpool(blob, serial: key.string)
            if spool.isDeleted, (spool.lastUpdated ?? 0) < cutoff { removed.append((key.string, nil)) }
        }
        guard !removed.isEmpty else { return (nil, 0) }
        removed.sort { utf8Ordered($0.serial, $1.serial) }
        let message = "purge \(removed.count) tombstone\(removed.count == 1 ? "" : "s") deleted before \(Timestamps.formatISO8601(cutoff))\n\n\(author.trailer)\nFilamentdb-Purged: \(removed.count)\nFilamentdb-Horizon: \(cutoff)\n"
        return try writing { () throws(HistoryError) -> (commit: ObjectID?, removed: Int) in
            let tree = try rootTree(try tree(of: main), try treeChanges(removed))
            let commit = try git.writeCommit(tree: tree, parents: main.map { [$0] } ?? [], authorName: author.name,
                                             authorEmail: author.email, time: author.time, message: message)
            let horizon = try tombstoneHorizon()
            try expectUnmoved([(Self.mainReference, main), (Self.horizonReference, horizon)])
            try git.flushObjects()
            try moveBranch(Self.mainReference, to: commit, from: main, message: message)
            try moveBranch(Self.horizonReference, to: commit, from: horizon, message: "tombstone horizon")
            return (commit, removed.count)
        }
    }
}
