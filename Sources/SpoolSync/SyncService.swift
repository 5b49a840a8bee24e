import Foundation
import SpoolHistory
import SpoolModel

/// What a sync server may be told.
public struct SyncConfiguration: Sendable {
    /// Most changes plus deletions in one request (more gets 413, "upload in batches").
    public var batchLimit: Int
    /// How far ahead of the server's clock a timestamp may be (after the skew correction, when the request has
    /// a `clientTime`).
    public var futureTolerance: Int64
    /// The smallest offset between a request's `clientTime` and the server's clock that counts as the device's
    /// clock being off. A smaller one is the request's time on the network and in the server's queue (milliseconds
    /// on a loopback, seconds for a large batch on a slow link): shifting every time by it made the same spool
    /// differ by a few milliseconds from device to device, and a device that sent what the server held anew
    /// (a first sync to a new server) made a commit of `lastUpdated` changes alone.
    public var skewTolerance: Int64
    /// Whether requests are made durable through the history's journal (one flush each; see `Journal`)
    /// rather than by flushing every file they write.
    public var journal: Bool
    /// Whether a request's journal record is flushed on a thread of its own, together with the records of the
    /// requests that came meanwhile (group commit), while the next requests are applied; each is answered once
    /// its record is on disk. Otherwise each request flushes its own record before the next one starts.
    public var groupCommit: Bool

    public init(batchLimit: Int = 50_000, futureTolerance: Int64 = 60_000, skewTolerance: Int64 = 5_000, journal: Bool = true, groupCommit: Bool = true) {
        self.batchLimit = batchLimit
        self.futureTolerance = futureTolerance
        self.skewTolerance = skewTolerance
        self.journal = journal
        self.groupCommit = groupCommit
    }
}

