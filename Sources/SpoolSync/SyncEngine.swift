import Foundation
import SpoolHistory
import SpoolModel

/// One request's work on the repository: where the device stands, what it sent as spools, the commit and
/// merge, the answer and the device's new state. Runs on the store's actor (one request at a time per
/// repository) and again from the start after a lost race, so it keeps nothing between attempts.
struct SyncEngine: Sendable {
    let request: SyncRequest
    /// ``SyncRequest/digest`` of the request (worked out once, by the service).
    let digest: String
    let configuration: SyncConfiguration
    let author: Signature
    let clock: ServerClock
    /// The number of live spools at a state of main, when known: read and brought up to date by each request
    /// in turn (requests in flight together each see the one before's).
    let counter: SpoolCounter
    /// Spool files as answers send them.
    let files: AnswerFiles
    /// Every file at a state of main, in serial order.
    let listing: MainListing
    /// How main changed at each state this server moved it to.
    let mainLog: MainLog
    /// Each device's state as last read or written.
    let states: DeviceStates
    /// When the request's journal record is flushed: with others' (``SyncConfiguration/groupCommit``, requests in
    /// flight together), beside the rest of its work (a request alone), or before the next request starts.
    let flush: RecordFlush
    /// The request's spools checked and migrated before it reached the history (``prepare(_:)``), when that
    /// could be done without it.
    let prepared: Prepared?

    /// The request's spools as ``SpoolNormalizer`` makes them, worked out before the request waits for the
    /// history (while other requests are applied): it needs nothing the history holds unless the device's ids
    /// rename a spool, or a spool has no time of its own (it then takes the request's arrival). ``run(_:)`` uses
    /// them when neither happened, and normalises again otherwise.
    struct Prepared: Sendable {
        let spools: [Spool]
        let outcome: ImportOutcome
    }

    static func prepare(_ request: SyncRequest) -> Prepared? {
        let records = rawRecords(request)
        guard !records.isEmpty else { return nil }
        // The time is a stand-in: a record that needs it is normalised again with the request's arrival.
        let (spools, outcome) = SpoolNormalizer(now: 0).normalize(records)
        // Rejected records stay in the outcome: the request is refused with them, not normalised again to find them.
        guard outcome.migrated[MigrationRule.lastUpdatedFromImportTime.rawValue] == nil else { return nil }
        return Prepared(spools: spools, outcome: outcome)
    }

    /// The request's changes as records for the normaliser (those without a serial are the request's checks' to
    /// refuse). A record sent twice (the same serial and the same id, or none) is one record: its later version
    /// (by `lastUpdated`, else the later in the request) is kept, the other superseded (counted by ``run(_:)``),
    /// not renamed to a serial of its own as two records of one serial with different ids are (the
    /// normaliser's derived-serial rule).
    static func rawRecords(_ request: SyncRequest, keepingDuplicates: Bool = false) -> [RawRecord] {
        var records: [RawRecord] = []
        records.reserveCapacity(request.changes.count)
        // The record of each serial, and (rarely) the others of that serial, with other ids.
        var first: [ExactString: Int] = [:]
        var others: [ExactString: [Int]] = [:]
        var superseded = false
        for (i, change) in request.changes.enumerated() {
            guard let object = change.objectValue, let serial = object["serial"]?.stringValue else { continue }
            let key = ExactString(serial)
            if !keepingDuplicates, let n = first[key] {
                let id = object["id"]
                if let same = ([n] + (others[key] ?? [])).first(where: { records[$0].object.objectValue?["id"] == id }) {
                    superseded = true
                    func time(_ o: [String: JSONValue]?) -> Int64 { if case .int(let t)? = o?["lastUpdated"] { t } else { .min } }
                    if time(object) >= time(records[same].object.objectValue) { records[same] = RawRecord(object: .object(object), row: i + 1) }
                    continue
                }
                others[key, default: []].append(records.count)
            } else {
                first[key] = records.count
            }
            records.append(RawRecord(object: .object(object), row: i + 1))
        }
        // In the request's order, as the normaliser's renaming and the refusals' paths expect.
        if superseded { records.sort { $0.row < $1.row } }
        return records
    }

    enum Outcome: Sendable {
        case refused(SyncFailure)
        /// `durable`: the journal offset whose flush makes the request durable, when it was not flushed yet.
        case answered(SyncResponse, durable: (offset: Int, flusher: JournalFlusher)?)
    }

