import Foundation
import SpoolModel

/// The history of one inventory, as a service: the single owner of its repository in this process.
///
/// Every call runs on the actor, so writers in one process never race each other; other processes (a CLI
/// while a server runs) may still write the same repository, and a write that loses the compare-and-swap on a
/// branch to one of them is tried again on the new head after a short, growing wait (``retrying(_:)``). Times
/// come from the store's ``HistoryClock``.
public actor InventoryStore {
    /// The repository's folder.
    public nonisolated let path: String
    /// Whether opening the store created the repository.
    public nonisolated let created: Bool
    let repository: InventoryRepository
    nonisolated let clock: HistoryClock
    /// Whether a request is being served: a sync server says so, and the repository's background work (its
    /// packs) waits for the gaps between requests.
    package nonisolated let activity: WriterActivity
    var lastCollection = Date.distantPast
    var lastPackCount = Date.distantPast
    var packsPastLimit = false
    /// Whether the last collection of ``collectGarbageIfDue()`` gave way (to a request, or a SIGTERM) before it
    /// was done: the packs are still there, for a later one.
    public private(set) var lastCollectionGaveWay = false
    /// Also asked whether a collection is to give way (tests make one give way without racing a request).
    package var givingWayToo: (@Sendable () -> Bool)?
    /// The least time between two collections of ``collectGarbageIfDue()`` (shorter in tests).
    package var collectionInterval = garbageGrace

    /// After how many packs the object database is rewritten as one (``collectGarbage()``).
    public static let packLimit = 50

    /// Opens the history at `path` (a `history.git` folder); with `create`, makes it on first use.
    public init(path: String, create: Bool = true, clock: HistoryClock = .system) throws(HistoryError) {
        let (repository, created) = try InventoryRepository.open(path, create: create)
        self.repository = repository
        self.created = created
        self.path = repository.path
        self.clock = clock
        self.activity = repository.git.activity
    }

    /// Opens the history of a data folder (``DataFolder``).
    public init(dataFolder: String, create: Bool = true, clock: HistoryClock = .system) throws(HistoryError) {
        try DataFolder.check(dataFolder)
        try self.init(path: DataFolder.historyPath(in: dataFolder), create: create, clock: clock)
    }

    /// A signature for `device` at the store's clock's time.
    public nonisolated func signature(_ device: String) -> Signature { Signature(device: device, time: clock.seconds()) }

    // MARK: reading

    /// main's head, or with `device` that device's branch head; `nil` before the first commit.
    public func head(device: String? = nil) throws(HistoryError) -> ObjectID? {
        guard let device else { return try repository.head() }
        return try repository.head(try DeviceBranch.reference(for: device))
    }

    /// The devices that have a branch, sorted by their names' bytes.
    public func devices() throws(HistoryError) -> [String] {
        let references = try repository.git.references(under: DeviceBranch.namespace)
        return references.compactMap { DeviceBranch.device(ofReference: $0) }.sorted(by: utf8Ordered)
    }

    /// The commit `text` names: a revision (`main~2`, an id), a device's name, or an ISO 8601 date (main's
    /// newest commit at or before it).
    public func commit(named text: String) throws(HistoryError) -> ObjectID { try repository.commit(named: text) }

    public func readCommit(_ id: ObjectID) throws(HistoryError) -> CommitInfo { try repository.git.readCommit(id) }

    /// The commits `query` admits, newest first: main's (or a device branch's) whole graph, or one spool's
    /// first-parent history.
    public func log(_ query: LogQuery = LogQuery()) throws(HistoryError) -> [CommitInfo] {
        let start: ObjectID?
        if let device = query.branchOfDevice {
            guard let head = try head(device: device) else {
                throw HistoryError(.noSuchBranch, "no branch for device \(JSONValue.string(device).jsonText)", path: path)
            }
            start = head
        } else {
            start = try repository.head()
        }
        guard let field = query.field else {
            if let serial = query.spool { return try repository.history(of: serial, from: start, query: query) }
            return try repository.log(from: start, query: query)
        }
        // A field: each commit's changes against its first parent are read, until enough are found.
        var unlimited = query
        unlimited.limit = nil
        let all: [CommitInfo]
        if let serial = query.spool { all = try repository.history(of: serial, from: start, query: unlimited) } else { all = try repository.log(from: start, query: unlimited) }
        var out: [CommitInfo] = []
        for commit in all where out.count < (query.limit ?? .max) {
            let changes = try repository.diff(from: commit.parents.first, to: commit.id)
            if changes.contains(where: { c in (query.spool == nil || Array(c.serial.utf8) == Array(query.spool!.utf8)) && c.fields.contains { Array($0.field.utf8) == Array(field.utf8) } }) {
                out.append(commit)
            }
        }
        return out
    }

    /// For each field of `serial`'s spool on main, the commit of main's first-parent line that last set it
    /// (a merge, for what a device brought in), oldest field first in the spool's canonical order.
    public func blame(_ serial: String) throws(HistoryError) -> [(field: String, value: JSONValue, commit: CommitInfo)] {
        guard let head = try repository.head(), let current = try repository.spool(serial, at: head) else {
            throw HistoryError(.noSuchSpool, "no spool \(JSONValue.string(serial).jsonText) on main", path: path)
        }
        var origin: [ExactString: CommitInfo] = [:]
        for commit in try repository.history(of: serial, from: head).reversed() {
            let before = try repository.spool(serial, at: commit.parents.first), after = try repository.spool(serial, at: commit.id)
            for (field, value) in after?.fields ?? [:] where !SpoolMerge.same(before?[field], value) { origin[ExactString(field)] = commit }
        }
        return current.orderedFields.compactMap { f in origin[ExactString(f.key)].map { (f.key, f.value, $0) } }
    }

    /// What a commit changed against its first parent (for a merge: what it brought into main).
    public func changes(of commit: CommitInfo) throws(HistoryError) -> [SpoolChange] {
        try repository.diff(from: commit.parents.first, to: commit.id)
    }

    /// One spool at `commit` (default: main's head).
    public func spool(_ serial: String, at commit: ObjectID? = nil) throws(HistoryError) -> Spool? {
        var at = commit
        if at == nil { at = try repository.head() }
        return try repository.spool(serial, at: at)
    }

    /// Every spool at `commit`, sorted by serial.
    public func spools(at commit: ObjectID?, progress: HistoryProgress? = nil) throws(HistoryError) -> [Spool] {
        try repository.spools(at: commit, progress: progress)
    }

    /// The serials whose files differ between two commits: the delta a device at `from` needs to reach `to`.
    public func changedSerials(from a: ObjectID?, to b: ObjectID?) throws(HistoryError) -> [String] {
        try repository.changedSerials(from: a, to: b)
    }

    public func diff(from a: ObjectID?, to b: ObjectID?, includingUnchanged: Bool = false) throws(HistoryError) -> [SpoolChange] {
        try repository.diff(from: a, to: b, includingUnchanged: includingUnchanged)
    }

    public func conflicts() throws(HistoryError) -> [ConflictRecord] { try repository.conflicts() }

    /// The commits that decided conflicts again (`conflicts resolve`), by conflict id, the latest for each.
    public func redecisions() throws(HistoryError) -> [String: CommitInfo] {
        var out: [String: CommitInfo] = [:]
        for commit in try repository.log(from: try repository.head()) {
            if let id = commit.trailer("Filamentdb-Conflict"), out[id] == nil { out[id] = commit }
        }
        return out
    }

    /// A conflict by id or unique prefix.
    public func conflict(_ id: String) throws(HistoryError) -> ConflictRecord { try repository.conflict(id) }

    public func verify() throws(HistoryError) -> (spools: Int, problems: [Problem]) { try repository.verify() }

    // MARK: writing

    /// Commits a whole file's spools (see ``ImportMode``). `stampedAt` is the time the reader gave records
    /// that carried none (``ConversionOptions/now``): such a record that otherwise equals the stored one is no
    /// change, and keeps the stored time.
    /// `fieldsInFile`: the fields the file had room for, when not every field (``ConversionReport/fieldsInInput``);
    /// the others keep their stored values.
    public func importSpools(_ spools: [Spool], mode: ImportMode, source: String, stampedAt: Int64? = nil,
                             fieldsInFile: Set<String>? = nil, progress: HistoryProgress? = nil) async throws(HistoryError) -> ImportResult {
        let author = signature(mode.device)
        return try await retrying { () throws(HistoryError) -> ImportResult in
            try repository.importSpools(spools, mode: mode, source: source, stampedAt: stampedAt, fieldsInFile: fieldsInFile,
                                        progress: progress, author: author)
        }
    }

    /// ``importSpools(_:mode:source:stampedAt:fieldsInFile:progress:)`` for a stored inventory (a conversion's
    /// ``StoredInventory``): the spools' documents are compared by id and written as they are, and only the
    /// spools that differ from the stored ones are read field by field.
    public nonisolated func importStored(_ inventory: StoredInventory, mode: ImportMode, source: String, stampedAt: Int64? = nil,
                                         fieldsInFile: Set<String>? = nil, progress: HistoryProgress? = nil) async throws(HistoryError) -> ImportResult {
        try await importRecords(ImportRecord.records(inventory), mode: mode, source: source, stampedAt: stampedAt, fieldsInFile: fieldsInFile,
                                progress: progress)
    }

    /// ``importStored(_:mode:source:stampedAt:fieldsInFile:progress:)`` for records already made; with
    /// `expectingDeviceHead`, `records` are only those an ``ImportMemo`` of that head did not know (see
    /// ``InventoryRepository/importRecords(_:mode:source:stampedAt:fieldsInFile:progress:expectingDeviceHead:author:)``).
    package func importRecords(_ records: [ImportRecord], mode: ImportMode, source: String, stampedAt: Int64? = nil,
                               fieldsInFile: Set<String>? = nil, progress: HistoryProgress? = nil,
                               expectingDeviceHead: ObjectID? = nil) async throws(HistoryError) -> ImportResult {
        let author = signature(mode.device)
        return try await retrying { () throws(HistoryError) -> ImportResult in
            try repository.importRecords(records, mode: mode, source: source, stampedAt: stampedAt, fieldsInFile: fieldsInFile,
                                         progress: progress, expectingDeviceHead: expectingDeviceHead, author: author)
        }
    }

    /// The memo of `device`'s last imported file (see ``ImportMemo``), if one reads back whole.
    package nonisolated func importMemo(device: String) -> ImportMemo? { ImportMemo.load(repository: path, device: device) }

    /// Forgets `device`'s memo: its next file is read whole.
    package nonisolated func forgetMemo(device: String) { ImportMemo.remove(repository: path, device: device) }

    /// Keeps `entries` as `device`'s memo, describing its branch at `head`.
    /// Returns why the memo could not be written, `nil` once it is.
    @discardableResult
    package nonisolated func keepMemo(_ entries: [(key: ImportMemo.Digest, entry: ImportMemo.Entry)], head: ObjectID, reader: String, device: String) -> String? {
        ImportMemo.save(entries, head: head, reader: reader, repository: path, device: device)
    }

    /// Applies what `device` changed since `base` (its cursor: a state of main; `nil` for nothing seen yet),
    /// merged into main. Costs follow the number of changes, not the inventory's size.
    public func apply(device: String, base: ObjectID?, changes: [Spool], source: String = "sync") async throws(HistoryError) -> ImportResult {
        let author = signature(device)
        return try await retrying { () throws(HistoryError) -> ImportResult in
            try repository.apply(device: device, base: base, changes: changes, source: source, author: author)
        }
    }

    /// Merges `device`'s branch into main field by field.
    public func merge(device: String) async throws(HistoryError) -> MergeOutcome {
        let author = signature(device)
        return try await retrying { () throws(HistoryError) -> MergeOutcome in try repository.merge(device: device, author: author) }
    }

    /// Makes main (or one spool of it) what it was at `commit`, as a new commit; `nil` when it already is.
    public func restore(to commit: ObjectID, serial: String? = nil, label: String, device: String = "restore",
                        progress: HistoryProgress? = nil) async throws(HistoryError) -> ObjectID? {
        let author = signature(device)
        return try await retrying { () throws(HistoryError) -> ObjectID? in
            try repository.restore(to: commit, serial: serial, label: label, progress: progress, author: author)
        }
    }

    /// Decides a conflict again, as a new commit; `nil` when the spool already holds that value.
    public func resolve(conflict id: String, with resolution: Resolution, device: String = "review") async throws(HistoryError) -> ObjectID? {
        let author = signature(device)
        return try await retrying { () throws(HistoryError) -> ObjectID? in
            try repository.resolve(conflict: id, with: resolution, author: author)
        }
    }

    /// Commits `changes` (a spool, or `nil` to remove its file) onto main as they are.
    public func commit(_ changes: [(serial: String, spool: Spool?)], device: String, message: String) async throws(HistoryError) -> ObjectID? {
        let author = signature(device)
        return try await retrying { () throws(HistoryError) -> ObjectID? in
            try repository.commit(changes: changes, author: author, message: message)
        }
    }

    /// Removes the tombstones of spools deleted before `cutoff` (milliseconds) from main, as one commit that
    /// becomes the tombstone horizon (devices that last synced before it get a full resync). Returns the
    /// commit (`nil`: nothing to remove) and how many were removed.
    public func purgeTombstones(before cutoff: Int64, device: String = "gc") async throws(HistoryError) -> (commit: ObjectID?, removed: Int) {
        let author = signature(device)
        return try await retrying { () throws(HistoryError) -> (commit: ObjectID?, removed: Int) in
            try repository.purgeTombstones(before: cutoff, author: author)
        }
    }

    /// How long another process may take between writing its pack and moving its branch: younger packs and
    /// loose objects are kept by ``collectGarbage(grace:)``.
    public static let garbageGrace: TimeInterval = 60

    /// Rewrites every object the branches reach as one pack and removes what it replaces: the packs of many
    /// small writes, loose objects of older versions, objects of writes that failed or lost a race, and the
    /// temporary files of writers that were stopped. Packs younger than `grace` seconds are kept (another
    /// process may be about to move its branch to what they hold). Returns the number of packs before and after.
    @discardableResult
    public func collectGarbage(grace: TimeInterval = garbageGrace, givingWay: (@Sendable () -> Bool)? = nil) throws(HistoryError) -> (before: Int, after: Int) {
        // What a journal holds goes to disk first: branch moves not published yet would not be counted.
        try repository.checkpoint()
        let before = repository.git.packCount
        try repository.git.repack(references: try repository.branchHeads(), grace: grace, givingWay: givingWay)
        return (before, repository.git.packCount)
    }

    /// Rewrites the object database as one pack (``collectGarbage(grace:)``) once it holds more than
    /// ``packLimit`` packs, at most once per ``garbageGrace`` (the packs of the last collection are kept by it);
    /// the packs are counted at most once a second (a busy server writes many times a second). Returns whether
    /// it collected.
    @discardableResult
    public func collectGarbageIfDue() -> Bool {
        if Date().timeIntervalSince(lastPackCount) >= 1 {
            lastPackCount = Date()
            packsPastLimit = repository.git.packCount > Self.packLimit
            // (Collected meanwhile, by hand: nothing waits for a collection any more.)
            if !packsPastLimit { lastCollectionGaveWay = false }
        }
        guard packsPastLimit, Date().timeIntervalSince(lastCollection) > collectionInterval else { return false }
        packsPastLimit = false
        lastCollection = Date()
        // A request that comes (or a SIGTERM) stops it, within half a second: a repack of a large history took
        // 50 s, which the request, and a shutdown, waited for. It is tried again after `garbageGrace`.
        let activity = self.activity, alsoAsked = givingWayToo
        let gaveWay = Flag()
        let collected = (try? collectGarbage(givingWay: {
            let yes = activity.wantsTheHistory || alsoAsked?() == true
            if yes { gaveWay.set() }
            return yes
        })) != nil
        lastCollectionGaveWay = gaveWay.isSet
        return collected
    }

    /// A flag set from the thread a collection runs on.
    final class Flag: @unchecked Sendable {
        private let lock = NSLock()
        private var value = false
        func set() { lock.withLock { value = true } }
        var isSet: Bool { lock.withLock { value } }
    }

    package func setGivingWayToo(_ body: (@Sendable () -> Bool)?, collectionInterval: TimeInterval) {
        givingWayToo = body
        self.collectionInterval = collectionInterval
    }

    /// Runs one write of `body` on the repository engine, again after each lost race (the sync server's
    /// requests): on a failure nothing it wrote stays.
    package func write<T: Sendable>(_ body: @Sendable (InventoryRepository) throws(HistoryError) -> T) async throws(HistoryError) -> T {
        try await retrying { () throws(HistoryError) -> T in
            try repository.syncTransaction { () throws(HistoryError) -> T in try body(repository) }
        }
    }

    /// Runs `body` on the repository engine, on the actor (tests and tools of this package).
    package func withRepository<T: Sendable>(_ body: (InventoryRepository) throws -> T) rethrows -> T { try body(repository) }

    // MARK: retries

    /// Runs one write operation, again after each lost race (up to 16 attempts, waiting a little longer each
    /// time so that concurrent writers take turns). A lock that stays is named, with what to do about it.
    func retrying<T>(_ attempt: () throws(HistoryError) -> T) async throws(HistoryError) -> T {
        var last: HistoryError?
        for n in 0..<16 {
            if n > 0 {
                let millis = UInt64(min(n * n, 64))
                try? await Task.sleep(nanoseconds: millis * 1_000_000 + UInt64.random(in: 0...2_000_000))
            }
            do {
                let result = try attempt()
                // A sync server (the journal's holder) collects only while it is idle (``collectGarbageIfDue()``):
                // a repack of a large history takes tens of seconds no request would be answered in.
                if repository.git.journal == nil { collectGarbageIfDue() }
                return result
            } catch where error.retryable {
                last = error
            }
        }
        let locks = (try? repository.git.references(under: "refs/heads/"))?.map(repository.lockPath).filter { FileManager.default.fileExists(atPath: $0) } ?? []
        if let lock = locks.first {
            throw HistoryError(.contention, "a branch stays locked: \(lock) exists. Another filamentdb is writing, or one was stopped while writing (a lock older than \(Int(InventoryRepository.staleLockAge)) s is removed by the next writer); if none is running, remove that file",
                               path: path, git: last?.git)
        }
        throw HistoryError(.contention, "the branches kept moving: 16 attempts lost the race to other writers", path: path, git: last?.git)
    }
}
