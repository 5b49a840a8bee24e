import Foundation
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
/// With a journal (the sync server), a request's changes to its device's state go into the request's journal
/// record, beside its objects and branch moves, and into memory (``SyncStateRecord``); the state commit is
/// written at the journal's checkpoint, with every update since the last one, and a crash brings the updates
/// back from the journal. Without one, each request writes the state commit with its other commits.
package enum SyncStateReference {
    package static let namespace = "refs/filamentdb/sync/"

    package static func reference(for device: String) throws(HistoryError) -> String {
        namespace + (try DeviceBranch.reference(for: device)).dropFirst(DeviceBranch.namespace.count)
    }
}

/// One device's sync state as this handle knows it: its commit in the history and the updates since (a
/// class: a device that uploaded 100,000 spools has as many updates, changed in place by each request).
package final class SyncStateRecord {
    let reference: String
    /// The state commit and its tree (`nil`: none yet).
    var head: ObjectID?
    var tree: ObjectID?
    /// `state.json`, as updated.
    package var document: [UInt8]?
    /// Updates not in the commit yet, by serial or id text (`nil` values remove).
    var ids: [ExactString: [UInt8]?] = [:]
    var serials: [ExactString: String?] = [:]
    var sent: [ExactString: ObjectID] = [:]
    var updated = false
    /// When this handle last used it (``InventoryRepository/syncStateUses``).
    var used: UInt64 = 0

    init(reference: String, head: ObjectID?, tree: ObjectID?, document: [UInt8]? = nil) {
        (self.reference, self.head, self.tree, self.document) = (reference, head, tree, document)
        filterHasCommit = head == nil
    }

    /// Values read from the commit's tree (`nil`: absent there), kept: a device names the same serials and
    /// ids request after request. Dropped past ``readLimit`` entries.
    var readIDs: [ExactString: [UInt8]?] = [:]
    var readSerials: [ExactString: String?] = [:]
    var readSent: [ExactString: ObjectID?] = [:]
    static let readLimit = 1 << 20

    /// The shard folders (`spools/<a>/<b>/<c>`) under `ids`, `serials` and `sent` in the commit's tree that were
    /// looked up and found, by slot (``Key/slot``: ``StateFolder`` and ``SpoolPaths/shard(ofHash:)``); those found
    /// absent are in ``shardKnownAbsent``. Most keys a device is asked about it never sent (the spools other
    /// devices changed, in each answer); a folder known absent answers those without reading a tree, and a
    /// known one saves the four trees above it.
    var shardFolders: [Int: ObjectID] = [:]

    /// By slot: whether the commit has no such shard folder (looked up).
    var shardKnownAbsent = Bits(count: 3 * SpoolPaths.shardCount)

    /// A filter of the keys of each folder (``Key/filterBit``): a clear bit means no update has the key, and,
    /// when ``filterHasCommit``, nor has the commit. A key it rules out is answered without a probe in a
    /// dictionary of strings (``absent(_:)``): the keys of most answers are such keys (spools other devices
    /// changed), and in a dictionary of thousands of keys each probe is a cache miss; nor is such a miss kept
    /// in ``readIDs``, ``readSerials`` or ``readSent``. 12 KB per state that has keys.
    var filter = Bits(count: 3 << Key.filterBits)
    /// Whether ``filter`` has every key of the commit: a state that began in this process (no commit, or one
    /// written from such a state). One read from the history has only its shard folders to rule keys out.
    var filterHasCommit: Bool

    /// A key of one of the folders, hashed once.
    struct Key {
        let folder: StateFolder
        let string: String
        let hash: UInt64
        static let filterBits = 15
        init(_ folder: StateFolder, _ string: String) { (self.folder, self.string, self.hash) = (folder, string, SpoolPaths.shardHash(string)) }
        /// ``shardFolders``' slot.
        var slot: Int { folder.rawValue * SpoolPaths.shardCount + SpoolPaths.shard(ofHash: hash) }
        /// The key's bit in ``SyncStateRecord/filter`` (the hash's low bits; its high bits are the shard folder).
        var filterBit: Int { folder.rawValue << Self.filterBits + Int(hash & (1 << UInt64(Self.filterBits) - 1)) }
    }

    /// Bits, all clear at first, that are only ever set (no memory taken until one is).
    struct Bits {
        private let count: Int
        private var words: [UInt64] = []
        init(count: Int) { self.count = count }
        subscript(_ i: Int) -> Bool { !words.isEmpty && words[i >> 6] & (1 << UInt64(i & 63)) != 0 }
        mutating func set(_ i: Int) {
            if words.isEmpty { words = [UInt64](repeating: 0, count: (count + 63) / 64) }
            words[i >> 6] |= 1 << UInt64(i & 63)
        }
    }

    /// Whether `key` is certainly in no update and not in the commit (known without a dictionary or a tree).
    func absent(_ key: Key) -> Bool {
        !filter[key.filterBit] && (filterHasCommit || tree == nil || shardKnownAbsent[key.slot])
    }

    /// The folders of a state commit that hold one file per key.
    enum StateFolder: Int {
        case ids, serials, sent
        var name: String { ["ids", "serials", "sent"][rawValue] }
    }

    /// How many updates are not in the commit yet.
    var waiting: Int { ids.count + serials.count + sent.count }

    /// Whether the server has a record of the device.
    package var exists: Bool { head != nil || updated }

    func apply(_ update: Journal.StateUpdate) {
        if let newDocument = update.document { document = newDocument }
        for (k, v) in update.ids {
            ids[ExactString(k)] = .some(v)
            filter.set(Key(.ids, k).filterBit)
        }
        for (k, v) in update.serials {
            serials[ExactString(k)] = .some(v)
            filter.set(Key(.serials, k).filterBit)
        }
        for (k, v) in update.sent {
            sent[ExactString(k)] = v
            filter.set(Key(.sent, k).filterBit)
        }
        updated = true
    }
}

