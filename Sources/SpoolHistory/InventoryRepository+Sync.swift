import SpoolModel

/// A device's sync state, kept in the history beside its branch: a parentless commit under
/// `refs/filamentdb/sync/<device, encoded as its branch>` whose tree holds
/// - `state.json`: what the sync server remembers of the device (its cursors, its last request), a document
///   the sync layer owns;
/// - `ids/<spool path>`: the local id (Dexie's numeric key) the device last sent for each serial;
/// - `serials/<spool path of the id's text>`: the serial of each such id, for deletions that name an id;
/// - `sent/<spool path>`: the file of the version of each spool the device last sent (the blob itself, no
///   copy), so that an answer leaves out what the device already has because it sent it.
///
/// Ids are local to one browser, so they stay out of the spool files: each device gets back its own.
/// The state moves with the request's commits (one pack, then the branches, then this reference), so a
/// request that crashed halfway is answered again from the state before it, and its retry completes it.
package enum SyncStateReference {
    package static let namespace = "refs/filamentdb/sync/"

    package static func reference(for device: String) throws(HistoryError) -> String {
        namespace + (try DeviceBranch.reference(for: device)).dropFirst(DeviceBranch.namespace.count)
    }
}

/// A sync request's device commit and merge, written to memory, waiting for the device's state to land
/// with them (``InventoryRepository/landSync(_:ids:serialsOfIDs:state:author:)``).
package struct PreparedSync: Sendable {
    package var device: String
    /// The device's commit (`nil` when it sent nothing).
    package var commit: ObjectID?
    package var merge: MergeOutcome?
    /// main's head after the request.
    package var main: ObjectID?
    var moves: [(reference: String, from: ObjectID?, to: ObjectID, message: String)]
    var expected: [(reference: String, expected: ObjectID?)]
}

extension InventoryRepository {
    /// The head of `device`'s sync state, `nil` for a device the server has no record of.
    package func syncState(of device: String) throws(HistoryError) -> ObjectID? {
        try head(try SyncStateReference.reference(for: device))
    }

    /// `state.json` of a sync state commit.
    package func syncDocument(_ state: ObjectID?) throws(HistoryError) -> [UInt8]? {
        guard let id = try objectID(atPath: "state.json", in: try tree(of: state)) else { return nil }
        return try git.readBlob(id)
    }

    /// The id the device last sent for `serial`, in the state's tree.
    package func syncID(of serial: String, stateTree: ObjectID?) throws(HistoryError) -> JSONValue? {
        guard let blob = try objectID(atPath: "ids/" + SpoolPaths.path(for: serial), in: stateTree) else { return nil }
        return try? JSONParser.parse(try git.readBlob(blob))
    }

    /// The file of the version of `serial` the device last sent, in the state's tree.
    package func syncSentFile(of serial: String, stateTree: ObjectID?) throws(HistoryError) -> ObjectID? {
        try objectID(atPath: "sent/" + SpoolPaths.path(for: serial), in: stateTree)
    }

    /// The serial the device's id (its JSON text) stands for, in the state's tree.
    package func syncSerial(ofID id: String, stateTree: ObjectID?) throws(HistoryError) -> String? {
        guard let blob = try objectID(atPath: "serials/" + SpoolPaths.path(for: id), in: stateTree) else { return nil }
        return String(validating: try git.readBlob(blob), as: UTF8.self)
    }

    /// Runs one sync request's write: `body` prepares and lands it; on any failure nothing it wrote stays.
    package func syncTransaction<T>(_ body: () throws(HistoryError) -> T) throws(HistoryError) -> T {
        try writing(body)
    }