    func run(_ repo: InventoryRepository) throws(HistoryError) -> Outcome {
        let count = counter.value
        let device = request.deviceId
        let serverTime = clock.next()
        let state = try repo.syncState(of: device)
        let known = state.exists ? states.state(of: device, document: state.document) : nil
        let main = try repo.head()

        // Where the device stands, and when the request arrived (a retry keeps the first arrival's time).
        var arrival = serverTime
        var fullResync = false
        var position: SyncPosition
        // What the request's spools are merged against, when it is not where its answer starts (below).
        var mergeBase: ObjectID??
        if let last = known?.request, last.digest == digest, let from = try valid(SyncPosition(cursor: last.from), repo, main) {
            position = from
            arrival = last.arrival
            // (Merged where its first sending was; a base older than the tombstones kept since is merged against
            // nothing, as before there was a merge base of its own.)
            if let merge = last.merge, let p = try valid(SyncPosition(cursor: merge), repo, main) { mergeBase = .some(p.base) }
        } else if let cursor = request.cursor {
            if let p = try valid(SyncPosition(cursor: cursor), repo, main) { position = p } else { position = .nothing; fullResync = true }
        } else if request.lastSyncTime == 0 {
            position = .nothing
            // A device this server knows, sending its spools with `lastSyncTime: 0`, has lost the record of its
            // syncs, not its spools (the web app's browser, killed before it wrote its localStorage): it is still
            // answered everything, but what it sends is merged against where its last request started (what it had
            // then, whether or not that answer arrived: a field that answer changed and the device has otherwise is a
            // conflict, decided and recorded, never taken for the device's edit), not against nothing, where every
            // field its rows lack would overrule, as a conflict, what another device set since. (After a first sync,
            // which started from nothing, and through the batches of a first upload, that is still nothing.)
            if let known, !(request.changes.isEmpty && request.deletions.isEmpty), let last = known.request,
               let p = try valid(SyncPosition(cursor: last.merge ?? last.from), repo, main), p.page == nil, p.base != nil {
                mergeBase = .some(p.base)
            }
        } else if let known {
            let named = known.answers.first { $0.time == request.lastSyncTime }?.cursor
                ?? (known.request?.lastSyncTime == request.lastSyncTime ? known.request?.from : nil)
                ?? known.answer
            if let p = try valid(named.flatMap(SyncPosition.init(cursor:)), repo, main) { position = p } else { position = .nothing; fullResync = true }
        } else {
            position = SyncPosition(base: try repo.mainState(before: request.lastSyncTime), page: nil)
        }
        if position.page?.full == true { fullResync = true }
        // `lastSyncTime: 0` without a cursor and with nothing to send asks for everything, what the device sent in
        // earlier requests too (a browser whose database was cleared keeps its device id), and so do the later pages
        // of that answer. (With changes, it is a batch of a first upload, whose earlier batches the device has.)
        let everything = fullResync || position.page?.all == true
            || (request.cursor == nil && request.lastSyncTime == 0 && request.changes.isEmpty && request.deletions.isEmpty)
        let baseTree = try repo.tree(of: position.base)
        let mainTree = try repo.tree(of: main)
        let merging = mergeBase ?? position.base
        let mergeTree = mergeBase == nil ? baseTree : try repo.tree(of: merging)

        // The spools as sent: the device's own ids mapped to the serials they stand for, checked and migrated.
        var renamed: [SyncRename] = []
        var mappedSerials: [Int: String] = [:]
        // The rows whose serial is derived in this request (``unclaimed``).
        var derivedRows = Set<Int>()
        for (i, change) in request.changes.enumerated() {
            guard let object = change.objectValue, let serial = object["serial"]?.stringValue else { continue }
            if case .int(let id)? = object["id"] {
                var mapped: String?
                if let s = try repo.syncSerial(ofID: String(id), in: state), s != serial, s.hasPrefix(serial + "~") {
                    mapped = s
                } else if let other = try repo.syncID(of: serial, in: state), other != .int(id),
                          try repo.syncSerial(ofID: other.jsonText, in: state) == serial {
                    // Another of this device's records holds the serial: this one gets a serial of its own (by the
                    // normaliser's rule, so that a serial at the length limit leaves room for it).
                    mapped = SpoolNormalizer.derivedSerial(serial, "id-\(id)")
                    derivedRows.insert(i + 1)
                }
                if let mapped {
                    mappedSerials[i] = mapped
                    if !renamed.contains(where: { $0.id == id && $0.newSerial == mapped }) { renamed.append(SyncRename(id: id, serial: serial, newSerial: mapped)) }
                }
            }
        }
        var spools: [Spool]
        let outcome: ImportOutcome
        if renamed.isEmpty, let prepared {
            (spools, outcome) = (prepared.spools, prepared.outcome)
        } else {
            var records = Self.rawRecords(request)
            for (n, record) in records.enumerated() {
                guard let mapped = mappedSerials[record.row - 1], var object = record.object.objectValue else { continue }
                object["serial"] = .string(mapped)
                records[n].object = .object(object)
            }
            (spools, outcome) = SpoolNormalizer(now: arrival).normalize(records)
        }
        if !outcome.rejected.isEmpty {
            // Every record's problems, those sent twice too (a refusal lists each entry it refuses).
            let rejected = spools.count + outcome.rejected.count < request.changes.count
                ? SpoolNormalizer(now: arrival).normalize(Self.rawRecords(request, keepingDuplicates: true)).outcome.rejected : outcome.rejected
            let details = rejected.flatMap { r in
                r.problems.map { SyncFailure.Detail(path: "changes[\(r.location.row - 1)]" + ($0.field.isEmpty ? "" : "." + $0.field), message: $0.message) }
            }
            return .refused(SyncFailure.malformed(details, count: details.count, in: "the request's spools"))
        }
        for r in outcome.renamed { if let id = r.id { renamed.append(SyncRename(id: id, serial: r.serial, newSerial: r.newSerial)) } }
        // Records sent twice (``rawRecords(_:)``): applied as their later version.
        let superseded = request.changes.count - spools.count
        for r in outcome.renamed { derivedRows.insert(r.location.row) }
        if !derivedRows.isEmpty { try unclaimed(&spools, &renamed, rows: derivedRows, repo, state, mainTree) }

        // Clock skew: with `clientTime`, every time shifts by the device's offset. Then, with or without it, a time
        // more than the tolerance ahead of the server is the server's time (counted): a `clientTime` far in the past
        // would otherwise shift the device's times decades ahead, to win every conflict and make its deletions
        // final; and a correct `clientTime` does not make a wrong `lastUpdated` right. The result is a time a spool
        // may hold (0 to `Timestamps.limit`), whatever the request's clientTime or deletedAt: a time the server adds to
        // (`+ 1` after what was sent) never overflows, and no device is sent a time JavaScript cannot hold.
        // An offset under `skewTolerance` is the request's travel time, not the device's clock: none.
        let offset = request.clientTime.flatMap { (c: Int64) -> Int64? in
            let (difference, overflow) = arrival.subtractingReportingOverflow(c)
            if overflow { return c < 0 ? Int64.max : Int64.min }
            return difference.magnitude < configuration.skewTolerance.magnitude ? nil : difference
        }
        var clamped = 0
        func corrected(_ t: Int64) -> Int64 {
            var time = t
            if let offset {
                let (sum, overflow) = t.addingReportingOverflow(offset)
                time = overflow ? (offset > 0 ? Int64.max : 0) : sum
            }
            if time > arrival &+ configuration.futureTolerance {
                clamped += 1
                return arrival
            }
            return max(time, 0)
        }

        // What the device has now, by serial (the last of a serial wins): its ids out, the base's in. Keyed by the
        // serials' bytes: two serials Swift calls equal (a precomposed "Å" and an "A" with a combining ring) are two
        // spools, as their files are; a String key made one of them take the other's fields.
        var mine: [ExactString: Spool] = [:]
        var sentTimes: [ExactString: Int64] = [:]
        var ids: [(serial: String, id: JSONValue?)] = []
        var serialsOfIDs: [(id: String, serial: String?)] = []
        var idNow: [ExactString: JSONValue?] = [:], serialNow: [ExactString: String?] = [:]
        // main's file of each serial the request names, looked up once.
        var mainFiles: [ExactString: ObjectID?] = [:]
        func mainFile(_ serial: String) throws(HistoryError) -> ObjectID? {
            if let known = mainFiles[ExactString(serial)] { return known }
            let file = try repo.spoolFile(serial, inTree: mainTree)
            mainFiles[ExactString(serial)] = .some(file)
            return file
        }
        // The serial's file where the request is merged (main's, looked up once, when that is main).
        func baseFile(_ serial: String) throws(HistoryError) -> ObjectID? {
            mergeTree == mainTree ? try mainFile(serial) : try repo.spoolFile(serial, inTree: mergeTree)
        }
        // The id a stored file holds (an imported export's; files written from syncs hold none).
        func storedID(_ serial: String) throws(HistoryError) -> JSONValue? {
            var file = try baseFile(serial)
            if file == nil, mergeTree != mainTree { file = try mainFile(serial) }
            guard let file, try files.info(file, repo).hasID else { return nil }
            return try repo.decodeSpool(file, serial: serial)["id"]
        }
        for var spool in spools {
            let serial = spool.serial
            let original = spool.lastUpdated ?? arrival
            spool["lastUpdated"] = .int(corrected(original))
            if let id = spool["id"], id != .null {
                // Only what changes is recorded (a device sends the same ids request after request); the
                // state as this request left it counts, for a serial or an id it named twice.
                let old: JSONValue?
                if let now = idNow[ExactString(serial)] { old = now } else { old = try repo.syncID(of: serial, in: state) }
                if old != id {
                    ids.append((serial, id))
                    idNow[ExactString(serial)] = .some(id)
                    if let old { serialsOfIDs.append((old.jsonText, nil)) }
                }
                let named: String?
                if let now = serialNow[ExactString(id.jsonText)] { named = now } else { named = try repo.syncSerial(ofID: id.jsonText, in: state) }
                if old != id || named.map(ExactString.init) != ExactString(serial) {
                    serialsOfIDs.append((id.jsonText, serial))
                    serialNow[ExactString(id.jsonText)] = .some(serial)
                }
            }
            spool["id"] = try storedID(serial)
            mine[ExactString(serial)] = spool
            sentTimes[ExactString(serial)] = original
        }

        // Deletions: a tombstone at the deletion's time (corrected like `lastUpdated`).
        var unresolved: [Int64] = []
        var deletionsMovedLater = 0
        var synced = spools.count + superseded
        for deletion in request.deletions {
            let serial: String, time: Int64
            switch deletion {
            case .legacyID(let n):
                guard let s = try repo.syncSerial(ofID: String(n), in: state) ?? spools.first(where: { $0["id"] == .int(n) })?.serial else {
                    unresolved.append(n)
                    continue
                }
                serial = s
                time = request.clientTime.map(corrected) ?? arrival
                ids.append((s, nil))
                serialsOfIDs.append((String(n), nil))
            case .serial(let s, let at):
                serial = s
                time = (at ?? request.clientTime).map(corrected) ?? arrival
            }
            synced += 1
            // The version the device saw: its own, else the one at its place (not main's, which it may never have seen).
            var seen = mine[ExactString(serial)]
            if seen == nil { seen = try repo.spool(serial, inTree: mergeTree) }
            var current = seen
            if current == nil { current = try repo.spool(serial, inTree: mainTree) }
            // Already deleted (as the device saw it, else on main): nothing to do, unless this deletion is later than
            // that tombstone (the spool was made again, or kept, and deleted later): an edit older than it, already on
            // main or arriving next, must not bring the spool back.
            if let current, current.isDeleted, mine[ExactString(serial)] == nil, time <= (current.lastUpdated ?? .max) { continue }
            var tombstone = current ?? Spool(normalizedFields: ["serial": .string(serial)])
            tombstone["deleted"] = .bool(true)
            // Deleting a spool comes after the version the device saw of it (counted: the time is changed).
            let after = (seen?.lastUpdated ?? time - 1) + 1
            if after > time { deletionsMovedLater += 1 }
            tombstone["lastUpdated"] = .int(max(time, after))
            mine[ExactString(serial)] = tombstone
            sentTimes[ExactString(serial)] = sentTimes[ExactString(serial)] ?? time
        }

        // The device's commit and its merge: a spool that goes back to its sender is later than what it sent.
        let changes = mine.sorted { utf8Ordered($0.key.string, $1.key.string) }.map { ($0.key.string, $0.value) }
        // Each spool's file as sent, and its id (what the merge kept as sent has that very file in main), on every core.
        let encoded = Parallel.map(changes.count) { range in
            range.map { i in
                let bytes = changes[i].1.canonicalJSON
                return (bytes, GitRepository.blobID(bytes))
            }
        }.flatMap { $0 }
        let sentBytes = Dictionary(uniqueKeysWithValues: zip(changes.map { ExactString($0.0) }, encoded.map(\.0)))
        let sentFiles = zip(changes, encoded).map { (serial: $0.0.0, file: $0.1.1) }
        let sentFileOf = Dictionary(sentFiles.map { (ExactString($0.serial), $0.file) }, uniquingKeysWith: { a, _ in a })
        let correctedTimes = mine.mapValues { $0.lastUpdated ?? 0 }
        let adjust: (String, Spool?) -> Spool? = { serial, merged in
            let key = ExactString(serial)
            guard var merged, merged != mine[key], let sent = sentBytes[key], merged.canonicalJSON != sent else { return merged }
            let floor = (correctedTimes[key] ?? 0) + 1
            if (merged.lastUpdated ?? 0) < floor { merged["lastUpdated"] = .int(floor) }
            return merged
        }
        var message = "sync \(JSONValue.string(device).jsonText): \(spools.count) changed, \(synced - spools.count - superseded) deleted\n\n"
        message += "Filamentdb-Source: sync\nFilamentdb-Device: \(JSONValue.string(device).jsonText)\nFilamentdb-Server-Time: \(arrival)\n"
        if let offset, offset != 0 { message += "Filamentdb-Clock-Offset: \(offset)\n" }
        if clamped > 0 { message += "Filamentdb-Clamped: \(clamped)\n" }
        if deletionsMovedLater > 0 { message += "Filamentdb-Deletions-Moved-Later: \(deletionsMovedLater)\n" }
        if !renamed.isEmpty { message += "Filamentdb-Renamed: \(renamed.count)\n" }
        if superseded > 0 { message += "Filamentdb-Superseded: \(superseded)\n" }
        message += NormalizerCounts(outcome).trailers
        // Files that are, byte for byte, those of the device's base (a spool sent again unchanged) change neither
        // its branch nor main: no commit for them (the first changed file ends the look).
        var unchanged = true
        for f in sentFiles where try baseFile(f.serial) != f.file {
            unchanged = false
            break
        }
        var prepared = try repo.prepareSync(device: device, base: merging,
                                            files: unchanged ? [] : zip(changes, sentFiles).map { ($0.0.0, sentBytes[ExactString($0.0.0)]!, $0.1.file) },
                                            message: message, author: author, adjust: adjust, spools: mine)
        // Its journal record first (the flush of a request alone starts now), then its trees and commits.
        try repo.recordSync(&prepared, ids: ids, serialsOfIDs: serialsOfIDs, sent: sentFiles, flush: flush)
        try repo.buildSync(&prepared)
        let head = prepared.main
        let headTree = try repo.tree(of: head)

        // The answer: what changed since the device's place, less what it just sent unless the merge changed it.
        var response = SyncResponse(serverTime: serverTime, cursor: "", head: head?.hex)
        let target = position.page.map(\.target) ?? head
        // When main had not moved since the device's place, the merge is the device's commit, file for file: main
        // changed since that place only in what the device sent.
        let fastForward = position.base == main
        // A first sync of a device that has no state here and sends nothing: every live file at the target as
        // every such device gets it while main stays there, kept from the last one (``MainListing/plainAnswer(at:limit:)``).
        let plain = position.base == nil && position.page == nil && mine.isEmpty && !state.exists
        let kept = plain ? target.flatMap { listing.plainAnswer(at: $0, limit: request.limit) } : nil
        // Each spool as its file holds it (`nil`: a deletion, when the device's place had the spool live), in
        // serial order, up to one past the page (which says there is more): a page costs what it sends, not the
        // inventory's size (pages of 1,000 of a 100,000-spool first sync took 72 ms each, against 7 ms for each
        // thousand of a single answer, when every page looked up every file after its place).
        var entries: [(serial: String, file: AnswerFiles.File?)] = []
        let wanted = request.limit.map { $0 < Int.max ? $0 + 1 : $0 } ?? Int.max
        func consider(_ serial: String, _ file: ObjectID?) throws(HistoryError) {
            // What the device sent in an earlier request, still as it sent it, it has (unless it is to replace
            // its whole inventory with this answer).
            if let file, !everything, state.exists, try repo.syncSentFile(of: serial, in: state) == file { return }
            if let file, !(try files.info(file, repo).tombstone) {
                entries.append((serial, try files.file(file, repo)))
                return
            }
            // A deletion, to a device that has the spool live: at its place, or as it sent it in an earlier request
            // (an earlier batch of its run, merged on the same place).
            if let was = try repo.spoolFile(serial, inTree: baseTree), !(try files.info(was, repo).tombstone) {
                entries.append((serial, nil))
            } else if !everything, state.exists, let sent = try repo.syncSentFile(of: serial, in: state),
                      !(try files.info(sent, repo).tombstone) {
                entries.append((serial, nil))
            }
        }
        if fastForward && position.page == nil || kept != nil {
            // Nothing changed but what the device sent, or the answer is kept whole.
        } else if position.base == nil, let target {
            // From nothing (a first sync, a full resync): the files at the target after the page's place, from the
            // listing kept in order.
            for (serial, file) in try listing.files(at: target, repo, log: mainLog, after: position.page?.after) where mine[ExactString(serial)] == nil {
                if entries.count >= wanted { break }
                try consider(serial, file)
            }
        } else {
            var changed: [(serial: String, file: ObjectID?)]
            if position.page == nil, let base = position.base, let logged = mainLog.changes(from: base, to: main) {
                // From main's steps since the device's place, as this server made them (the merge's own changes are
                // the device's), when every one is known; else from the trees.
                changed = sortedByUTF8(logged.filter { mine[ExactString($0.serial)] == nil }, \.serial)
            } else {
                changed = sortedByUTF8(try repo.changedFiles(from: position.base, to: target).filter { mine[ExactString($0.serial)] == nil }, \.serial)
            }
            if let after = position.page?.after { changed = changed.filter { utf8Ordered(after, $0.serial) } }
            entries.reserveCapacity(min(changed.count, wanted))
            for (serial, file) in changed {
                if entries.count >= wanted { break }
                try consider(serial, file)
            }
        }
        var page = entries
        if let limit = request.limit, entries.count > limit {
            page = Array(entries.prefix(limit))
            response.hasMore = true
            response.cursor = SyncPosition(base: position.base, page: .init(target: target, after: page.last!.serial, full: fullResync,
                                                                            all: everything && !fullResync)).cursor
        } else {
            response.cursor = SyncPosition(base: target, page: nil).cursor
        }
        // What the device sent and the merge changed (or overruled) goes back whatever the page (nothing, when
        // the merge is the device's commit).
        for (serial, sent) in changes where !fastForward {
            let file = try repo.spoolFile(serial, inTree: headTree)
            if let file, file == sentFileOf[ExactString(serial)] { continue }
            let v = try file.map { (f) throws(HistoryError) in try repo.decodeSpool(f, serial: serial) }
            if v == nil || v!.isDeleted {
                if !sent.isDeleted { page.append((serial, nil)) }
            } else {
                page.append((serial, AnswerFiles.File(compact: v!.compactJSON, tombstone: false, hasID: v!["id"] != nil)))
            }
        }
        // Out: this device's own id (or none), and later than what it sent; the rest copied as stored.
        let newIDs = Dictionary(ids.map { (ExactString($0.serial), $0.id) }, uniquingKeysWith: { _, b in b })
        response.encodedChanges.reserveCapacity(page.count)
        for (serial, file) in page {
            guard let file else {
                response.deletions.append(serial)
                continue
            }
            let id: JSONValue?
            if let mapped = newIDs[ExactString(serial)] { id = mapped } else if state.exists { id = try repo.syncID(of: serial, in: state) } else { id = nil }
            let sent = sentTimes[ExactString(serial)]
            if id == nil, sent == nil, !file.hasID {
                response.encodedChanges.append(file.compact)
                continue
            }
            guard var spool = Spool(canonicalJSON: file.compact) else {
                throw HistoryError(.damagedObject, "the file of spool \(JSONValue.string(serial).jsonText) does not parse as a spool", path: repo.path)
            }
            spool["id"] = id
            if let sent, (spool.lastUpdated ?? 0) <= sent { spool["lastUpdated"] = .int(sent + 1) }
            response.encodedChanges.append(spool.compactJSON)
        }
        if let kept {
            response.encodedChanges = kept
        } else if plain, let target, !response.hasMore, response.deletions.isEmpty {
            listing.keepPlainAnswer(response.encodedChanges, at: target)
        }
        response.conflicts = (prepared.merge?.conflicts ?? []).map {
            SyncConflict(serial: $0.serial, field: $0.field, clientValue: $0.theirs, serverValue: $0.ours,
                         winner: $0.winner == .theirs ? "client" : "server", reason: $0.reason, id: $0.id)
        }
        response.synced = synced
        response.unresolvedDeletions = unresolved
        response.renamed = renamed
        response.fullResync = fullResync
        // The count follows the merge's changes when it was known for main before them.
        var counted = count
        if let c = count, c.commit == main, let merge = prepared.merge, head != main {
            var n = c.spools
            for serial in merge.changed {
                let live: Bool
                if fastForward, let sent = mine[ExactString(serial)] {
                    live = !sent.isDeleted
                } else if let file = merge.files[ExactString(serial)] {
                    live = try file.map { (f) throws(HistoryError) in !(try files.info(f, repo).tombstone) } ?? false
                } else {
                    live = try Self.isLive(serial, headTree, repo, files)
                }
                let wasLive = try mainFile(serial).map { (f) throws(HistoryError) in !(try files.info(f, repo).tombstone) } ?? false
                n += (live ? 1 : 0) - (wasLive ? 1 : 0)
            }
            counted = SpoolCount(commit: head, spools: n)
        }
        let spoolCount = try SyncEngine.count(at: head, from: counted, repo)
        response.totalSpools = spoolCount.spools

        // The device's new state, landed with the commits.
        var newState = known ?? DeviceSyncState()
        newState.answer = response.cursor
        newState.answers.append((serverTime, response.cursor))
        if newState.answers.count > DeviceSyncState.kept { newState.answers.removeFirst(newState.answers.count - DeviceSyncState.kept) }
        newState.request = .init(lastSyncTime: request.lastSyncTime, digest: digest, from: position.cursor, arrival: arrival,
                                 merge: mergeBase.map { SyncPosition(base: $0, page: nil).cursor })
        let document = newState.json
        let journalOffset = try repo.landSync(prepared, state: document, author: author)
        states.keep(newState, document: document, of: device)
        files.add(zip(sentFiles.map(\.file), encoded.map(\.0)).map { ($0.0, $0.1) })
        // This request's step of main, for later answers.
        if let head, head != main {
            var step: [(serial: String, file: ObjectID?)] = []
            if fastForward {
                for (serial, file) in sentFiles where try mainFile(serial) != file { step.append((serial, file)) }
            } else {
                for serial in prepared.merge?.changed ?? [] {
                    if let file = prepared.merge?.files[ExactString(serial)] { step.append((serial, file)) } else { step.append((serial, try repo.spoolFile(serial, inTree: headTree))) }
                }
            }
            mainLog.record(from: main, to: head, files: step)
        }
        let durable = journalOffset.flatMap { o in repo.git.journal.map { (o, $0.flusher) } }
        counter.value = spoolCount
        return .answered(response, durable: durable)
    }