/// The server side of the sync protocol over the history (SYNC-PROTOCOL.md): each request is a commit on the
/// device's branch (what it sent, on the state of main it had seen) merged into main field by field, and the
/// answer is what changed in main since that state. Requests run one at a time on the history's actor, each
/// whole or not at all.
public actor SyncService {
    public let store: InventoryStore
    public let configuration: SyncConfiguration
    let clock: ServerClock
    let counter = SpoolCounter()
    var started = false
    let answerFiles = AnswerFiles()
    let listing = MainListing()
    let mainLog = MainLog()
    let deviceStates = DeviceStates()
    /// Requests between arriving and being answered (counted by the store's ``WriterActivity``, which the
    /// repository's background work reads too).
    var inFlight: Int { store.activity.requests }

    public static let systemClock: @Sendable () -> Int64 = { Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)) }

    public init(store: InventoryStore, configuration: SyncConfiguration = SyncConfiguration(),
                clock: @escaping @Sendable () -> Int64 = SyncService.systemClock) {
        self.store = store
        self.configuration = configuration
        self.clock = ServerClock(clock)
    }

    /// Applies one request and answers it. What needs nothing from the history (the request's digest, its
    /// spools checked and migrated) is worked out first, outside the service, while other requests are applied.
    public nonisolated func sync(_ request: SyncRequest) async throws(SyncFailure) -> SyncResponse {
        let entries = request.changes.count + request.deletions.count
        if entries > configuration.batchLimit {
            throw SyncFailure(.tooLarge, "\(entries) changes and deletions in one request; the limit is \(configuration.batchLimit): upload in batches")
        }
        store.activity.begin()
        defer { store.activity.end() }
        return try await apply(request, digest: request.digest, prepared: SyncEngine.prepare(request))
    }

    private func apply(_ request: SyncRequest, digest: String, prepared: SyncEngine.Prepared?) async throws(SyncFailure) -> SyncResponse {
        let device = ExactString(request.deviceId)
        // The device's last request sent again with a cursor that answer moved it from: the answer was lost, and is
        // sent again as it was (nothing applied again). The same request from the cursor it was answered with is a
        // device asking again (nothing was new then): it is answered afresh, as is every request without a cursor.
        if let last = lastAnswers[device], last.digest == digest, let cursor = request.cursor, cursor != last.response.cursor {
            return last.response
        }
        do {
            try await start()
            // A request alone has its record flushed at once, on the journal's thread, while it finishes its work
            // (the answer waits for the flush); with others in flight, records are flushed together.
            let engine = SyncEngine(request: request, digest: digest, configuration: configuration, author: store.signature(request.deviceId),
                                    clock: clock, counter: counter, files: answerFiles, listing: listing, mainLog: mainLog, states: deviceStates,
                                    flush: !configuration.groupCommit ? .now : inFlight > 1 ? .grouped : .aside, prepared: prepared)
            switch try await store.write({ (repo) throws(HistoryError) -> SyncEngine.Outcome in try engine.run(repo) }) {
            case .refused(let failure):
                throw failure
            case .answered(let response, let durable):
                schedulePublish()
                if let durable {
                    do {
                        try await durable.flusher.waitUntilDurable(durable.offset)
                    } catch {
                        throw SyncFailure(.unavailable, "the history could not be made durable (\(error.message)); send the request again once the server is restarted")
                    }
                }
                remember(response, of: device, digest: digest)
                return response
            }
        } catch let error as SyncFailure {
            throw error
        } catch let error as HistoryError {
            if error.code == .invalidName {
                throw SyncFailure(.badRequest, "deviceId: \(error.message)", details: [.init(path: "deviceId", message: error.message)])
            }
            throw SyncFailure(.unavailable, "the history could not be written (\(error.message)); nothing was applied: send the request again")
        } catch {
            throw SyncFailure(.unavailable, "\(error); nothing was applied: send the request again")
        }
    }

    /// Each device's last answer, with its request's digest, for a retry of that request (answers of up to
    /// ``answerKept`` bytes of spools; a larger one, or a retry after a restart, is worked out again from the
    /// device's state, with the same changes and no new commit while main has not moved).
    /// Up to ``answersKept`` bytes of spools in all (then emptied): device ids are the requests' to choose.
    var lastAnswers: [ExactString: (digest: String, response: SyncResponse, bytes: Int)] = [:]
    var lastAnswerBytes = 0
    static let answerKept = 256 << 10
    static let answersKept = 32 << 20

    func remember(_ response: SyncResponse, of device: ExactString, digest: String) {
        let bytes = response.encodedChanges.reduce(0, { $0 + $1.count }) + 256
        if let old = lastAnswers.removeValue(forKey: device) { lastAnswerBytes -= old.bytes }
        guard bytes <= Self.answerKept else { return }
        if lastAnswerBytes + bytes > Self.answersKept || lastAnswers.count >= 10_000 {
            lastAnswers.removeAll()
            lastAnswerBytes = 0
        }
        lastAnswers[device] = (digest, response, bytes)
        lastAnswerBytes += bytes
    }

    /// A request's packs and branch moves are written to disk (published) once no request is in flight and
    /// none ended for `InventoryRepository.publishWhenIdle` (then the journal is also checkpointed if half
    /// full: `InventoryRepository.maintainWhileIdle`); under a steady stream of requests, a pack is started every
    /// `InventoryRepository.publishInterval` and written on a thread of its own while requests go on (the
    /// branch moves follow once it has landed).
    var publishing: Task<Void, Never>?
    var lastRequest = DispatchTime.now().uptimeNanoseconds

    func schedulePublish() {
        lastRequest = DispatchTime.now().uptimeNanoseconds
        startPublishing()
    }

    private func startPublishing() {
        guard publishing == nil, !upkeepHeld else { return }
        let store = self.store
        publishing = Task {
            let first = DispatchTime.now().uptimeNanoseconds
            var idle = false
            repeat {
                try? await Task.sleep(nanoseconds: InventoryRepository.publishWhenIdle)
                idle = self.inFlight == 0 && DispatchTime.now().uptimeNanoseconds - self.lastRequest >= InventoryRepository.publishWhenIdle
            } while !idle && !Task.isCancelled && DispatchTime.now().uptimeNanoseconds - first < InventoryRepository.publishInterval
            // Cancelled by `close()`, which writes everything itself.
            if Task.isCancelled { return }
            let whole = idle
            do throws(HistoryError) {
                try await store.write { (repo) throws(HistoryError) in
                    if whole { try repo.maintainWhileIdle() } else { try repo.publishInBackground() }
                }
                self.publishWorked()
            } catch {
                self.publishFailed(error)
            }
            // Garbage is collected only here, with nothing in flight (a repack holds up every request meanwhile).
            // One that gave way to a request is tried again once it may be (idle or not, nothing else would start it).
            if whole, self.inFlight == 0 {
                await store.collectGarbageIfDue()
                if await store.lastCollectionGaveWay { self.retryCollection() }
            }
            self.published()
            // A pack started under load lands with a later request, or here once requests stop.
            if !whole, !Task.isCancelled { self.startPublishing() }
        }
    }

    func published() { publishing = nil }

    /// Whether the server's own upkeep (the timed publish, and the flush of what waits once idle) is held off.
    var upkeepHeld = false

    /// Holds the upkeep off (the one under way finishes first) until ``releaseUpkeep()``: a test looks at what a
    /// request left before the upkeep changes it (under the whole suite on two cores, 20 ms of idleness came first).
    package func holdUpkeep() async {
        upkeepHeld = true
        if let publishing {
            publishing.cancel()
            await publishing.value
            self.publishing = nil
        }
    }

    package func releaseUpkeep() {
        upkeepHeld = false
        startPublishing()
    }

    /// Told when writing the journal's objects to packs and branches fails (a full disk) and when it works again:
    /// each failure once until it changes, then the recovery. The requests go on through the journal meanwhile;
    /// what waits is what another process sees (`filamentdb serve` logs it).
    nonisolated let publishReport = ReportHandler()
    var reportedFailure: String?

    /// Set before the first request (nonisolated, so that a server sets it as it is built, with nothing to await).
    public nonisolated func onPublishReport(_ report: @escaping @Sendable (_ failure: String?) -> Void) { publishReport.set(report) }

    final class ReportHandler: @unchecked Sendable {
        private let lock = NSLock()
        private var handler: (@Sendable (String?) -> Void)?
        func set(_ h: @escaping @Sendable (String?) -> Void) { lock.withLock { handler = h } }
        func callAsFunction(_ failure: String?) { lock.withLock { handler }?(failure) }
    }

    func publishFailed(_ error: HistoryError) {
        let message = (error.path.map { $0 + ": " } ?? "") + error.message
        guard message != reportedFailure else { return }
        reportedFailure = message
        publishReport(message)
    }

    func publishWorked() {
        guard reportedFailure != nil else { return }
        reportedFailure = nil
        publishReport(nil)
    }

    /// A garbage collection that gave way is tried again after this long (``InventoryStore/garbageGrace``, the
    /// least time between two; a second more), at the next moment no request is in flight.
    var collectionRetry: UInt64 = UInt64((InventoryStore.garbageGrace + 1) * 1e9)
    var retrying: Task<Void, Never>?

    func retryCollection() {
        guard retrying == nil else { return }
        let store = self.store, delay = collectionRetry
        retrying = Task {
            try? await Task.sleep(nanoseconds: delay)
            while !Task.isCancelled {
                if self.inFlight == 0 {
                    await store.collectGarbageIfDue()
                    if !(await store.lastCollectionGaveWay) { break }
                    try? await Task.sleep(nanoseconds: delay)
                } else {
                    try? await Task.sleep(nanoseconds: InventoryRepository.publishWhenIdle)
                }
            }
            self.retried()
        }
    }

    func retried() { retrying = nil }

    func setCollectionRetry(_ nanoseconds: UInt64) { collectionRetry = nanoseconds }

    /// Writes what requests committed through the journal to the repository's packs and branches now (it
    /// happens by itself, within `InventoryRepository.publishWhenIdle` of the last request): for a reader in
    /// another process.
    public func publish() async throws(HistoryError) {
        try await store.write { (repo) throws(HistoryError) in try repo.publish() }
    }

    /// `GET /api/sync`.
    public func summary() async throws(SyncFailure) -> SyncSummary {
        do {
            try await start()
            let counter = self.counter, publishError = reportedFailure
            return try await store.write { (repo) throws(HistoryError) -> SyncSummary in
                let head = try repo.head()
                let counted = try SyncEngine.count(at: head, from: counter.value, repo)
                counter.value = counted
                let modified = try head.map { (h) throws(HistoryError) in try repo.git.readCommit(h).time * 1000 } ?? 0
                return SyncSummary(totalSpools: counted.spools, lastModified: modified, head: head?.hex, publishError: publishError)
            }
        } catch {
            throw SyncFailure(.unavailable, "the history could not be read (\(error.message))")
        }
    }

    /// Opens the history for serving before the first request: takes its journal (bringing back what a crash
    /// of the machine lost), and counts the inventory. A second server on the same history is refused here.
    public func prepare() async throws(HistoryError) {
        try await start()
    }

    /// Flushes everything the journal holds to the repository and empties it (at shutdown; a journal left
    /// full is read back when the history is next served).
    ///
    /// The timed publish is stopped first (and waited for, if it is writing): nothing is written after this
    /// returns unless another request comes. A process that exits with a publish still writing crashed: OpenSSL,
    /// which hashes the pack, is torn down at exit.
    public func close() async {
        // A garbage collection under way gives up (the next one starts over).
        store.activity.stop()
        retrying?.cancel()
        if let publishing {
            publishing.cancel()
            await publishing.value
            self.publishing = nil
        }
        _ = try? await store.write { (repo) throws(HistoryError) in try repo.checkpoint() }
    }

    /// Before the first request: `serverTime` continues after every time this history has answered.
    func start() async throws(HistoryError) {
        guard !started else { return }
        let journal = configuration.journal
        let latest = try await store.write { (repo) throws(HistoryError) -> Int64 in
            if journal { try repo.openJournal() }
            var latest: Int64 = 0
            for reference in try repo.git.references(under: SyncStateReference.namespace) {
                if let state = DeviceSyncState(json: try repo.syncState(reference: reference).document) {
                    latest = max(latest, state.lastServerTime)
                }
            }
            if let main = try repo.head() { latest = max(latest, try repo.git.readCommit(main).time * 1000 + 999) }
            return latest
        }
        clock.raise(to: latest)
        // The inventory is counted once here; each request then counts only what it changed.
        let head = try await store.head()
        let counter = self.counter
        try await store.write { (repo) throws(HistoryError) in counter.value = try SyncEngine.count(at: head, from: nil, repo) }
        started = true
    }
}

/// The server's time for answers: milliseconds that strictly increase from one answer to the next (a clock
/// that stands still or goes back is overtaken by one millisecond).
final class ServerClock: @unchecked Sendable {
    private let source: @Sendable () -> Int64
    private let lock = NSLock()
    private var last: Int64 = 0

    init(_ source: @escaping @Sendable () -> Int64) { self.source = source }

    func next() -> Int64 {
        lock.lock()
        defer { lock.unlock() }
        last = max(source(), last + 1)
        return last
    }

    func raise(to floor: Int64) {
        lock.lock()
        defer { lock.unlock() }
        last = max(last, floor)
    }
}
