import Foundation
import SpoolHistory
import SpoolModel

/// The client side of the sync protocol for a local history (`filamentdb sync`): the queue is what local
/// main changed since the commit the server has (edits made by `import`, `restore`, `conflicts resolve`);
/// it goes up in batches, each merged against the state the queue was made on, the pages of the answer are
/// followed until the server has nothing more, and all they hold is applied as one commit on main by the
/// device `sync`.
///
/// Nothing is remembered until the whole run succeeded: a run cut short (no network, a refusal, a crash)
/// leaves local main and ``SyncClientState`` as they were, except the recorded error, and the next run sends
/// the same queue from the same cursor. What the server already accepted of it is sent again, which the
/// protocol makes harmless (its values are already main's, so the merge changes nothing), and simpler than
/// remembering half a run.
public struct SyncClient: Sendable {
    /// The device name of the commits that apply the server's answers.
    public static let author = "sync"
    public static let defaultBatchSize = 1000
    /// The most bytes of answers one run reads, all its pages together: at 1000 spools a page and a few KB a spool,
    /// room for an inventory of tens of thousands of spools with large fields of their own.
    public static let defaultMaxAnswerBytes = 256 << 20
    /// Runs begun again because local main moved while the server answered, before giving up.
    static let attempts = 3

    public let store: InventoryStore
    public let dataFolder: String
    public let transport: any SyncTransport
    /// The server's address as the user gave it: remembered, named in messages and in the applied commits.
    public let server: String
    /// The `deviceId` sent to the server.
    public let device: String
    /// Most changes plus deletions per request, and per page of an answer.
    public var batchSize: Int
    /// Where the key was read from, remembered for the next run (the key itself never is).
    public var keyFile: String?
    /// Milliseconds, for `clientTime` (the server corrects this clock's skew) and the time of the last sync.
    public var clock: @Sendable () -> Int64
    /// Told after each accepted batch how many of the queue's entries the server has.
    public var progress: HistoryProgress?
    /// The most bytes of the server's answers one run reads, all pages together (``SyncAnswerTooLarge`` past it:
    /// nothing is applied). The answers of a run are held until the last page, so this bounds the run's memory.
    public var maxAnswerBytes: Int
    /// The most JSON values one answer (a page) may hold: what parsing it costs in memory goes with its values
    /// (a page of 500,000 tiny spools, 17 MB of JSON, took a client past 1 GB). A page of 1000 spools holds tens
    /// of thousands; the default allows two million.
    public var maxAnswerValues: Int { max(1, maxAnswerBytes / Self.bytesPerValue) }
    static let bytesPerValue = 128
    /// What each spool, deletion or conflict of an answer counts against ``maxAnswerBytes`` beyond its bytes.
    static let entryCost = 256

    /// A size in MB (`--max-answer-mb`), or in bytes below one.
    static func size(_ bytes: Int) -> String { bytes >= 1 << 20 ? "\(bytes >> 20) MB" : "\(bytes) bytes" }

    public init(store: InventoryStore, dataFolder: String, transport: any SyncTransport, server: String, device: String,
                batchSize: Int = defaultBatchSize, keyFile: String? = nil, clock: @escaping @Sendable () -> Int64 = SyncService.systemClock,
                progress: HistoryProgress? = nil, maxAnswerBytes: Int = defaultMaxAnswerBytes) {
        self.store = store
        self.dataFolder = dataFolder
        self.transport = transport
        self.server = server
        self.device = device
        self.batchSize = max(1, batchSize)
        self.keyFile = keyFile
        self.clock = clock
        self.progress = progress
        self.maxAnswerBytes = max(1, maxAnswerBytes)
    }

    /// Runs one sync. On failure, the error is recorded in the state file (for `filamentdb status`) and thrown.
    public func run() async throws(SyncClientError) -> SyncReport {
        do throws(SyncClientError) {
            var state = try local { () throws(HistoryError) in try SyncClientState.load(dataFolder: dataFolder) }
            let report = try await sync(&state)
            state.lastSync = clock()
            state.lastError = nil
            state.lastErrorAt = nil
            try local { () throws(HistoryError) in try state.save(dataFolder: dataFolder) }
            return report
        } catch {
            throw recorded(error)
        }
    }