    /// Gives each spool whose serial this request derived (`rows`: the device's second record of a serial) a
    /// serial no other spool holds: a derived serial already on main that is not this device's record of that id
    /// (another device's spool, or one sent under that very name) becomes `~2`, `~3`… rather than overwriting it.
    func unclaimed(_ spools: inout [Spool], _ renamed: inout [SyncRename], rows: Set<Int>, _ repo: InventoryRepository,
                   _ state: SyncStateRecord, _ mainTree: ObjectID?) throws(HistoryError) {
        // The spools are the request's records in order (``rawRecords(_:)``; a request with a refused one stops before).
        let spoolRows = Self.rawRecords(request).map(\.row)
        guard spoolRows.count == spools.count else { return }
        var inRequest = Set(spools.map { ExactString($0.serial) })
        for j in spools.indices where rows.contains(spoolRows[j]) {
            let candidate = spools[j].serial
            let id: Int64? = if case .int(let n)? = spools[j]["id"] { n } else { nil }
            func claimed(_ name: String) throws(HistoryError) -> Bool {
                guard try repo.spoolFile(name, inTree: mainTree) != nil else { return false }
                if let id, try repo.syncSerial(ofID: String(id), in: state) == name { return false }
                return true
            }
            guard try claimed(candidate) else { continue }
            var k = 2
            while true {
                let name = "\(candidate)~\(k)"
                if !inRequest.contains(ExactString(name)), try !claimed(name) { break }
                k += 1
            }
            let name = "\(candidate)~\(k)"
            spools[j]["serial"] = .string(name)
            inRequest.insert(ExactString(name))
            if let n = renamed.firstIndex(where: { $0.newSerial == candidate && $0.id == id }) { renamed[n].newSerial = name }
        }
    }