/// A sync request's device commit and merge, planned (``InventoryRepository/prepareSync``), recorded in the
/// journal (``InventoryRepository/recordSync``), built (``InventoryRepository/buildSync``), and landed with the
/// device's state (``InventoryRepository/landSync``).
package struct PreparedSync: Sendable {
    package var device: String
    /// The device's commit (`nil` when it sent nothing), once built.
    package var commit: ObjectID?
    package var merge: MergeOutcome?
    /// main's head after the request, once built.
    package var main: ObjectID?
    var moves: [(reference: String, from: ObjectID?, to: ObjectID, message: String)]
    var expected: [(reference: String, expected: ObjectID?)]
    /// The commits to build (the device's, then the merge's, when there is one), and the branches to move to them.
    var builds: [Journal.Build] = []
    var buildMoves: [(reference: String, from: ObjectID?, build: Int, message: String)] = []
    /// The device's state's update but for its `state.json` (``recordSync``), and the record's journal offset.
    var update: Journal.StateUpdate?
    var recorded: Int?
}

/// When a landed sync request's journal record is flushed (``InventoryRepository/landSync``).
package enum RecordFlush: Sendable {
    /// On the writer's thread, before `landSync` returns.
    case now
    /// On the flusher's thread, started as soon as the record is written, while the caller finishes its work; the
    /// caller waits for the returned offset before answering (a request alone: in paired runs of 2,000 delta syncs over
    /// HTTP against a fresh 20,000-spool server, p50 1.53 -> 1.41 ms, six pairs).
    case aside
    /// When the first caller waits for its offset: the records of requests in flight together share one flush.
    case grouped
}

extension InventoryRepository {
    /// How many updates a device's sync state keeps waiting for its commit at most (``landSync``).
    static let stateUpdatesWaiting = 32_768

    /// `device`'s sync state (empty for a device the server has no record of).
    package func syncState(of device: String) throws(HistoryError) -> SyncStateRecord {
        try syncState(reference: try SyncStateReference.reference(for: device))
    }