    /// The number of spools local main changed since the commit the server has: what the next sync sends
    /// (every spool, when that commit is gone from a replaced history).
    public static func queueSize(_ store: InventoryStore, _ state: SyncClientState) async throws(HistoryError) -> Int {
        var synced = state.syncedCommit
        if let commit = synced, (try? await store.readCommit(commit)) == nil { synced = nil }
        return try await store.changedSerials(from: synced, to: try await store.head()).count
    }

    // MARK: the run

    func sync(_ state: inout SyncClientState) async throws(SyncClientError) -> SyncReport {
        var report = SyncReport(server: server, device: device)
        if state.server != server {
            // A first sync with this server: its cursor and commit mean nothing here, so everything is sent.
            state = SyncClientState()
        }
        state.server = server
        state.device = device
        if let keyFile { state.keyFile = keyFile }
        var moved = 0
        while true {
            if !(try await catchUp(&state)) { report.fullResync = true }
            let start = try await local { () async throws(HistoryError) in try await store.head() }
            let queue = try await self.queue(from: state.syncedCommit, to: start)
            let exchange = try await upload(queue, state)
            if exchange.fullResync, state.cursor != nil {
                // The server no longer knows this client's place: everything goes again, merged as a first sync
                // (against no base, so none of it overwrites a newer edit on the server). Once: there is no
                // cursor the next time.
                state.cursor = nil
                state.syncedCommit = nil
                state.lastServerTime = 0
                report.fullResync = true
                continue
            }
            guard let applied = try await apply(exchange, onto: start) else {
                moved += 1
                if moved < Self.attempts { continue }
                throw SyncClientError(.history(.contention), "local main changed during each of \(Self.attempts) attempts to apply the server's answer (another filamentdb is writing this history); nothing was applied here: run the sync again when it is done")
            }
            let last = exchange.answers[exchange.answers.count - 1]
            state.cursor = last.cursor
            state.lastServerTime = last.serverTime
            state.syncedCommit = applied.commit ?? start
            report.sentChanges = exchange.sentChanges
            report.sentDeletions = exchange.sentDeletions
            report.requests = exchange.requests
            report.receivedChanges = applied.changes
            report.receivedDeletions = applied.deletions
            report.conflicts = exchange.conflicts
            report.normalized = exchange.normalized
            report.commit = applied.commit
            report.head = applied.commit ?? start
            report.serverTime = last.serverTime
            report.totalSpools = last.totalSpools
            return report
        }
    }

    /// Brings `state` up to the history: a sync commit newer than the recorded one (its state file was not
    /// written: a crash, a full disk) is adopted from its trailers, so what it applied is not sent back as
    /// local changes. Returns false when the recorded commit is gone from the history (it was replaced):
    /// the state is reset and everything is sent again.
    func catchUp(_ state: inout SyncClientState) async throws(SyncClientError) -> Bool {
        guard let synced = state.syncedCommit else { return true }
        guard (try? await store.readCommit(synced)) != nil else {
            state.cursor = nil
            state.syncedCommit = nil
            state.lastServerTime = 0
            return false
        }
        var next = try await local { () async throws(HistoryError) in try await store.head() }
        while let id = next, id != synced {
            let commit = try await local { () async throws(HistoryError) in try await store.readCommit(id) }
            if commit.device == Self.author, let cursor = commit.trailer(Trailer.cursor), commit.trailer(Trailer.server) == JSONValue.string(server).jsonText {
                state.cursor = cursor
                state.syncedCommit = id
                state.lastServerTime = commit.trailer(Trailer.serverTime).flatMap { Int64($0) } ?? state.lastServerTime
                return true
            }
            next = commit.parents.first
        }
        return true
    }

    /// One entry of the queue as the request carries it.
    enum Entry: Sendable {
        /// A live spool: as sent (to compare with what comes back), and as the request carries it.
        case change(Spool, JSONValue)
        case deletion(SyncDeletion)
    }