    /// `position` if it names states of main (`nil` otherwise: the device is asked to resync in full).
    func valid(_ position: SyncPosition?, _ repo: InventoryRepository, _ main: ObjectID?) throws(HistoryError) -> SyncPosition? {
        guard let position else { return nil }
        // States of main this server has seen are known in order; others are looked up in the commit graph.
        func contains(_ ancestor: ObjectID, _ commit: ObjectID) throws(HistoryError) -> Bool {
            if let known = repo.precedesOnMain(ancestor, commit) { return known }
            guard (try? repo.git.readCommit(ancestor)) != nil else { return false }
            return try repo.git.contains(ancestor, in: commit)
        }
        for commit in [position.base, position.page?.target ?? nil].compactMap({ $0 }) {
            guard let main, try contains(commit, main) else { return nil }
        }
        // A place older than the last purge of tombstones may lack deletions that are no longer there to send.
        if let base = position.base, let horizon = try repo.tombstoneHorizon(), try !contains(horizon, base) { return nil }
        return position
    }

    /// Whether `serial` has a file in `tree` that is not a tombstone (read as bytes, not decoded).
    static func isLive(_ serial: String, _ tree: ObjectID?, _ repo: InventoryRepository, _ files: AnswerFiles? = nil) throws(HistoryError) -> Bool {
        guard let file = try repo.spoolFile(serial, inTree: tree) else { return false }
        if let files { return !(try files.info(file, repo).tombstone) }
        return !CanonicalFile.isTombstone(try repo.git.readBlob(file))
    }