    package func syncState(reference: String) throws(HistoryError) -> SyncStateRecord {
        syncStateUses += 1
        if let known = syncStates[reference] {
            known.used = syncStateUses
            return known
        }
        let head = try head(reference)
        let tree = try tree(of: head)
        let record = SyncStateRecord(reference: reference, head: head, tree: tree)
        if let id = try objectID(atPath: "state.json", in: tree) { record.document = try git.readBlob(id) }
        record.used = syncStateUses
        syncStates[reference] = record
        return record
    }

    /// Once more than ``syncStatesKept`` sync states are in memory, forgets the least recently used quarter of
    /// them, all but `keeping`: those with updates get their commits first (through the journal, like a
    /// request's), so nothing is lost and a forgotten device's next request reads its state from the history.
    /// A server sees a new device id with each request if its clients want it to: without this, each would
    /// stay in memory until the server stops. Returns how many were forgotten.
    @discardableResult
    func forgetIdleSyncStates(keeping: String) throws(HistoryError) -> Int {
        guard syncStates.count > syncStatesKept else { return 0 }
        let idle = syncStates.values.filter { $0.reference != keeping }.sorted { $0.used < $1.used }
            .prefix(syncStates.count - syncStatesKept * 3 / 4).map(\.reference)
        try writeSyncStates(only: idle.filter { syncStates[$0]?.updated == true })
        for reference in idle { syncStates[reference] = nil }
        syncStatesForgotten += idle.count
        return idle.count
    }

    /// The id the device last sent for `serial`.
    package func syncID(of serial: String, in state: SyncStateRecord) throws(HistoryError) -> JSONValue? {
        let entry = SyncStateRecord.Key(.ids, serial)
        if state.absent(entry) { return nil }
        let key = ExactString(serial)
        var text: [UInt8]?
        if let updated = state.ids[key] {
            text = updated
        } else if let read = state.readIDs[key] {
            text = read
        } else {
            if let blob = try stateEntry(entry, in: state) { text = try git.readBlob(blob) }
            if state.readIDs.count >= SyncStateRecord.readLimit { state.readIDs.removeAll() }
            state.readIDs[key] = .some(text)
        }
        return text.flatMap { try? JSONParser.parse($0) }
    }

    /// The file of the version of `serial` the device last sent.
    package func syncSentFile(of serial: String, in state: SyncStateRecord) throws(HistoryError) -> ObjectID? {
        let entry = SyncStateRecord.Key(.sent, serial)
        if state.absent(entry) { return nil }
        let key = ExactString(serial)
        if let updated = state.sent[key] { return updated }
        if let read = state.readSent[key] { return read }
        let file = try stateEntry(entry, in: state)
        if state.readSent.count >= SyncStateRecord.readLimit { state.readSent.removeAll() }
        state.readSent[key] = .some(file)
        return file
    }

    /// The serial the device's id (its JSON text) stands for.
    package func syncSerial(ofID id: String, in state: SyncStateRecord) throws(HistoryError) -> String? {
        let entry = SyncStateRecord.Key(.serials, id)
        if state.absent(entry) { return nil }
        let key = ExactString(id)
        if let updated = state.serials[key] { return updated }
        if let read = state.readSerials[key] { return read }
        var serial: String?
        if let blob = try stateEntry(entry, in: state) {
            serial = String(validating: try git.readBlob(blob), as: UTF8.self)
        }
        if state.readSerials.count >= SyncStateRecord.readLimit { state.readSerials.removeAll() }
        state.readSerials[key] = .some(serial)
        return serial
    }