    /// What local main changed since `synced`, as the server is sent it: live spools whole, without the `id`
    /// (a Dexie key local to some browser, not this client's: the server would map it as this device's); a
    /// tombstone as a deletion at its `lastUpdated` (the protocol's own form: the server applies its
    /// deletion-against-edit rule and keeps its copy's fields, rather than reading the tombstone's fields as
    /// edits); a removed file (a restore to before the spool existed) as a deletion now.
    func queue(from synced: ObjectID?, to head: ObjectID?) async throws(SyncClientError) -> [Entry] {
        do {
            let serials = try await store.changedSerials(from: synced, to: head)
            let spools = try await store.withRepository { repo in
                let tree = try repo.tree(of: head)
                return try serials.map { try repo.spool($0, inTree: tree) }
            }
            return try zip(serials, spools).map { (serial, spool) throws(SyncClientError) -> Entry in
                guard var spool, !spool.isDeleted else { return .deletion(.serial(serial, deletedAt: spool?.lastUpdated)) }
                spool["id"] = nil
                guard let object = try? JSONParser.parse(spool.compactJSON) else {
                    throw SyncClientError(.history(.damagedObject), "spool \(JSONValue.string(serial).jsonText) of local main cannot be written as JSON")
                }
                return .change(spool, object)
            }
        } catch let error as SyncClientError {
            throw error
        } catch let error as HistoryError {
            throw SyncClientError(error)
        } catch {
            throw SyncClientError(.history(.io), "reading local main: \(error)")
        }
    }

    /// What one run exchanged: the answers to apply (the last batch's and its pages, all from one state of the
    /// server), and what all the requests sent and were told.
    struct Exchange {
        var answers: [SyncResponse] = []
        var requests = 0
        var sentChanges = 0
        var sentDeletions = 0
        var conflicts: [SyncConflict] = []
        var fullResync = false
        /// Each serial the server accepted, with the spool sent (`nil`: a deletion).
        var sent: [ExactString: Spool?] = [:]
        /// What the checks changed in the applied answers' spools to store them.
        var normalized = NormalizerCounts()
        /// The bytes of every answer read so far (``SyncClient/maxAnswerBytes``).
        var answerBytes = 0
    }