    /// The live spools at `head`: from the last count, by the serials changed since.
    static func count(at head: ObjectID?, from count: SpoolCount?, _ repo: InventoryRepository) throws(HistoryError) -> SpoolCount {
        if let count, count.commit == head { return count }
        guard let head else { return SpoolCount(commit: nil, spools: 0) }
        let headTree = try repo.tree(of: head)
        if let count {
            let oldTree = try repo.tree(of: count.commit)
            var n = count.spools
            for serial in try repo.changedSerials(from: count.commit, to: head) {
                n += (try isLive(serial, headTree, repo) ? 1 : 0) - (try isLive(serial, oldTree, repo) ? 1 : 0)
            }
            return SpoolCount(commit: head, spools: n)
        }
        var n = 0
        for (_, blob) in try repo.files(at: head) {
            if !CanonicalFile.isTombstone(try repo.git.readBlob(blob)) { n += 1 }
        }
        return SpoolCount(commit: head, spools: n)
    }
}

/// Each device's sync state (``DeviceSyncState``) with the document it was read from or written as: the next
/// request of the device finds it here while its document is that one, rather than parsing it again. Used only
/// on the history's actor; up to ``limit`` devices, then emptied.
final class DeviceStates: @unchecked Sendable {
    private var known: [ExactString: (document: [UInt8], state: DeviceSyncState)] = [:]
    static let limit = 10_000