    /// The id at `key`'s folder and path (``SpoolPaths/components(for:)``) in the state's commit, through its
    /// ``SyncStateRecord/shardFolders``.
    func stateEntry(_ key: SyncStateRecord.Key, in state: SyncStateRecord) throws(HistoryError) -> ObjectID? {
        guard let tree = state.tree else { return nil }
        let (folder, slot) = (key.folder, key.slot)
        if state.shardKnownAbsent[slot] { return nil }
        // `spools/<a>/<b>/<c>`, then the name (cut in folders when long).
        let components = SpoolPaths.components(for: key.string)
        let shardFolder: ObjectID
        if let known = state.shardFolders[slot] {
            shardFolder = known
        } else {
            guard let found = try objectID(at: [folder.name] + components.prefix(4), in: tree) else {
                state.shardKnownAbsent.set(slot)
                return nil
            }
            shardFolder = found
            state.shardFolders[slot] = found
        }
        do {
            return try objectID(at: Array(components.dropFirst(4)), in: shardFolder)
        } catch {
            // Not a folder after all (a history edited by hand): the whole path, which finds nothing there.
            return try objectID(at: [folder.name] + components, in: tree)
        }
    }

    /// How many sync-state updates are in no state commit yet.
    var uncommittedStateUpdateCount: Int {
        syncStates.values.reduce(0) { $0 + ($1.updated ? $1.waiting : 0) }
    }

    /// Each updated sync state's updates since its commit, as one journal update each (in order of reference).
    func uncommittedStateUpdates() -> [Journal.StateUpdate] {
        syncStates.keys.sorted().compactMap { reference in
            guard let state = syncStates[reference], state.updated else { return nil }
            return Journal.StateUpdate(reference: reference, document: state.document,
                                       ids: state.ids.map { ($0.key.string, $0.value) },
                                       serials: state.serials.map { ($0.key.string, $0.value) },
                                       sent: state.sent.map { ($0.key.string, $0.value) })
        }
    }

    /// Writes a commit for each sync state updated since its last one, or only for those of `only` (moving their
    /// references like a request's branches: through the journal, when there is one).
    func writeSyncStates(only: [String]? = nil) throws(HistoryError) {
        var written: [(reference: String, commit: ObjectID, tree: ObjectID)] = []
        var moves: [(reference: String, from: ObjectID?, to: ObjectID)] = []
        for reference in only ?? syncStates.keys.sorted() {
            guard let state = syncStates[reference], state.updated else { continue }
            var changes: [TreeChange] = []
            if let document = state.document { changes.append((["state.json"][...], try git.writeBlob(document))) }
            func path(_ folder: String, _ key: ExactString) -> ArraySlice<String> { ([folder] + SpoolPaths.components(for: key.string))[...] }
            // In the dictionaries' order: each key is one path, and the tree does not depend on the order of its
            // changes (sorting the keys first was a fifth of the commit of a device with 32,768 updates waiting).
            for (serial, id) in state.ids {
                changes.append((path("ids", serial), try id.map { (v) throws(HistoryError) in try git.writeBlob(v, keep: false) }))
            }
            for (id, serial) in state.serials {
                changes.append((path("serials", id), try serial.map { (s) throws(HistoryError) in try git.writeBlob(Array(s.utf8), keep: false) }))
            }
            for (serial, file) in state.sent { changes.append((path("sent", serial), file)) }
            let tree = try rootTree(state.tree, changes)
            let device = DeviceBranch.device(ofReference: DeviceBranch.namespace + reference.dropFirst(SyncStateReference.namespace.count)) ?? reference
            let author = Signature(device: device, time: Int64(Date().timeIntervalSince1970))
            let commit = try git.writeCommit(tree: tree, parents: [], authorName: author.name, authorEmail: author.email, time: author.time,
                                             message: "sync state of \(JSONValue.string(device).jsonText)\n\n\(author.trailer)\n")
            written.append((reference, commit, tree))
            moves.append((reference, state.head, commit))
        }
        guard !moves.isEmpty else { return }
        try git.flushObjects(moves: moves.map { Journal.Move(reference: $0.reference, from: $0.from, to: $0.to) })
        for move in moves { try moveBranch(move.reference, to: move.to, from: move.from, message: "sync state", deferred: true) }
        for (reference, commit, tree) in written {
            guard let old = syncStates[reference] else { continue }
            let record = SyncStateRecord(reference: reference, head: commit, tree: tree, document: old.document)
            // The new commit's keys are the old one's and the updates: the filter has them all if it had the old one's.
            record.filter = old.filter
            record.filterHasCommit = old.filterHasCommit
            // What was read stays known, with the updates the commit now holds.
            record.readIDs = old.readIDs.merging(old.ids) { $1 }
            record.readSerials = old.readSerials.merging(old.serials) { $1 }
            record.readSent = old.readSent.merging(old.sent.mapValues { .some($0) }) { $1 }
            syncStates[reference] = record
        }
    }