    /// Sends the queue in batches, then follows the pages of the last batch's answer. Every batch carries the
    /// cursor the queue was made against: its edits were made on that state, so that is the base the server
    /// must merge them with (an earlier batch's answer names a state this history has not applied yet, against
    /// which its older values of fields another device changed would read as edits). A batch that more
    /// batches follow asks for a page of one entry: what the server has is read, whole, from the last batch's
    /// answer on, which also holds what the earlier batches' merges changed. A batch the server finds too
    /// large (413) goes again in halves. Stops early when the server asks a client that sent a cursor for a
    /// full resync (the run then begins again as a first sync).
    func upload(_ queue: [Entry], _ state: SyncClientState) async throws(SyncClientError) -> Exchange {
        var exchange = Exchange()
        var cursor = state.cursor, serverTime = state.lastServerTime
        // The cursors of the pages followed: a server whose pages come back to one never ends.
        var seenCursors = Set<String>()
        var pending = queue[...]
        var size = batchSize
        repeat {
            let batch = pending.prefix(size)
            let final = batch.count == pending.count
            var request = SyncRequest(deviceId: device, lastSyncTime: cursor == nil ? 0 : serverTime, cursor: cursor,
                                      clientTime: clock(), limit: final ? batchSize : 1)
            for entry in batch {
                switch entry {
                case .change(_, let json): request.changes.append(json)
                case .deletion(let deletion): request.deletions.append(deletion)
                }
            }
            let answer: (status: Int, body: [UInt8])
            do {
                answer = try await transport.send(request.json().jsonBytes, answerLimit: maxAnswerBytes - exchange.answerBytes)
            } catch let tooLarge as SyncAnswerTooLarge {
                throw SyncClientError(.answerTooLarge, "\(server) sent more than this client reads in one sync (\(Self.size(maxAnswerBytes)) of answers, all pages together): \(tooLarge); it was not read further, and nothing of it is applied")
            } catch let failure as SyncTransportFailure where failure.reached {
                throw SyncClientError(.unreachable, "\(server) gave no usable answer: \(failure.message)")
            } catch {
                throw SyncClientError(.unreachable, "cannot reach \(server): \(error)")
            }
            exchange.answerBytes += answer.body.count
            // Counted before parsing: a value of a few bytes costs a hundred or more in memory while its page is parsed.
            if (200..<300).contains(answer.status), JSONParser.valueCount(answer.body) > maxAnswerValues {
                throw SyncClientError(.answerTooLarge, "\(server) sent an answer of more JSON values than this client parses at once (\(maxAnswerValues), one for each \(Self.bytesPerValue) bytes of the \(Self.size(maxAnswerBytes)) it reads in one sync); nothing of it is applied")
            }
            guard (200..<300).contains(answer.status) else {
                let failure = SyncFailure(status: answer.status, body: answer.body)
                if failure.kind == .tooLarge, batch.count > 1 {
                    size = batch.count / 2
                    continue
                }
                throw refusal(failure)
            }
            // A page holds at most what was asked, and what this request sent that the merge changed: more is a
            // server that does not keep the protocol (and each entry costs memory until the last page).
            let response = try SyncResponse.parse(answer.body, entries: (request.limit ?? batchSize) + request.changes.count + request.deletions.count)
            // Each entry kept until the last page costs memory beyond its bytes (a page of 1000 spools of 36 bytes
            // took a client to 3 GB before the bytes reached the limit): counted as ``entryCost`` more.
            exchange.answerBytes += (response.encodedChanges.count + response.deletions.count + response.conflicts.count) * Self.entryCost
            if exchange.answerBytes > maxAnswerBytes {
                throw SyncClientError(.answerTooLarge, "\(server) sent more than this client reads in one sync (\(Self.size(maxAnswerBytes)) of answers, all pages together, counting \(Self.entryCost) bytes more for each spool, deletion and conflict): nothing of it is applied")
            }
            pending = pending.dropFirst(batch.count)
            exchange.requests += 1
            exchange.sentChanges += request.changes.count
            exchange.sentDeletions += request.deletions.count
            exchange.conflicts += response.conflicts
            for entry in batch {
                switch entry {
                case .change(let spool, _): exchange.sent[ExactString(spool.serial)] = .some(spool)
                case .deletion(.serial(let serial, _)): exchange.sent[ExactString(serial)] = .some(nil)
                case .deletion(.legacyID): break
                }
            }
            if response.fullResync, state.cursor != nil {
                exchange.fullResync = true
                return exchange
            }
            progress?(queue.count - pending.count, queue.count)
            guard final else { continue }
            if response.hasMore, response.cursor == cursor || !seenCursors.insert(response.cursor).inserted
                || response.encodedChanges.isEmpty && response.deletions.isEmpty || exchange.answers.count >= Self.pagesLimit {
                throw SyncClientError(.badAnswer, "\(server) answered that it has more but gave a cursor it gave before, a page with nothing, or more than \(Self.pagesLimit) pages: its pages would never end")
            }
            exchange.answers.append(response)
            exchange.normalized.add(response.normalized)
            cursor = response.cursor
            serverTime = response.serverTime
        } while !pending.isEmpty || exchange.answers.last?.hasMore == true
        return exchange
    }

    /// The most pages one run follows (at the server's page of ``batchSize`` spools, far more than any inventory).
    static let pagesLimit = 100_000

    func refusal(_ failure: SyncFailure) -> SyncClientError {
        switch failure.kind {
        case .unauthorized: SyncClientError(.keyRefused, "\(server) refused the key: \(failure.message)")
        case .badRequest, .tooLarge: SyncClientError(.refused, "\(server) refused the request: \(failure.message)", details: failure.details)
        case .unavailable: SyncClientError(.unreachable, "\(server) cannot take the request now: \(failure.message)")
        }
    }

    /// What the server sent for one serial: its spool, or its deletion at the answer's `serverTime`.
    enum Received: Sendable {
        case spool(Spool)
        case deletion(at: Int64)
    }

    struct Applied: Sendable {
        var commit: ObjectID?
        var changes: Int
        var deletions: Int
    }