    func state(of device: String, document: [UInt8]?) -> DeviceSyncState? {
        guard let document else { return nil }
        if let kept = known[ExactString(device)], kept.document == document { return kept.state }
        guard let state = DeviceSyncState(json: document) else { return nil }
        keep(state, document: document, of: device)
        return state
    }

    func keep(_ state: DeviceSyncState, document: [UInt8], of device: String) {
        if known.count >= Self.limit, known[ExactString(device)] == nil { known.removeAll() }
        known[ExactString(device)] = (document, state)
    }
}

/// Spool files as answers send them (on one line, with what an answer checks of them), by file id: a file is
/// read and scanned once, then sent from memory to every device that needs it (a first sync sends every file).
/// A file a request just wrote is kept as written and put on one line only when an answer first sends it:
/// most are only checked (``info(_:_:)``: is it a tombstone, does it hold an id) by the requests after it, and
/// putting them on one line was a tenth of a delta request's work. Used only on the history's actor. Up to
/// ``limit`` bytes; past it, emptied.
final class AnswerFiles: @unchecked Sendable {
    struct File {
        var compact: [UInt8]
        var tombstone: Bool
        var hasID: Bool
    }

    struct Info {
        var tombstone: Bool
        var hasID: Bool
    }

    /// A file's bytes: on one line (`compact`), or still as stored (canonical) until an answer sends it.
    private struct Kept {
        var bytes: [UInt8]
        var compact: Bool
        var info: Info
    }

    static let limit = 128 << 20
    private var files: [ObjectID: Kept] = [:]
    private var bytes = 0
    /// How many times a file was asked for (``info(_:_:)``, ``file(_:_:)``): what an answer's cost follows.
    private(set) var lookups = 0