    /// Runs one sync request's write: `body` prepares and lands it; on any failure nothing it wrote stays.
    package func syncTransaction<T>(_ body: () throws(HistoryError) -> T) throws(HistoryError) -> T {
        try git.keepingReferences { () throws(HistoryError) -> T in try writing(body) }
    }

    /// Plans the device's commit (the spools it has now, on top of `base`, a state of main it had seen, which
    /// the caller checked is one) and its merge into main: the merge decided file by file, their blobs written to
    /// memory, the commits as builds (``Journal/Build``) for ``buildSync(_:)``. `adjust` may change each merged
    /// spool before it is written. `files` are the spools' documents (``Spool/canonicalJSON``) with their ids;
    /// `spools`, the spools themselves (by serial), every one of them.
    package func prepareSync(device: String, base: ObjectID?, files: [FileChange], message: String,
                             author: Signature, adjust: ((String, Spool?) -> Spool?)?,
                             spools: [ExactString: Spool]) throws(HistoryError) -> PreparedSync {
        let reference = try deviceReference(device)
        let deviceHead = try head(reference)
        let ours = try head()
        var prepared = PreparedSync(device: device, commit: nil, merge: nil, main: ours, moves: [], expected: [(reference, deviceHead)])
        guard !files.isEmpty else { return prepared }
        let baseTree = try tree(of: base)
        // The device's commit: its files on its base. (The same changes on the same base as the branch's head, a
        // retry, build that commit, not another: ``Journal/Build/reuse``.)
        let changes = try treeChanges(files: files).map { (path: Array($0.components), blob: $0.blob) }
        prepared.builds.append(Journal.Build(base: baseTree.map { .object($0) }, changes: changes, parents: base.map { [.object($0)] } ?? [],
                                             authorName: author.name, authorEmail: author.email, time: author.time, message: message,
                                             reuse: deviceHead))
        prepared.buildMoves.append((reference, deviceHead, 0, "sync"))
        prepared.expected.append((Self.mainReference, ours))
        var changed = files.map(\.serial)
        changed.sort(by: utf8Ordered)
        let merge: Journal.Build
        var outcome = MergeOutcome(commit: nil, changed: changed, conflicts: [])
        if base == ours {
            // main has not moved since the device's base (or is empty): nothing can conflict, and the merge's
            // inventory is the device's, tree for tree (its commit changed only spools: the conflict records are main's).
            merge = Journal.Build(base: .build(0), changes: [], parents: (ours.map { [.object($0)] } ?? []) + [.build(0)],
                                  authorName: author.name, authorEmail: author.email, time: author.time,
                                  message: mergeMessage(changed: changed.count, conflicts: 0, device: device, author: author).message)
        } else {
            // The merge base is the device's base: the commit's parent, a state of main (the caller checked).
            var theirFiles: [ExactString: (file: [UInt8], id: ObjectID)] = [:]
            theirFiles.reserveCapacity(files.count)
            for f in files { if let file = f.file, let id = f.id { theirFiles[ExactString(f.serial)] = (file, id) } }
            let ourTree = try tree(of: ours)
            let merged = try mergeFiles(files.map(\.serial), baseTree: baseTree, ourTree: ourTree, baseKnown: base != nil, device: device,
                                        theirsFollowsBase: true, adjust: adjust, theirFiles: theirFiles) { (serial) throws(HistoryError) in spools[ExactString(serial)] }
            // Nothing to change in main (what the device sent is there already, as a retry would): no merge.
            guard !merged.files.isEmpty || !merged.conflicts.isEmpty else {
                prepared.merge = MergeOutcome(commit: nil, changed: [], conflicts: [])
                return prepared
            }
            // A conflict an earlier sending recorded (a retry's) is not recorded again: its id is its serial, field
            // and three values, the same decision (the record keeps its first time). (The merge's files are those
            // main does not hold already.) Nothing left: no merge, and the answer still tells the decisions.
            var mergeChanges: [TreeChange] = []
            for c in try mergeTreeChanges(merged.files, merged.conflicts, device: device, author: author) {
                if c.components.first == "conflicts", try ourTree.flatMap({ (t) throws(HistoryError) in try git.entryID(at: Array(c.components), in: t) }) != nil { continue }
                mergeChanges.append(c)
            }
            guard !mergeChanges.isEmpty else {
                prepared.merge = MergeOutcome(commit: nil, changed: [], conflicts: merged.conflicts)
                return prepared
            }
            outcome = MergeOutcome(commit: nil, changed: merged.files.map(\.serial).sorted(by: utf8Ordered), conflicts: merged.conflicts)
            outcome.files = merged.written
            merge = Journal.Build(base: ourTree.map { .object($0) }, changes: mergeChanges.map { (path: Array($0.components), blob: $0.blob) },
                                  parents: (ours.map { [.object($0)] } ?? []) + [.build(0)], authorName: author.name, authorEmail: author.email,
                                  time: author.time, message: mergeMessage(changed: outcome.changed.count, conflicts: outcome.conflicts.count,
                                                                           device: device, author: author).message)
        }
        prepared.builds.append(merge)
        prepared.buildMoves.append((Self.mainReference, ours, 1,
                                    mergeMessage(changed: outcome.changed.count, conflicts: outcome.conflicts.count, device: device, author: author).summary))
        prepared.merge = outcome
        return prepared
    }