    /// Applies every answer as one commit on main, if main is still at `start` (else `nil`: a local edit made
    /// meanwhile would be overwritten, or left out of the next queue). A later answer's word on a serial
    /// replaces an earlier one's. What the server sends back of this run's own earlier batches unchanged (the
    /// same spool but for the time its clock correction gave it, or the same deletion) is no news and is left
    /// out, as the server leaves out a request's own. A spool keeps the local copy's `id` when the server
    /// sends none (it never sends one to this client, which never sends any); a deletion becomes a tombstone
    /// of the local copy.
    func apply(_ exchange: Exchange, onto start: ObjectID?) async throws(SyncClientError) -> Applied? {
        var received: [ExactString: Received] = [:]
        for response in exchange.answers {
            for spool in response.changes { received[ExactString(spool.serial)] = .spool(spool) }
            for serial in response.deletions { received[ExactString(serial)] = .deletion(at: response.serverTime) }
        }
        for (serial, sent) in exchange.sent {
            switch (received[serial], sent) {
            case (.spool(let back)?, let spool?) where Self.sameButTime(back, spool): received[serial] = nil
            case (.deletion?, nil): received[serial] = nil
            default: break
            }
        }
        let entries = received.sorted { $0.key < $1.key }
        let last = exchange.answers[exchange.answers.count - 1]
        // The counts are of what the commit does: a deletion of a spool this history does not hold live deletes
        // nothing here (counted apart).
        @Sendable func message(changes: Int, deletions: Int, notHeld: Int) -> String {
            "sync with \(server): \(changes) spool\(changes == 1 ? "" : "s") received, \(deletions) deleted\n\n"
                + "Filamentdb-Source: sync\n\(Trailer.device): \(JSONValue.string(Self.author).jsonText)\n\(Trailer.server): \(JSONValue.string(server).jsonText)\n"
                + "\(Trailer.cursor): \(last.cursor)\n\(Trailer.serverTime): \(last.serverTime)\nFilamentdb-Conflicts: \(exchange.conflicts.count)\n"
                + (notHeld > 0 ? "Filamentdb-Deletions-Not-Held: \(notHeld)\n" : "")
                + exchange.normalized.trailers
        }
        let author = store.signature(Self.author)
        let outcome = try await local { () async throws(HistoryError) in
            try await store.write { (repo) throws(HistoryError) -> Applied? in
                guard try repo.head() == start else { return nil }
                let tree = try repo.tree(of: start)
                var commit: [(serial: String, spool: Spool?)] = []
                var (changes, deletions, notHeld) = (0, 0, 0)
                for (key, value) in entries {
                    let mine = try repo.spool(key.string, inTree: tree)
                    switch value {
                    case .spool(var spool):
                        if spool["id"] == nil { spool["id"] = mine?["id"] }
                        commit.append((key.string, spool))
                        changes += 1
                    case .deletion(let time):
                        guard var tombstone = mine, !tombstone.isDeleted else {
                            notHeld += 1
                            continue
                        }
                        tombstone["deleted"] = .bool(true)
                        tombstone["lastUpdated"] = .int(time)
                        commit.append((key.string, tombstone))
                        deletions += 1
                    }
                }
                let made = try repo.commit(changes: commit, author: author, message: message(changes: changes, deletions: deletions, notHeld: notHeld))
                return Applied(commit: made, changes: changes, deletions: deletions)
            }
        }
        return outcome
    }

    /// Whether two copies of a spool differ at most in `lastUpdated` and the local `id`.
    static func sameButTime(_ a: Spool, _ b: Spool) -> Bool {
        var a = a, b = b
        for field in ["lastUpdated", "id"] {
            a[field] = nil
            b[field] = nil
        }
        return a.canonicalJSON == b.canonicalJSON
    }

    /// The trailers of an applied commit that ``catchUp(_:)`` reads back.
    enum Trailer {
        static let device = "Filamentdb-Device"
        static let server = "Filamentdb-Server"
        static let cursor = "Filamentdb-Sync-Cursor"
        static let serverTime = "Filamentdb-Server-Time"
    }

    // MARK: errors

    /// `error` after recording it in the state file; a failure to record it is added to its message.
    func recorded(_ failure: SyncClientError) -> SyncClientError {
        do throws(HistoryError) {
            var state = try SyncClientState.load(dataFolder: dataFolder)
            state.lastError = failure.message
            state.lastErrorAt = clock()
            try state.save(dataFolder: dataFolder)
            return failure
        } catch {
            var failure = failure
            failure.message += " (and it could not be recorded: \(error))"
            return failure
        }
    }

    func local<T>(_ body: () async throws(HistoryError) -> T) async throws(SyncClientError) -> T {
        do {
            return try await body()
        } catch {
            throw SyncClientError(error)
        }
    }

    func local<T>(_ body: () throws(HistoryError) -> T) throws(SyncClientError) -> T {
        do {
            return try body()
        } catch {
            throw SyncClientError(error)
        }
    }
}