    /// What answers check of a file, without putting it on one line.
    func info(_ id: ObjectID, _ repo: InventoryRepository) throws(HistoryError) -> Info {
        lookups += 1
        if let known = files[id] { return known.info }
        let canonical = try repo.git.readBlob(id)
        return keep(id, Kept(bytes: canonical, compact: false, info: Self.info(canonical))).info
    }

    /// The file as answers send it.
    func file(_ id: ObjectID, _ repo: InventoryRepository) throws(HistoryError) -> File {
        lookups += 1
        if let known = files[id] {
            if known.compact { return File(compact: known.bytes, tombstone: known.info.tombstone, hasID: known.info.hasID) }
            let compact = Spool.compactJSON(fromCanonical: known.bytes)
            files[id]!.bytes = compact
            files[id]!.compact = true
            bytes += compact.count - known.bytes.count
            return File(compact: compact, tombstone: known.info.tombstone, hasID: known.info.hasID)
        }
        let canonical = try repo.git.readBlob(id)
        let kept = keep(id, Kept(bytes: Spool.compactJSON(fromCanonical: canonical), compact: true, info: Self.info(canonical)))
        return File(compact: kept.bytes, tombstone: kept.info.tombstone, hasID: kept.info.hasID)
    }

    /// Keeps the files a request wrote (their canonical bytes): the requests after it find them here.
    func add(_ written: [(id: ObjectID, canonical: [UInt8])]) {
        for w in written where files[w.id] == nil { keep(w.id, Kept(bytes: w.canonical, compact: false, info: Self.info(w.canonical))) }
    }

    static func info(_ canonical: [UInt8]) -> Info {
        Info(tombstone: CanonicalFile.isTombstone(canonical), hasID: CanonicalFile.hasID(canonical))
    }

    @discardableResult
    private func keep(_ id: ObjectID, _ kept: Kept) -> Kept {
        if bytes + kept.bytes.count + 64 > Self.limit {
            files.removeAll(keepingCapacity: true)
            bytes = 0
        }
        files[id] = kept
        bytes += kept.bytes.count + 64
        return kept
    }
}

/// Every spool file at one state of main, in ``utf8Ordered(_:_:)`` order of serials, kept for answers that
/// send everything (first syncs, full resyncs): the next state's listing is this one with the files that
/// changed between the two put in place, not a walk of every folder and a sort. Used only on the history's actor.
final class MainListing: @unchecked Sendable {
    private var commit: ObjectID?
    private var keys: [[UInt8]] = []
    private var entries: [(serial: String, file: ObjectID)] = []
    /// The last plain first sync's spools as sent, and the state of main they are (``plainAnswer(at:limit:)``).
    private var plain: (commit: ObjectID, encoded: [[UInt8]])?
    /// A plain answer of more bytes than this is not kept.
    static let plainAnswerKept = 64 << 20

    /// The spools a first sync sends a device that has no state here and sends nothing, when main is at
    /// `target`, as the last such first sync sent them (it depends on nothing but main's state): handed over
    /// whole, rather than built again from 10,000 entries, each looked up, copied and released (half of such a
    /// request's time on the server, by perf). `nil` when none is kept for `target`, or it holds more than `limit`.
    func plainAnswer(at target: ObjectID, limit: Int?) -> [[UInt8]]? {
        guard let plain, plain.commit == target, limit.map({ plain.encoded.count <= $0 }) ?? true else { return nil }
        return plain.encoded
    }

    /// Keeps a plain first sync's spools for the next one at the same state of main (``plainAnswer(at:limit:)``).
    func keepPlainAnswer(_ encoded: [[UInt8]], at target: ObjectID) {
        guard encoded.reduce(0, { $0 + $1.count }) <= Self.plainAnswerKept else { return plain = nil }
        plain = (target, encoded)
    }

    /// The files at `target` whose serials come after `after` (all of them, without it), in order: found by a
    /// binary search, not by comparing every serial.
    func files(at target: ObjectID, _ repo: InventoryRepository, log: MainLog, after: String?) throws(HistoryError) -> ArraySlice<(serial: String, file: ObjectID)> {
        let all = try files(at: target, repo, log: log)
        guard let after else { return all[...] }
        return all[position(of: Array(after.utf8), past: true)...]
    }