    /// Writes a prepared request's journal record (with a journal): the blobs it wrote, its commits as builds,
    /// the branch moves to them, and the device's new ids, serials of ids and sent files (its `state.json`, which
    /// names the commit main moves to, follows with ``landSync``). The flush that makes the request durable starts
    /// here when `flush` is `.aside`, and runs while ``buildSync(_:)`` builds and hashes the trees. Without a
    /// journal, or when the request changed nothing but the device's `state.json`, nothing is written.
    package func recordSync(_ prepared: inout PreparedSync, ids: [(serial: String, id: JSONValue?)], serialsOfIDs: [(id: String, serial: String?)],
                            sent: [(serial: String, file: ObjectID)] = [], flush: RecordFlush = .now) throws(HistoryError) {
        let stateReference = try SyncStateReference.reference(for: prepared.device)
        let update = Journal.StateUpdate(reference: stateReference, document: nil, ids: ids.map { ($0.serial, $0.id?.jsonBytes) },
                                         serials: serialsOfIDs.map { ($0.id, $0.serial) }, sent: sent.map { ($0.serial, $0.file) })
        prepared.update = update
        try expectUnmoved(prepared.expected)
        // A request that changes nothing in the history (no commit, no id or sent file of the device's changed: a
        // poll, the web app's most frequent request) has only its `state.json` to keep: ``landSync``.
        guard git.journal != nil, !(prepared.builds.isEmpty && update.ids.isEmpty && update.serials.isEmpty && update.sent.isEmpty) else { return }
        prepared.recorded = try git.flushObjects(states: [update], builds: prepared.builds,
                                                 buildMoves: prepared.buildMoves.map { Journal.BuildMove(reference: $0.reference, from: $0.from, build: $0.build) },
                                                 deferringFlush: flush != .now)
        if flush == .aside { git.journal?.flusher.start() }
    }

