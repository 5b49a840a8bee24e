import Dispatch
import Foundation
import SpoolModel

/// The inventory's history: a git repository with one canonical JSON file per spool under `spools/`
/// (``SpoolPaths``), one commit per import, edit or sync, each device on its own branch (``DeviceBranch``).
///
/// This is the engine behind ``InventoryStore``: one attempt at each operation, on one libgit2 handle, used by
/// one caller at a time. A commit rewrites only the trees on the paths of the spools that changed; every other
/// subtree is reused by id, so its cost follows the size of the change, not of the inventory. Each write
/// operation writes its objects to memory, then to disk as one pack, then moves its branches by
/// compare-and-swap (``moveBranch(_:to:from:message:)``): a crash leaves the branch at the old commit or the new
/// one, and a writer that lost the race throws a retryable ``HistoryError/Code/contention`` for the store to try
/// again on the new head.
package final class InventoryRepository {
    package let git: GitRepository

    package init(_ git: GitRepository) { self.git = git }

    /// Branch moves a journal holds that are not on disk yet: each branch's value on disk and its new one
    /// (``moveBranch(_:to:from:message:deferred:)``, ``publish()``).
    private var unpublishedMoves: [String: (from: ObjectID?, to: ObjectID)] = [:]
    private var lastPublished = DispatchTime.now().uptimeNanoseconds

    /// The sync states of the devices this handle has served, with the updates not yet in their commits
    /// (``syncState(of:)``, ``writeSyncStates()``): up to ``syncStatesKept``, then the least recently used are
    /// written and forgotten (``forgetIdleSyncStates(keeping:)``).
    var syncStates: [String: SyncStateRecord] = [:]
    /// How many sync states stay in memory at most (one per device id a server has seen since it started, at
    /// up to 12 KB of filter each plus the updates waiting for their commit, and requests choose the device id).
    package var syncStatesKept = 4_096
    /// Counts uses of sync states, for ``SyncStateRecord/used``.
    var syncStateUses: UInt64 = 0
    /// How many sync states are in memory, and how many were forgotten since the handle opened.
    package var syncStatesInMemory: Int { syncStates.count }
    package internal(set) var syncStatesForgotten = 0

    /// The states of main this handle has seen, with the order it saw them in (``precedesOnMain(_:_:)``).
    private var mainStates: [ObjectID: Int] = [:]
    private var mainSequence = 0

    package var path: String { git.path }

    /// Opens the history in `folder`; with `create`, creates it (and the folder) on first use. A folder that
    /// exists, is not empty and is not a repository is refused: filamentdb does not put its history among other
    /// files; nor does it write into someone else's repository.
    package static func open(_ folder: String, create: Bool) throws(HistoryError) -> (repository: InventoryRepository, created: Bool) {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), !isDirectory.boolValue {
            throw HistoryError(.folderNotEmpty, "is a file, not a history repository", path: folder)
        }
        do {
            let repository = InventoryRepository(try GitRepository.open(folder))
            try repository.verifyLayout()
            return (repository, false)
        } catch where error.code == .noHistory {
            let contents = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
            if !contents.isEmpty {
                throw HistoryError(.folderNotEmpty, "is not empty and is not a filamentdb history; choose an empty or new folder", path: folder)
            }
            guard create else { throw HistoryError(.noHistory, "holds no history yet; 'import' a file to start one", path: folder) }
            // Made beside its place and renamed into it, so a process stopped halfway leaves no half a repository.
            let parent = URL(fileURLWithPath: folder).deletingLastPathComponent().path
            do {
                try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
            } catch {
                throw HistoryError(.io, "cannot create the folder: \((error as NSError).localizedDescription)", path: parent)
            }
            let temporary = folder + ".creating-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            do {
                _ = try GitRepository.create(temporary)
            } catch {
                try? FileManager.default.removeItem(atPath: temporary)
                // Named as the history it was to be, not the temporary folder that is gone.
                throw HistoryError(error.code, "cannot create the history: \(error.message)", path: folder)
            }
            if rename(temporary, folder) != 0 {
                let reason = String(cString: strerror(errno))
                try? FileManager.default.removeItem(atPath: temporary)
                // Another process made it first: use theirs.
                if let existing = try? GitRepository.open(folder) { return (InventoryRepository(existing), false) }
                throw HistoryError(.io, "cannot move the new history into place: \(reason)", path: folder)
            }
            return (InventoryRepository(try GitRepository.open(folder)), true)
        }
    }

    package static let mainReference = "refs/heads/main"

    /// What may stand at the root of our trees.
    package static let rootEntries: Set<String> = [SpoolPaths.root, "conflicts"]

    /// Refuses a git repository that is not filamentdb's: other files at the root of `main`, or no `main` while
    /// other branches exist.
    func verifyLayout() throws(HistoryError) {
        // main, or before main's first commit (a history with `--no-merge` imports only) the other branches.
        let heads: [(String, ObjectID)]
        if let main = try head() {
            heads = [("main", main)]
        } else {
            var others: [(String, ObjectID)] = []
            for r in try git.references(under: "refs/heads/").prefix(3) { if let h = try head(r) { others.append((r, h)) } }
            heads = others
        }
        for (name, head) in heads {
            let foreign = try git.readTree(try git.readCommit(head).tree).map(\.name).filter { !Self.rootEntries.contains($0) }
            if !foreign.isEmpty {
                throw HistoryError(.foreignRepository, "is a git repository that is not filamentdb's history (its \(name == "main" ? "main" : name) branch holds \(foreign.prefix(3).joined(separator: ", ")))", path: path)
            }
        }
    }

    /// The head commit of a reference (default main), `nil` before its first commit: a move not published
    /// yet (``publish()``) first.
    package func head(_ reference: String = mainReference) throws(HistoryError) -> ObjectID? {
        let id: ObjectID?
        if let move = unpublishedMoves[reference] { id = move.to } else { id = try git.keptReference(reference) }
        if reference == Self.mainReference { noteMainState(id) }
        return id
    }

    /// Whether `earlier` is an ancestor of (or is) `later`, from the states of main this handle has seen (main
    /// only moves forward, so a state seen earlier is an ancestor of every later one); `nil` when either was
    /// not seen, for the caller to ask the commit graph.
    package func precedesOnMain(_ earlier: ObjectID, _ later: ObjectID) -> Bool? {
        guard let a = mainStates[earlier], let b = mainStates[later] else { return nil }
        return a <= b
    }

    /// Remembers a state of main, in the order seen (forgetting all past a million: the graph answers then).
    func noteMainState(_ id: ObjectID?) {
        guard let id, mainStates[id] == nil else { return }
        if mainStates.count >= 1_000_000 { mainStates.removeAll() }
        mainSequence += 1
        mainStates[id] = mainSequence
    }

    /// The reference of `device`'s branch. A branch from before device branches had their own namespace
    /// (`refs/heads/<device>`) is moved there the first time the device is named again.
    package func deviceReference(_ device: String) throws(HistoryError) -> String {
        let reference = try DeviceBranch.reference(for: device)
        // A device without a branch (one that only polls: most of the web app's) was looked for under its old name
        // at each request, two more file system lookups each time; once is enough for this handle (only a version
        // from before the namespace made such branches).
        if !noLegacyBranch.contains(reference), try head(reference) == nil, let legacy = DeviceBranch.legacyReference(for: device), let old = try? head(legacy) {
            do {
                try git.updateReference(reference, to: old, expecting: nil, message: "filamentdb: device branch \(device) moved to \(reference)")
            } catch where error.retryable {}
            try? git.deleteReference(legacy, expecting: old)
        } else if noLegacyBranch.count < 100_000 {
            noLegacyBranch.insert(reference)
        }
        return reference
    }

    /// Device branches whose old name (``DeviceBranch/legacyReference(for:)``) ``deviceReference(_:)`` found unused.
    private var noLegacyBranch = Set<String>()

    /// The root tree of `commit` (`nil` for no commit).
    package func tree(of commit: ObjectID?) throws(HistoryError) -> ObjectID? {
        guard let commit else { return nil }
        return try git.links(of: commit).tree
    }

    /// Every spool file at `commit` (`nil`: the empty inventory), by serial (compared by bytes).
    package func files(at commit: ObjectID?) throws(HistoryError) -> [ExactString: ObjectID] {
        guard let commit else { return [:] }
        var out: [ExactString: ObjectID] = [:]
        guard let spools = try git.entry(SpoolPaths.root, in: try git.readCommit(commit).tree) else { return out }
        try shardFolder(spools, root: true, "")
        for a in try git.readTree(spools.id) where try shardFolder(a, "spools/") {
            for b in try git.readTree(a.id) where try shardFolder(b, "spools/" + a.name + "/") {
                for c in try git.readTree(b.id) where try shardFolder(c, "spools/" + a.name + "/" + b.name + "/") {
                    try collect(tree: c.id, shard: (Substring(a.name), Substring(b.name), Substring(c.name)), folders: [], into: &out)
                }
            }
        }
        return out
    }

    /// Whether `entry` (in the folder `at`; with `root`, in the root tree) is one of the folders spools live in:
    /// `spools`, then three levels of one hexadecimal digit. One of those names that is not a folder (a file, a submodule) is damage: the spools
    /// it held would otherwise be left out without a word. Other names are not spool paths (`verify` lists them).
    /// `at` is only read to name the damage (worked out then, not for each of the thousands of folders).
    @discardableResult
    func shardFolder(_ entry: TreeEntry, root: Bool = false, _ at: @autoclosure () -> String) throws(HistoryError) -> Bool {
        let name = entry.name.utf8
        let named = root ? entry.name == SpoolPaths.root : name.count == 1 && name.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
        guard named else { return false }
        guard entry.kind == .tree else { throw HistoryError.notAFolder(at() + entry.name, path: path) }
        return true
    }

    private func collect(tree: ObjectID, shard: (Substring, Substring, Substring), folders: [Substring], into out: inout [ExactString: ObjectID]) throws(HistoryError) {
        guard !SpoolPaths.deeperThanAnySpool(3 + folders.count) else {
            throw HistoryError.tooDeep("spools/\(shard.0)/\(shard.1)/\(shard.2)/" + folders.prefix(3).joined(separator: "/"), path: path)
        }
        for entry in try git.readTree(tree) {
            switch entry.kind {
            case .tree: try collect(tree: entry.id, shard: shard, folders: folders + [Substring(entry.name)], into: &out)
            case .blob:
                if let serial = SpoolPaths.serial(shard: shard, folders: folders, name: Substring(entry.name)) { out[ExactString(serial)] = entry.id }
            }
        }
    }

    /// The id of the object at `path` (`a/b/c`) under a root tree, `nil` if absent: one lookup per folder.
    package func objectID(atPath path: String, in tree: ObjectID?) throws(HistoryError) -> ObjectID? {
        try objectID(at: path.split(separator: "/").map(String.init), in: tree)
    }

    /// The id of the object at the path of folders and name `components` under a root tree.
    package func objectID(at components: [String], in tree: ObjectID?) throws(HistoryError) -> ObjectID? {
        guard let tree else { return nil }
        guard !components.isEmpty else { return tree }
        return try git.entryID(at: components, in: tree)
    }

    /// One spool's file id in a root tree.
    package func spoolFile(_ serial: String, inTree tree: ObjectID?) throws(HistoryError) -> ObjectID? {
        // `spools` and its three levels of shard folders are folders (a file there is damage, not "no such spool").
        guard let tree else { return nil }
        return try git.entryID(at: SpoolPaths.components(for: serial), in: tree, foldersRequired: 4)
    }

    /// One spool at `commit`, read by its path alone.
    package func spool(_ serial: String, at commit: ObjectID?) throws(HistoryError) -> Spool? {
        try spool(serial, inTree: tree(of: commit))
    }

    /// One spool in a root tree (callers reading many spools of one commit resolve its tree once).
    package func spool(_ serial: String, inTree tree: ObjectID?) throws(HistoryError) -> Spool? {
        guard let blob = try spoolFile(serial, inTree: tree) else { return nil }
        return try decodeSpool(blob, serial: serial)
    }

    package func decodeSpool(_ blob: ObjectID, serial: String) throws(HistoryError) -> Spool {
        guard let spool = Spool(canonicalJSON: try git.readBlob(blob)) else {
            throw HistoryError(.damagedObject, "the file of spool \(JSONValue.string(serial).jsonText) (\(blob.hex)) does not parse as a spool", path: path)
        }
        // Another spool's file at this one's path (a history edited by hand) is damage, not that other spool shown,
        // exported or merged under this serial.
        guard spool.serial.utf8.elementsEqual(serial.utf8) else {
            throw HistoryError(.damagedObject, "the file at the path of spool \(JSONValue.string(serial).jsonText) (\(blob.hex)) holds spool \(JSONValue.string(spool.serial).jsonText)", path: path)
        }
        return spool
    }

    // MARK: writing

    /// A file to write into a tree: its path's folders and name, and its blob (`nil` removes it).
    package typealias TreeChange = (components: ArraySlice<String>, blob: ObjectID?)

    /// A file to write at a serial's path: its canonical document (``Spool/canonicalJSON``), or `nil` to remove
    /// it; with its id when already known.
    package typealias FileChange = (serial: String, file: [UInt8]?, id: ObjectID?)

    /// `changes` as the files they write, encoded on every core.
    static func files(_ changes: [(serial: String, spool: Spool?)]) -> [FileChange] {
        Parallel.map(changes.count) { range in range.map { i in (changes[i].serial, changes[i].spool?.canonicalJSON, nil) } }.flatMap { $0 }
    }

    /// The tree changes that write `changes` (a spool, or `nil` to remove the serial's file).
    func treeChanges(_ changes: [(serial: String, spool: Spool?)]) throws(HistoryError) -> [TreeChange] {
        try treeChanges(files: Self.files(changes))
    }

    /// The tree changes that write `files` (a document, or `nil` to remove the serial's file).
    func treeChanges(files changes: [FileChange]) throws(HistoryError) -> [TreeChange] {
        // The files' paths, and the ids not known yet, on every core; then the blobs written to memory in order.
        let prepared = Parallel.map(changes.count) { range in
            range.map { i -> (components: ArraySlice<String>, id: ObjectID?) in
                let change = changes[i]
                let id = change.id ?? change.file.map(GitRepository.blobID)
                return (SpoolPaths.components(for: change.serial)[...], id)
            }
        }.flatMap { $0 }
        var written: [[UInt8]] = [], ids: [ObjectID] = []
        written.reserveCapacity(changes.count)
        ids.reserveCapacity(changes.count)
        for (change, p) in zip(changes, prepared) {
            if let file = change.file, let id = p.id {
                written.append(file)
                ids.append(id)
            }
        }
        try git.writeBlobs(written, ids: ids)
        return prepared.map { ($0.components, $0.id) }
    }

    /// The tree `tree` with `changes` applied, rewriting only the subtrees on their paths; `nil` if empty.
    func updateTree(_ tree: ObjectID?, _ changes: [TreeChange]) throws(HistoryError) -> ObjectID? {
        try updateTree(tree, changes, Array(changes.indices), depth: 0)
    }

    /// ``updateTree(_:_:)`` for the changes at `indices`, whose paths go on below `depth` folders (the changes
    /// are passed down by index, not copied at every level): each folder on their paths written afresh from its
    /// old bytes and the names that change (``GitRepository/editTree(_:_:)``).
    private func updateTree(_ tree: ObjectID?, _ changes: [TreeChange], _ indices: [Int], depth: Int) throws(HistoryError) -> ObjectID? {
        var edits: [GitRepository.TreeEdit] = []
        var byChild: [String: [Int]] = [:]
        var childOrder: [String] = []
        for i in indices {
            let components = changes[i].components
            let name = components[components.startIndex + depth]
            if components.count == depth + 1 {
                edits.append(GitRepository.TreeEdit(name: Array(name.utf8), kind: .blob, id: changes[i].blob))
            } else {
                if byChild[name] == nil { childOrder.append(name) }
                byChild[name, default: []].append(i)
            }
        }
        for name in childOrder {
            let existing = try tree.flatMap { (t) throws(HistoryError) in try git.entry(name, in: t) }.flatMap { $0.kind == .tree ? $0.id : nil }
            edits.append(GitRepository.TreeEdit(name: Array(name.utf8), kind: .tree,
                                                 id: try updateTree(existing, changes, byChild[name]!, depth: depth + 1)))
        }
        return try git.editTree(tree, edits)
    }

    func rootTree(_ tree: ObjectID?, _ changes: [TreeChange]) throws(HistoryError) -> ObjectID {
        if let updated = try updateTree(tree, changes) { return updated }
        return try git.writeTree([])
    }

    /// Runs one write operation: on any failure the objects it wrote are forgotten, so nothing of it reaches
    /// the disk.
    func writing<T>(_ body: () throws(HistoryError) -> T) throws(HistoryError) -> T {
        do {
            return try body()
        } catch {
            git.discardObjects()
            throw error
        }
    }

    /// Commits `changes` (a spool to write, or `nil` to remove the serial's file) onto `reference`, on top of its
    /// head. Returns the new commit, or `nil` when nothing would change (no empty commits). One attempt: losing
    /// the race to another writer throws a retryable error.
    package func commit(_ reference: String = mainReference, changes: [(serial: String, spool: Spool?)], author: Signature, message: String) throws(HistoryError) -> ObjectID? {
        try commit(reference, files: Self.files(changes), author: author, message: message)
    }

    /// ``commit(_:changes:author:message:)`` for files already encoded.
    package func commit(_ reference: String = mainReference, files changes: [FileChange], author: Signature, message: String) throws(HistoryError) -> ObjectID? {
        try writing { () throws(HistoryError) -> ObjectID? in
            let parent = try head(reference)
            let parentTree = try tree(of: parent)
            let tree = try rootTree(parentTree, try treeChanges(files: changes))
            if tree == parentTree {
                git.discardObjects()
                return nil
            }
            let commit = try git.writeCommit(tree: tree, parents: parent.map { [$0] } ?? [], authorName: author.name,
                                             authorEmail: author.email, time: author.time, message: message)
            try expectUnmoved([(reference, parent)])
            try git.flushObjects()
            try moveBranch(reference, to: commit, from: parent, message: message)
            return commit
        }
    }

    /// The one compare-and-swap that moves a branch: `reference` goes to `commit` only if it still points to
    /// `expected`. A lock left by a writer that died (older than ``staleLockAge``) is removed on the way.
    package func moveBranch(_ reference: String, to commit: ObjectID, from expected: ObjectID?, message: String,
                            deferred: Bool = false) throws(HistoryError) {
        if deferred, git.journal != nil {
            // The journal's record holds the move: the branch file is written by the next publish.
            guard try head(reference) == expected else {
                var error = HistoryError(.contention, "\(reference) moved", path: path)
                error.retryable = true
                throw error
            }
            unpublishedMoves[reference] = (unpublishedMoves[reference]?.from ?? expected, commit)
            if reference == Self.mainReference { noteMainState(commit) }
            return
        }
        if unpublishedMoves[reference] != nil { try publish() }
        do {
            try git.updateReference(reference, to: commit, expecting: expected, message: "filamentdb: " + (message.split(separator: "\n").first.map(String.init) ?? ""))
            if reference == Self.mainReference { noteMainState(commit) }
        } catch where error.retryable {
            clearStaleLock(reference)
            throw error
        }
    }

    // MARK: publishing what a journal holds

    /// How long journaled writes wait at most, under a steady stream of writes, before their packs and branch
    /// moves are written (other processes see them then; the journal made them durable already). A writer that
    /// falls idle publishes sooner (``publishWhenIdle``). Each publish writes a pack, later combined with
    /// others: publishing less often under load writes fewer, larger packs.
    package static let publishInterval: UInt64 = 250_000_000
    /// How long a writer with nothing more to write waits before publishing.
    package static let publishWhenIdle: UInt64 = 20_000_000
    /// How much may wait in memory at most.
    package static let publishBytes = 8 << 20
    /// A write that adds this much (a batch of an upload) is published at once, while the next request is read:
    /// left for the timer, its pack was written in the middle of the smaller requests that followed, and held
    /// them up (the pack's checksums on the other core, its pages on the disk).
    package static let publishLargeWrite = 1 << 20

    /// Whether journaled writes are waiting to be published.
    package var hasUnpublished: Bool { !unpublishedMoves.isEmpty || git.unpublishedSize.objects > 0 }

    /// Lands a pack written in the background once it is written; starts writing the next if the oldest
    /// waiting write waited ``publishInterval``, memory holds ``publishBytes``, or the last write added
    /// ``publishLargeWrite`` (``publishInBackground()``).
    package func publishIfDue() throws(HistoryError) {
        try landPublished(wait: false)
        guard hasUnpublished else { return lastPublished = DispatchTime.now().uptimeNanoseconds }
        let large = git.lastFlushBytes >= Self.publishLargeWrite
        if large || DispatchTime.now().uptimeNanoseconds - lastPublished >= Self.publishInterval || git.unpublishedSize.bytes >= Self.publishBytes {
            try publishInBackground(alone: large)
        }
    }

    /// The branch moves waiting for the pack being written in the background: written once it lands.
    private var movesAwaitingPack: [String: (from: ObjectID?, to: ObjectID)]?

    /// Publishes without holding up the writes that follow: the objects the journal holds go to a pack written
    /// on a thread of its own (``GitRepository/startPublishing()``), and the branch moves made so far are
    /// written once it has landed (a later ``publishIfDue()`` or ``publish()``). Moves made meanwhile wait for
    /// the next pack. `alone`: that pack is not combined with others (a large write's).
    package func publishInBackground(alone: Bool = false) throws(HistoryError) {
        try landPublished(wait: false)
        guard movesAwaitingPack == nil, hasUnpublished else { return }
        lastPublished = DispatchTime.now().uptimeNanoseconds
        // No pack or branch of a record the journal has not flushed yet reaches the disk before the record: the
        // pack waits for the journal's flusher in the background, and the moves wait for the pack.
        if git.startPublishing(alone: alone, moves: orderedMoves(unpublishedMoves).map { ($0.key, $0.value.from, $0.value.to) }) {
            movesAwaitingPack = unpublishedMoves
        } else {
            // Nothing to write but branch moves: their objects are in packs already.
            try git.journal?.flushWritten()
            try writeMoves(unpublishedMoves)
        }
    }

    /// Lands the pack being written in the background, if it is written (with `wait`, once it is), and writes
    /// the branch moves that waited for it.
    package func landPublished(wait: Bool) throws(HistoryError) {
        // (A pack another call landed, a checkpoint's, counts too.)
        guard let moves = movesAwaitingPack else { return }
        let landed = try git.finishPublishing(wait: wait)
        guard landed || !git.isPublishing else { return }
        movesAwaitingPack = nil
        // A pack that could not be written (a full disk: the background's attempt and the one here both failed,
        // and the error went to an earlier call) leaves its objects waiting: so do its moves, in
        // ``unpublishedMoves``, for the next pack. A branch on disk never names a commit no pack holds.
        if !landed, moves.values.contains(where: { git.holdsUnpublished($0.to) }) { return }
        try writeMoves(moves, written: git.takePublishedReferences())
    }

    /// Writes each branch of `moves` by compare-and-swap from the value it had on disk, main last (a reader
    /// that sees main's new value finds every branch it was merged from). A branch moved again since stays
    /// waiting, from where this leaves it.
    ///
    /// `written`: branches the background already moved, and where (``GitRepository/startPublishing(alone:moves:)``).
    func writeMoves(_ moves: [String: (from: ObjectID?, to: ObjectID)], written: [String: ObjectID] = [:]) throws(HistoryError) {
        for (reference, move) in orderedMoves(moves) {
            if let now = unpublishedMoves[reference] {
                unpublishedMoves[reference] = now.to == move.to ? nil : (move.to, now.to)
            }
            if written[reference] == move.to { continue }
            do {
                try git.updateReference(reference, to: move.to, expecting: move.from, message: "filamentdb: sync")
            } catch where error.retryable {
                try integrate(reference, move.to)
            }
        }
    }

    /// Branch moves in the order they are written: main last.
    private func orderedMoves(_ moves: [String: (from: ObjectID?, to: ObjectID)]) -> [(key: String, value: (from: ObjectID?, to: ObjectID))] {
        moves.sorted(by: { ($0.key == Self.mainReference ? 1 : 0) < ($1.key == Self.mainReference ? 1 : 0) })
    }

    /// Writes what the journal holds and the repository does not have yet: its objects as one pack, then each
    /// branch it moved, by compare-and-swap from the value the branch had on disk. If another process moved
    /// main meanwhile (an import from the command line), the journal's main is merged into it field by field,
    /// as a device's branch is, so neither side's commits are lost.
    package func publish() throws(HistoryError) {
        lastPublished = DispatchTime.now().uptimeNanoseconds
        try landPublished(wait: true)
        guard hasUnpublished else { return }
        // No pack or branch of a record the journal has not flushed yet reaches the disk before the record.
        try git.journal?.flushWritten()
        try git.publishObjects()
        try writeMoves(unpublishedMoves)
    }

    /// Brings `ours` (a commit the journal moved `reference` to) into the branch another process moved on
    /// disk: main gets a field-level merge of ours; a branch of the sync server's own (a device's, its state)
    /// is set to ours, the value the server answered with.
    func integrate(_ reference: String, _ ours: ObjectID) throws(HistoryError) {
        for _ in 0..<16 {
            let current = try git.reference(reference)
            if current == ours { return }
            if reference == Self.mainReference, let current, try git.contains(ours, in: current) { return }
            var target = ours
            if reference == Self.mainReference, let current {
                let author = Signature(device: "sync", time: Int64(Date().timeIntervalSince1970))
                let merge = try prepareMerge(ours, device: "sync", author: author)
                try git.flushObjects()
                target = merge.outcome.commit ?? current
                if target == current { return }
            }
            do {
                try git.updateReference(reference, to: target, expecting: current, message: "filamentdb: sync, merged")
                if reference == Self.mainReference { noteMainState(target) }
                return
            } catch where error.retryable {
                continue
            }
        }
        throw HistoryError(.contention, "\(reference) kept moving while the sync server published to it", path: path)
    }

    /// Makes writes durable through the repository's journal from now on (``Journal``), after bringing back
    /// what it holds: its objects and branch moves, and, if main moved on without its last commit, that commit
    /// merged into main.
    package func openJournal() throws(HistoryError) {
        // A sync request's record holds its commits as builds (``Journal/Build``): their trees are built again here.
        let (behind, states) = try git.openJournal { (base, changes) throws(HistoryError) in try rootTree(base, changes.map { ($0.path[...], $0.blob) }) }
        if let behind { try integrate(Self.mainReference, behind) }
        // The sync states the journal updated since its last checkpoint (updates set values: one already in a
        // state commit is set again to the same value).
        for update in states { try syncState(reference: update.reference).apply(update) }
        // The states' updates are carried into the emptied journal, as under load, rather than written as commits:
        // a server that stopped on a full disk then needs no more room to start than it had (a device that had
        // uploaded 20,000 spools made a 4.5 MB state commit here). They get their commits once it is idle.
        try checkpoint(carryingStates: uncommittedStateUpdateCount <= Self.stateUpdatesCarried)
    }

    /// Work that would hold up the requests it fell on, for a writer with nothing else to do (the sync server,
    /// with no request in flight and none ended for ``publishWhenIdle``): everything published, and the journal's checkpoint once
    /// it is half full (rather than when it is full, in the middle of a burst of requests).
    package func maintainWhileIdle() throws(HistoryError) {
        // Records answered without a flush (requests that changed nothing in the history: ``landSync``) are
        // flushed now, when nothing waits for the disk.
        try git.journal?.flushWritten()
        try publish()
        if let journal = git.journal, journal.isHalfFull { try checkpoint() }
        try git.refreshIfPacksIndexed()
        git.indexPacksIfMany()
    }

    /// Empties the journal once it is full, after publishing what it holds. Under load, the sync states'
    /// updates are carried over into the emptied journal rather than written as commits (hundreds of
    /// milliseconds for a device that uploaded its inventory, during which no request is answered): their
    /// commits wait for the server to fall idle, or for a state's updates to pile up (``landSync``).
    package func checkpointIfFull() throws(HistoryError) {
        guard let journal = git.journal, journal.isFull else { return }
        try checkpoint(carryingStates: uncommittedStateUpdateCount <= Self.stateUpdatesCarried)
    }

    /// Writes the sync states' commits (unless `carryingStates`: then the journal keeps their updates),
    /// publishes what the journal holds, flushes everything to disk and empties the journal.
    package func checkpoint(carryingStates: Bool = false) throws(HistoryError) {
        if !carryingStates { try writeSyncStates() }
        try publish()
        try git.checkpoint(carrying: carryingStates ? uncommittedStateUpdates() : [])
    }

    /// The most sync-state updates a checkpoint carries over into the emptied journal (about 60 bytes each);
    /// with more waiting, their commits are written.
    static let stateUpdatesCarried = 4 * stateUpdatesWaiting

    /// Before objects go to disk: if a branch already moved or is locked, the race is lost anyway, and
    /// nothing is written for it (the caller retries on the new head).
    func expectUnmoved(_ branches: [(reference: String, expected: ObjectID?)]) throws(HistoryError) {
        for (reference, expected) in branches {
            // A branch the background is moving (``publishInBackground``) is locked by this writer itself.
            let ours = movesAwaitingPack?[reference] != nil
            if try head(reference) != expected || (!ours && access(lockPath(reference), F_OK) == 0) {
                clearStaleLock(reference)
                var error = HistoryError(.contention, "\(reference) moved or is locked", path: path)
                error.retryable = true
                throw error
            }
        }
    }

    /// How old a reference's lock file must be to belong to a writer that died: a live one holds it for the
    /// milliseconds it takes to write and rename one small file.
    package static let staleLockAge: TimeInterval = 2

    package func lockPath(_ reference: String) -> String { path + "/" + reference + ".lock" }

    /// Removes `reference`'s lock file if it is older than ``staleLockAge``. Returns whether it did.
    @discardableResult
    package func clearStaleLock(_ reference: String) -> Bool {
        let lock = lockPath(reference)
        guard let modified = (try? FileManager.default.attributesOfItem(atPath: lock))?[.modificationDate] as? Date,
              Date().timeIntervalSince(modified) > Self.staleLockAge else { return false }
        return (try? FileManager.default.removeItem(atPath: lock)) != nil
    }

    /// Every branch head: main and the devices', and the devices' sync states.
    package func branchHeads() throws(HistoryError) -> [ObjectID] {
        var out: [ObjectID] = []
        for r in try git.references(under: "refs/heads/") + git.references(under: SyncStateReference.namespace) { if let id = try head(r) { out.append(id) } }
        return out
    }
}