    /// Where `key` is in ``keys`` (or would go), by a binary search; `past`: after it, if it is there.
    private func position(of key: [UInt8], past: Bool) -> Int {
        var lo = 0, hi = keys.count
        while lo < hi {
            let mid = (lo + hi) / 2
            let order = compareBytes(keys[mid], key)
            if order < 0 || (past && order == 0) { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    func files(at target: ObjectID, _ repo: InventoryRepository, log: MainLog) throws(HistoryError) -> [(serial: String, file: ObjectID)] {
        if commit == target { return entries }
        if let commit {
            // main's steps since the listed state, as the log has them; else the trees' difference.
            var changes: [(serial: String, file: ObjectID?)]
            if let logged = log.changes(from: commit, to: target) { changes = logged } else { changes = try repo.changedFiles(from: commit, to: target) }
            if changes.count <= max(64, entries.count / 8) {
                for (serial, file) in changes { place(serial, file) }
                self.commit = target
                return entries
            }
        }
        let all = sortedByUTF8(try repo.changedFiles(from: nil, to: target), \.serial)
        entries = all.compactMap { c in c.file.map { (c.serial, $0) } }
        keys = entries.map { Array($0.serial.utf8) }
        commit = target
        return entries
    }

    /// Sets (or with `nil` removes) one serial's file.
    private func place(_ serial: String, _ file: ObjectID?) {
        let key = Array(serial.utf8)
        let lo = position(of: key, past: false)
        let found = lo < keys.count && keys[lo] == key
        switch (found, file) {
        case (true, let file?): entries[lo].file = file
        case (true, nil):
            keys.remove(at: lo)
            entries.remove(at: lo)
        case (false, let file?):
            keys.insert(key, at: lo)
            entries.insert((serial, file), at: lo)
        case (false, nil): break
        }
    }
}

/// How main changed at each state this server moved it to: the state before and the files of the serials that
/// changed. "What changed since a device's place" is read from these steps when every one between the two states
/// is known (a move of main by another process, or one forgotten past ``kept`` steps or ``filesKept`` files, is
/// not, and the trees are diffed instead). A serial changed and changed back comes out as changed (the device is sent what it has).
/// Used only on the history's actor.
final class MainLog: @unchecked Sendable {
    private var steps: [ObjectID: (previous: ObjectID?, files: [(serial: String, file: ObjectID?)])] = [:]
    private var files = 0
    /// At most this many steps, and files in them (bulk uploads make steps of thousands), are kept.
    static let kept = 50_000
    static let filesKept = 1_000_000
    /// Walks of more steps than this diff the trees instead.
    static let walk = 2_048

    func record(from previous: ObjectID?, to next: ObjectID, files changed: [(serial: String, file: ObjectID?)]) {
        if steps.count >= Self.kept || files + changed.count > Self.filesKept {
            steps.removeAll(keepingCapacity: true)
            files = 0
        }
        steps[next] = (previous, changed)
        files += changed.count
    }

    /// Each serial that changed from `base` to `head`, with its file at `head` (`nil`: none there).
    func changes(from base: ObjectID, to head: ObjectID?) -> [(serial: String, file: ObjectID?)]? {
        var out: [(serial: String, file: ObjectID?)] = []
        var seen = Set<ExactString>()
        var at = head
        var n = 0
        while at != base {
            guard let here = at, let step = steps[here], n < Self.walk else { return nil }
            for f in step.files where seen.insert(ExactString(f.serial)).inserted { out.append(f) }
            at = step.previous
            n += 1
        }
        return out
    }
}

/// The number of live spools (tombstones aside) at a state of main.
struct SpoolCount: Sendable {
    var commit: ObjectID?
    var spools: Int
}

/// The last ``SpoolCount`` known, shared by the requests of one server. Used only on the history's actor.
final class SpoolCounter: @unchecked Sendable {
    var value: SpoolCount?
}

extension SyncRequest {
    /// A hash of what the request asks (its key aside): the same request sent again has the same one.
    var digest: String {
        let h = json().digestHash
        let hex = String(h, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}

extension JSONValue {
    /// A 64-bit hash of the value's structure and bytes (an object's members in any order), computed without
    /// encoding it: equal values have equal hashes.
    var digestHash: UInt64 {
        func mix(_ x: UInt64) -> UInt64 {
            var h = x
            h ^= h >> 33
            h = h &* 0xFF51_AFD7_ED55_8CCD
            h ^= h >> 33
            h = h &* 0xC4CE_B9FE_1A85_EC53
            return h ^ (h >> 33)
        }
        func bytes(_ s: String, _ tag: UInt64) -> UInt64 {
            var h: UInt64 = 0xCBF2_9CE4_8422_2325 ^ tag
            for b in s.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01B3 }
            return mix(h)
        }
        switch self {
        case .null: return mix(1)
        case .bool(let b): return mix(b ? 2 : 3)
        case .int(let i): return mix(UInt64(bitPattern: i) ^ 0x4000_0000_0000_0004)
        case .double(let d): return mix(d.bitPattern ^ 0x5000_0000_0000_0005)
        case .string(let s): return bytes(s, 6)
        case .array(let a):
            var h: UInt64 = mix(7 &+ UInt64(a.count))
            for v in a { h = mix(h &* 31 &+ v.digestHash) }
            return h
        case .object(let o):
            // Members combined by addition: the order a dictionary lists them in does not matter.
            var h: UInt64 = mix(8 &+ UInt64(o.count))
            for (k, v) in o { h = h &+ mix(bytes(k, 9) ^ (v.digestHash &* 0x9E37_79B9_7F4A_7C15)) }
            return mix(h)
        case .typed(let name, let inner): return mix(bytes(name, 10) &+ inner.digestHash)
        }
    }
}

extension InventoryRepository {
    /// The latest state of main made before `time` (milliseconds), for a device the server has no record of
    /// (a commit's time has whole seconds: one made in the same second counts as later). `nil`: none.
    func mainState(before time: Int64) throws(HistoryError) -> ObjectID? {
        var commit = try head()
        var steps = 0
        while let c = commit, steps < 100_000 {
            let info = try git.readCommit(c)
            if info.time * 1000 + 999 <= time { return c }
            commit = info.parents.first
            steps += 1
        }
        return nil
    }
}

/// Reading a spool's file (``Spool/canonicalJSON``: one field per line, `{`, `  "key": value`, `}`) without
/// decoding it, for the spools a server sends as they are stored.
enum CanonicalFile {
    static let deleted = Array("\n  \"deleted\": true".utf8)
    static let id = Array("\n  \"id\": ".utf8)

    /// Whether the file is a tombstone (`"deleted": true`).
    static func isTombstone(_ file: [UInt8]) -> Bool {
        guard let end = find(deleted, in: file) else { return false }
        return end < file.count && (file[end] == UInt8(ascii: ",") || file[end] == 0x0A)
    }

    /// Whether the file has an `id` field.
    static func hasID(_ file: [UInt8]) -> Bool { find(id, in: file) != nil }

    /// The index just after the first occurrence of `needle` in `haystack`.
    static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        return haystack.withUnsafeBufferPointer { h in
            needle.withUnsafeBufferPointer { n in
                // Each place the first byte occurs, found with memchr, then compared whole.
                let start = UnsafeRawPointer(h.baseAddress!), end = start + (h.count - n.count + 1)
                var at = start
                while at < end, let found = memchr(at, Int32(n[0]), end - at) {
                    let p = UnsafeRawPointer(found)
                    if memcmp(p, n.baseAddress!, n.count) == 0 { return p - start + n.count }
                    at = p + 1
                }
                return nil
            }
        }
    }
}