    /// Writes the device's commit (the spools it has now, on top of `base`, a state of main it had seen, which
    /// the caller checked is one) and its merge into main, to memory. `adjust` may change each merged spool before it is written.
    package func prepareSync(device: String, base: ObjectID?, changes: [(serial: String, spool: Spool)], message: String,
                             author: Signature, adjust: ((String, Spool?) -> Spool?)?) throws(HistoryError) -> PreparedSync {
        let reference = try deviceReference(device)
        let deviceHead = try head(reference)
        var prepared = PreparedSync(device: device, commit: nil, merge: nil, main: try head(), moves: [], expected: [(reference, deviceHead)])
        guard !changes.isEmpty else { return prepared }
        var commit = try writeCommit(Self.files(changes.map { ($0.serial, $0.spool) }), base: base, author: author, message: message)
        // The same changes on the same base as the branch's head (a retry): that commit, not another.
        if let deviceHead, deviceHead != commit {
            let (previous, new) = (try git.readCommit(deviceHead), try git.readCommit(commit))
            if previous.tree == new.tree && previous.parents == new.parents {
                git.unwrite(commit)
                commit = deviceHead
            }
        }
        // The merge base is the device's base: the commit's parent, a state of main (the caller checked).
        let merge = try prepareMerge(commit, device: device, author: author, changedSinceBase: changes.map(\.serial), adjust: adjust,
                                     mergeBase: .some(base))
        prepared.expected.append((merge.reference, merge.ours))
        if deviceHead != commit { prepared.moves.append((reference, deviceHead, commit, "sync")) }
        if let m = merge.outcome.commit { prepared.moves.append((merge.reference, merge.ours, m, merge.message)) }
        prepared.commit = commit
        prepared.merge = merge.outcome
        prepared.main = merge.outcome.commit ?? merge.ours
        return prepared
    }

    /// Writes the device's new sync state (`state.json`, the ids it now uses, `nil` removing one, and the
    /// serials of ids), then everything in one pack, then moves the device's branch, main and the state by
    /// compare-and-swap. Returns the state commit.
    @discardableResult
    package func landSync(_ prepared: PreparedSync, ids: [(serial: String, id: JSONValue?)], serialsOfIDs: [(id: String, serial: String?)],
                          sent: [(serial: String, file: ObjectID)] = [], state: [UInt8], author: Signature) throws(HistoryError) -> ObjectID {
        let stateReference = try SyncStateReference.reference(for: prepared.device)
        let stateHead = try head(stateReference)
        var changes: [TreeChange] = [(["state.json"][...], try git.writeBlob(state))]
        for (serial, id) in ids {
            let path = ("ids/" + SpoolPaths.path(for: serial)).split(separator: "/").map(String.init)[...]
            changes.append((path, try id.map { (v) throws(HistoryError) in try git.writeBlob(v.jsonBytes) }))
        }
        for (id, serial) in serialsOfIDs {
            let path = ("serials/" + SpoolPaths.path(for: id)).split(separator: "/").map(String.init)[...]
            changes.append((path, try serial.map { (s) throws(HistoryError) in try git.writeBlob(Array(s.utf8)) }))
        }
        for (serial, file) in sent {
            changes.append((("sent/" + SpoolPaths.path(for: serial)).split(separator: "/").map(String.init)[...], file))
        }
        let tree = try rootTree(try tree(of: stateHead), changes)
        let commit = try git.writeCommit(tree: tree, parents: [], authorName: author.name, authorEmail: author.email, time: author.time,
                                         message: "sync state of \(JSONValue.string(prepared.device).jsonText)\n\n\(author.trailer)\n")
        try expectUnmoved(prepared.expected + [(stateReference, stateHead)])
        let moves = prepared.moves + [(stateReference, stateHead, commit, "sync state")]
        // With a journal, its record of these objects and moves is the one flush that makes the request durable.
        try git.flushObjects(moves: moves.map { Journal.Move(reference: $0.reference, from: $0.from, to: $0.to) })
        for move in moves { try moveBranch(move.reference, to: move.to, from: move.from, message: move.message, deferred: true) }
        try publishIfDue()
        try checkpointIfFull()
        return commit
    }
}