    /// Builds a prepared request's commits (``Journal/Build``: as the journal's recovery would) to memory.
    ///
    /// Building cannot fail short of memory or a damaged object. If it does after ``recordSync`` wrote the
    /// request's record, the journal holds a request that memory does not: the journal is failed as a failed
    /// flush fails it (``JournalFlusher/fail(_:)``), so the request and every write after it are refused until
    /// the server is restarted, and the restart's recovery builds the record again (applying the request the
    /// device was told was not applied; its retry is then applied over it).
    package func buildSync(_ prepared: inout PreparedSync) throws(HistoryError) {
        var built: [(commit: ObjectID, tree: ObjectID)] = []
        do throws(HistoryError) {
            for b in prepared.builds {
                built.append(try git.build(b, after: built) { (base, changes) throws(HistoryError) in try rootTree(base, changes.map { ($0.path[...], $0.blob) }) })
            }
        } catch {
            // (``recordSync`` writes a record whenever there is something to build.)
            git.journal?.flusher.fail("a sync request's commits could not be built after its journal record was written (\(error.message))")
            throw error
        }
        for m in prepared.buildMoves where m.from != built[m.build].commit {
            prepared.moves.append((m.reference, m.from, built[m.build].commit, m.message))
        }
        if let device = built.first { prepared.commit = device.commit }
        if built.count > 1 {
            prepared.merge?.commit = built[1].commit
            prepared.main = built[1].commit
        }
    }

    /// Lands a built request with the device's new `state.json` (``recordSync`` recorded the rest of its state):
    /// in memory, and in the journal beside the record (or, without a journal, the objects as one pack and the
    /// state's commit), then the device's branch and main by compare-and-swap. Returns the journal offset whose
    /// flush makes the request durable (``RecordFlush``; `nil`: it was flushed already, or nothing needs to be: a
    /// request that changed nothing but the device's `state.json` is answered without a flush).
    @discardableResult
    package func landSync(_ prepared: PreparedSync, state: [UInt8], author: Signature) throws(HistoryError) -> Int? {
        guard var update = prepared.update else { throw HistoryError(.contention, "a sync request landed before it was recorded", path: path) }
        update.document = state
        let record = try syncState(reference: update.reference)
        guard git.journal != nil else {
            try expectUnmoved(prepared.expected)
            try git.flushObjects()
            for move in prepared.moves { try moveBranch(move.reference, to: move.to, from: move.from, message: move.message) }
            record.apply(update)
            try writeSyncStates()
            try forgetIdleSyncStates(keeping: update.reference)
            return nil
        }
        // The trees and commits the record holds as builds wait for a pack with its objects; the `state.json`
        // (the answer's cursor, the request's digest) follows in a record of its own, flushed by the next flush:
        // a crash of the machine before that loses only that bookkeeping, and the device then syncs from its answer
        // before, which sends it more, never less (as a poll's record, which is never waited for).
        git.keepBuiltObjects()
        _ = try git.flushObjects(states: [Journal.StateUpdate(reference: update.reference, document: state, ids: [], serials: [], sent: [])],
                                 deferringFlush: true)
        record.apply(update)
        // A state with many updates waiting (a device that uploaded its inventory) gets its commit now, at a
        // cost in proportion to this request, rather than all at once at the checkpoint.
        if record.waiting >= Self.stateUpdatesWaiting { try writeSyncStates(only: [update.reference]) }
        try forgetIdleSyncStates(keeping: update.reference)
        for move in prepared.moves { try moveBranch(move.reference, to: move.to, from: move.from, message: move.message, deferred: true) }
        // The request is in the journal and in memory: it is applied, whatever happens to the packs now. A pack
        // that cannot be written (a full disk) is the repository's to write later (the next publish, or the
        // journal's recovery), not a reason to tell the device that nothing was applied. (A journal that could not
        // be emptied grows until a checkpoint can be made; on a full disk the next request's record fails, with the
        // reason, before anything of that request is applied.)
        do {
            try publishIfDue()
            try checkpointIfFull()
        } catch {}
        return prepared.recorded
    }
}
