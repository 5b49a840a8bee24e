import Foundation
import Logging
import ServiceLifecycle
import SpoolHistory
import SpoolModel
import SpoolServer
import SpoolSync
import SpoolTestSupport
import Testing

/// Issue 9: the real server (`buildApplication`, listening on 127.0.0.1) and real clients against it. Three
/// devices, each an `InventoryStore` in a data folder of its own synced by `SyncClient` over a socket (batches of 2
/// or 3, so that runs go in batches and answers in pages), make random edits (commits, or imports of one spool),
/// deletions (tombstones at the device's time, or removed files) and offline periods, on clocks skewed up to 10 s
/// (the server corrects a skew of 5 s or more, ``SyncConfiguration/skewTolerance``),
/// and sync in random order; then every device syncs twice in turn, and
/// - every device's live inventory is the server's main: the same fields (`id` aside, none is used), `lastUpdated`
///   the server's or off by no more than the device's skew, in its direction (see ``comparable(_:)``); and
///   `GET /api/sync` counts main's live spools and names its head;
/// - every edit a device's sync sent (a token of its own in `notes`) is in the server's history (`git log -p
///   --all`), and `git fsck --strict` passes on the server's history and on each device's;
/// - a small reference model of the protocol, fed from the wire (each accepted request's spools and deletions, at
///   the times the server corrects them to: the device's time plus `serverTime - clientTime`), agrees with the
///   outcome: each live spool's notes is a token accepted for its serial; a spool whose latest accepted deletion
///   is no earlier than every accepted edit of it is deleted everywhere; one whose latest accepted edit is later
///   than every accepted deletion of it is live everywhere, with that edit's token (last write wins, field by field
///   and against deletions; on equal times the deletion stands).
///
/// `FILAMENTDB_LOOPBACK_SEEDS=N` runs seeds 0..<N (8 by default), `FILAMENTDB_LOOPBACK_SEED=N` seed N alone,
/// `FILAMENTDB_LOOPBACK_STEPS=N` N random steps a seed (40 by default); `FILAMENTDB_LOOPBACK_TRACE=1` prints every
/// request and answer. A failure names its seed, which replays it exactly.
@Suite struct LoopbackConvergenceTests {
    static let seeds: [Int] = ProcessInfo.processInfo.environment["FILAMENTDB_LOOPBACK_SEED"].flatMap { Int($0) }.map { [$0] }
        ?? Array(0..<environment("FILAMENTDB_LOOPBACK_SEEDS", default: 8))
    static let trace = ProcessInfo.processInfo.environment["FILAMENTDB_LOOPBACK_TRACE"] != nil
    static let steps = environment("FILAMENTDB_LOOPBACK_STEPS", default: 40)
    static let key = "loopback-key-3c9e71d0a5b84f26"

    static func environment(_ name: String, default value: Int) -> Int {
        ProcessInfo.processInfo.environment[name].flatMap { Int($0) }.map { max(1, $0) } ?? value
    }

    /// Seeds run at most this many at a time (each is a server and three clients, with their files and sockets):
    /// Swift Testing would start every one of a thousand seeds at once.
    private static let slots = Slots(4)

    @Test(arguments: seeds)
    func threeDevicesConvergeThroughTheServer(seed: Int) async throws {
        await Self.slots.acquire()
        do {
            try await run(seed: seed)
        } catch {
            await Self.slots.release()
            throw error
        }
        await Self.slots.release()
    }

    func run(seed: Int) async throws {
        let started = ContinuousClock.now
        var random = SeededGenerator(seed: UInt64(seed) &* 0x9E37_79B9 &+ 0x51)
        let clock = SteppedClock()
        let serverFolder = Fixtures.temporaryDirectory() + "/data"
        let serverStore = try InventoryStore(dataFolder: serverFolder)
        // The server's clock is the test's: a device's skew is then exactly its offset from the server.
        let service = SyncService(store: serverStore, clock: { clock.read() })
        let logs = LogCollector()
        let ledger = Ledger()
        // Each device's clock is the server's plus a skew of its own: none for the phone, up to 10 s either way for
        // the others (corrected from 5 s on).
        var devices: [LoopbackDevice] = []
        for (name, batch) in [("phone", 2), ("laptop", 3), ("Ana's tablet", 2)] {
            let skew = Int64(random.next() % 20001) - 10000
            devices.append(try LoopbackDevice(name, skew: name == "phone" ? 0 : skew, batch: batch))
        }
        let serials = (0..<7).map { "SPOOL-\($0)" }
        var stats = Stats()
        var summary: JSONValue = .null

        try await withLiveServer(service, logger: logs.logger) { port in
            let transport = LoopbackTransport(port: port, key: Self.key, clock: clock, ledger: ledger)
            func sync(_ d: Int) async throws {
                let report = try await devices[d].client(transport, clock: clock).run()
                stats.syncs += 1
                stats.conflicts += report.conflicts.count
                if report.requests > 1 { stats.runsOfManyRequests += 1 }
                // Nothing here purges tombstones or replaces a history: a full resync would be a fault.
                #expect(!report.fullResync, "seed \(seed): \(devices[d].name) was asked for a full resync")
            }
            for step in 0..<Self.steps {
                clock.advance(50 + Int64(random.next() % 5000))
                let d = Int(random.next() % 3)
                let device = devices[d]
                switch random.next() % 20 {
                case 0..<9:
                    let serial = serials[Int(random.next() % UInt64(serials.count))]
                    var fields: [String: JSONValue] = [:]
                    if random.next() % 2 == 0 { fields["weightRemaining"] = .int(Int64(random.next() % 1000)) }
                    if random.next() % 3 == 0 { fields["color"] = .string(["red", "blue", "black"][Int(random.next() % 3)]) }
                    if random.next() % 4 == 0 { fields["brand"] = .string(["Prusament", "Polymaker", "Sunlu"][Int(random.next() % 3)]) }
                    let viaImport = random.next() % 3 == 0
                    try await device.edit(serial, token: token(seed, step), fields, at: clock, viaImport: viaImport)
                    stats.edits += 1
                case 9..<12:
                    let live = try await device.liveSerials()
                    guard !live.isEmpty else { continue }
                    let serial = live[Int(random.next() % UInt64(live.count))]
                    // Mostly a tombstone at the device's time; now and then a removed file (what a restore to
                    // before the spool writes), which the client sends as a deletion without a time.
                    try await device.delete(serial, at: clock, removingTheFile: random.next() % 5 == 0)
                    stats.deletions += 1
                case 12..<14:
                    device.online.toggle()
                    stats.offlineToggles += 1
                default:
                    if device.online { try await sync(d) }
                }
            }
            // Everyone comes back online and syncs twice in turn (the second round brings what the first merged).
            for _ in 0..<2 {
                for d in devices.indices {
                    devices[d].online = true
                    try await sync(d)
                }
            }
            // What the server says of itself (`GET /api/sync`), checked against its main below.
            let answer = try await onAThreadOfItsOwn { () throws -> LoopbackHTTP.Answer in
                let connection = try LoopbackHTTP(host: "127.0.0.1", port: port)
                connection.send("GET /api/sync HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nAuthorization: Bearer \(Self.key)\r\nConnection: close\r\n\r\n")
                return try connection.readAnswer()
            }
            #expect(answer.status == 200, "seed \(seed): GET /api/sync answered \(answer.status)")
            summary = (try? JSONParser.parse(answer.body)) ?? .null
        }

        // 1. Every device holds the server's live inventory: the same spools, the same fields; `lastUpdated` the
        //    server's, or off by no more than the device's own skew, in its direction (see `comparable`).
        let server = try await liveSpools(serverStore)
        stats.spools = server.count
        #expect(summary.objectValue?["totalSpools"] == .int(Int64(server.count)), "seed \(seed): GET /api/sync: \(summary.jsonText), main has \(server.count) live spools")
        #expect(summary.objectValue?["head"] == (try await serverStore.head()).map { .string($0.hex) }, "seed \(seed): GET /api/sync: \(summary.jsonText)")
        for device in devices {
            let mine = try await liveSpools(device.store)
            #expect(comparable(mine) == comparable(server),
                    "seed \(seed): \(device.name) differs from the server:\n\(difference(comparable(mine), comparable(server)))")
            for (serial, spool) in mine {
                guard let theirs = server[serial], let time = spool.lastUpdated, let serverTime = theirs.lastUpdated else { continue }
                let offBy = time - serverTime
                if offBy != 0 { stats.timeDifferences += 1 }
                #expect((min(0, device.skew)...max(0, device.skew)).contains(offBy),
                        "seed \(seed): \(device.name)'s \(serial) has lastUpdated \(time), the server's \(serverTime): off by \(offBy) ms, its clock's skew is \(device.skew) ms")
            }
        }

        // 2. Every edit that a sync sent is in the server's history (published to disk first), and the histories
        //    are sound.
        try await service.publish()
        let serverHistory = DataFolder.historyPath(in: serverFolder)
        let log = try await runGit(["-C", serverHistory, "log", "-p", "--all"])
        #expect(log.status == 0, "seed \(seed): git log: \(log.output.prefix(2000))")
        let accepted = ledger.edits
        for token in Set(accepted.map(\.token)).sorted() {
            #expect(log.output.contains("\"\(token)\""), "seed \(seed): edit \(token) was accepted but is not in the server's history")
        }
        for path in [serverHistory] + devices.map(\.historyPath) {
            let fsck = try await runGit(["-C", path, "fsck", "--strict"])
            #expect(fsck.status == 0, "seed \(seed): git fsck --strict \(path): \(fsck.output)")
        }
        let failures = logs.all.filter { $0.contains("status=5") || $0.hasPrefix("error") || $0.hasPrefix("critical") }
        #expect(failures.isEmpty, "seed \(seed): the server logged \(failures)")

        // 3. The reference model.
        let deletions = ledger.deletions
        let everyone = [("server", server)] + (try await devices.asyncMap { ($0.name, try await liveSpools($0.store)) })
        for serial in Set(accepted.map(\.serial) + deletions.map(\.serial)).sorted(by: <) {
            let edits = accepted.filter { $0.serial == serial }
            let tokens = Set(edits.map(\.token))
            let lastEdit = edits.max { $0.time < $1.time }
            let lastDeletion = deletions.filter { $0.serial == serial }.max { $0.time < $1.time }
            let lastEditText = lastEdit.map { e in "\(e.token) by \(e.device) at \(e.time)" } ?? "none"
            let lastDeletionText = lastDeletion.map { d in "by \(d.device) at \(d.time)" } ?? "none"
            if let notes = server[serial]?["notes"]?.stringValue {
                #expect(tokens.contains(notes), "seed \(seed): \(serial) holds \(notes) on the server, which no accepted edit of it sent")
            }
            // On equal times the deletion stands.
            if let deletion = lastDeletion, deletion.time >= (lastEdit?.time ?? .min) {
                stats.deletedByModel += 1
                for (name, spools) in everyone {
                    #expect(spools[serial] == nil,
                            "seed \(seed): \(serial) was deleted by \(deletion.device) at \(deletion.time), after its every accepted edit (last \(lastEditText)), yet it is live on \(name): \(spools[serial].map { s in String(decoding: s.compactJSON, as: UTF8.self) } ?? "")\n\(ledger.story(of: serial))")
                }
            } else if let edit = lastEdit {
                stats.liveByModel += 1
                for (name, spools) in everyone {
                    let notes = spools[serial]?["notes"]?.stringValue
                    #expect(notes == edit.token,
                            "seed \(seed): \(serial)'s latest accepted edit is \(edit.token) by \(edit.device) at \(edit.time), later than its every deletion (last \(lastDeletionText)), yet \(name) holds \(spools[serial] == nil ? "no live spool" : "notes \(notes ?? "none")")\n\(ledger.story(of: serial))")
                }
            }
        }

        stats.requests = ledger.requests
        stats.pages = ledger.pages
        stats.tokens = Set(accepted.map(\.token)).count
        stats.acceptedDeletions = deletions.count
        let elapsed = ContinuousClock.now - started
        print("loopback seed \(seed): \(stats.summary), \(elapsed.formatted(.units(allowed: [.seconds, .milliseconds], width: .narrow)))")
        for folder in [serverFolder] + devices.map(\.folder) {
            try? FileManager.default.removeItem(atPath: (folder as NSString).deletingLastPathComponent)
        }
    }
}

// MARK: the server

/// Runs the real server (`buildApplication`, as a service) listening on 127.0.0.1, port 0, for as long as `body`
/// runs, gives `body` the port the system chose (from `onListening`), then shuts it down gracefully.
private func withLiveServer(_ service: SyncService, logger: Logger, _ body: (Int) async throws -> Void) async throws {
    let (ports, listening) = AsyncStream.makeStream(of: Int.self)
    let configuration = SpoolServer.ServerConfiguration(apiKey: LoopbackConvergenceTests.key, host: "127.0.0.1", port: 0)
    let app = buildApplication(configuration: configuration, service: service, logger: logger) { port in
        listening.yield(port)
        listening.finish()
    }
    // What `runService()` runs, without its signal handlers (this is a test process), and stopped gracefully.
    let group = ServiceGroup(configuration: .init(services: [app], logger: logger))
    let server = Task {
        defer { listening.finish() }
        try await group.run()
    }
    var iterator = ports.makeAsyncIterator()
    guard let port = await iterator.next() else {
        try await server.value
        throw LoopbackHTTP.Failure(description: "the server stopped before it listened")
    }
    do {
        try await body(port)
    } catch {
        await group.triggerGracefulShutdown()
        _ = await server.result
        throw error
    }
    await group.triggerGracefulShutdown()
    try await server.value
}

/// `POST /api/sync` over a socket of its own for each request, as a `SyncTransport`: the key in the
/// `Authorization` header, the body with its `Content-Length`. Every answer of 200 is recorded in the ledger.
private struct LoopbackTransport: SyncTransport {
    let port: Int
    let key: String
    let clock: SteppedClock
    let ledger: Ledger

    func send(_ body: [UInt8]) async throws -> (status: Int, body: [UInt8]) {
        let head = "POST /api/sync HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nAuthorization: Bearer \(key)\r\n"
            + "Content-Type: application/json\r\nContent-Length: \(body.count)\r\nConnection: close\r\n\r\n"
        let port = self.port
        let answer = try await onAThreadOfItsOwn { () throws -> LoopbackHTTP.Answer in
            let connection = try LoopbackHTTP(host: "127.0.0.1", port: port)
            guard connection.send(Array(head.utf8) + body) else {
                throw LoopbackHTTP.Failure(description: "the connection closed while the request was being sent")
            }
            return try connection.readAnswer()
        }
        if answer.status == 200 { try ledger.record(request: body, answer: answer.body) }
        // The next request arrives a millisecond later: the server's time for it is the clock's reading (not
        // its last time plus one), so a device's offset from the server is exactly its skew.
        clock.advance(1)
        return (answer.status, answer.body)
    }
}

// MARK: the devices

/// A device of its own: a data folder with its own history, its own clock (the test's plus a skew), synced by a
/// `SyncClient` with a small batch size.
private final class LoopbackDevice: @unchecked Sendable {
    let name: String
    let folder: String
    let store: InventoryStore
    let skew: Int64
    let batch: Int
    var online = true

    init(_ name: String, skew: Int64, batch: Int) throws {
        self.name = name
        self.skew = skew
        self.batch = batch
        folder = Fixtures.temporaryDirectory() + "/data"
        store = try InventoryStore(dataFolder: folder)
    }

    var historyPath: String { DataFolder.historyPath(in: folder) }

    func client(_ transport: LoopbackTransport, clock: SteppedClock) -> SyncClient {
        let skew = self.skew
        return SyncClient(store: store, dataFolder: folder, transport: transport, server: "http://127.0.0.1:\(transport.port)",
                          device: name, batchSize: batch, clock: { clock.read() + skew })
    }

    /// Sets `notes` to `token` and `fields` on the local copy of `serial` (a new spool, or a deleted one brought
    /// back), at the device's time: a commit on main, or an import of a file with that one spool (a file of no
    /// device: it meets main's copy by last write, so it changes nothing when that copy is newer).
    func edit(_ serial: String, token: String, _ fields: [String: JSONValue], at clock: SteppedClock, viaImport: Bool) async throws {
        var spool = try await store.spool(serial) ?? Spool(normalizedFields: ["serial": .string(serial)])
        spool["deleted"] = nil
        spool["notes"] = .string(token)
        for (field, value) in fields { spool[field] = value }
        spool["lastUpdated"] = .int(clock.read() + skew)
        if viaImport {
            _ = try await store.importSpools([spool], mode: .unknownBase(device: "import"), source: "\(token).json")
        } else {
            _ = try await store.commit([(serial, spool)], device: "desk", message: "edit \(serial): \(token)")
        }
    }

    /// Deletes a live spool: a tombstone at the device's time, or its file removed.
    func delete(_ serial: String, at clock: SteppedClock, removingTheFile: Bool) async throws {
        guard var spool = try await store.spool(serial), !spool.isDeleted else { return }
        if removingTheFile {
            _ = try await store.commit([(serial, nil)], device: "restore", message: "remove \(serial)")
            return
        }
        spool["deleted"] = .bool(true)
        spool["lastUpdated"] = .int(clock.read() + skew)
        _ = try await store.commit([(serial, spool)], device: "desk", message: "delete \(serial)")
    }

    func liveSerials() async throws -> [String] { try await liveSpools(store).keys.sorted() }
}

// MARK: the reference model's input: what the server accepted, from the wire

/// Every request the server answered with 200: each spool it was sent (with its token) and each deletion, at the
/// time the server corrects it to (the device's time plus the request's offset, `serverTime - clientTime`).
private final class Ledger: @unchecked Sendable {
    struct Edit: Sendable {
        var serial: String
        var token: String
        var time: Int64
        var device: String
        var serverTime: Int64
    }

    struct Deletion: Sendable {
        var serial: String
        var time: Int64
        var device: String
        var serverTime: Int64
    }

    private let lock = NSLock()
    private var _edits: [Edit] = []
    private var _deletions: [Deletion] = []
    private var _requests = 0
    private var _pages = 0

    var edits: [Edit] { lock.withLock { _edits } }
    var deletions: [Deletion] { lock.withLock { _deletions } }
    var requests: Int { lock.withLock { _requests } }
    /// Answers that said there is more (a page was followed).
    var pages: Int { lock.withLock { _pages } }

    func record(request body: [UInt8], answer: [UInt8]) throws {
        let request = try SyncRequest.parse(body)
        let response = try SyncResponse.parse(answer)
        // Every request of SyncClient carries its clock.
        // An offset under the server's skew tolerance is the request's travel time: no correction.
        let raw = response.serverTime - (request.clientTime ?? response.serverTime)
        let offset = abs(raw) < SyncConfiguration().skewTolerance ? 0 : raw
        var edits: [Edit] = [], deletions: [Deletion] = []
        for change in request.changes {
            guard let object = change.objectValue, let serial = object["serial"]?.stringValue else { continue }
            let time = (object["lastUpdated"].flatMap { if case .int(let n) = $0 { n } else { nil } } ?? response.serverTime) + offset
            if object["deleted"] == .bool(true) {
                deletions.append(Deletion(serial: serial, time: time, device: request.deviceId, serverTime: response.serverTime))
            } else if let token = object["notes"]?.stringValue {
                edits.append(Edit(serial: serial, token: token, time: time, device: request.deviceId, serverTime: response.serverTime))
            }
        }
        for deletion in request.deletions {
            guard case .serial(let serial, let at) = deletion else { continue }
            let time = at.map { $0 + offset } ?? response.serverTime
            deletions.append(Deletion(serial: serial, time: time, device: request.deviceId, serverTime: response.serverTime))
        }
        if LoopbackConvergenceTests.trace {
            let sent = edits.map { "\($0.serial)=\($0.token)@\($0.time)" } + deletions.map { "-\($0.serial)@\($0.time)" }
            let got = response.changes.map { "\($0.serial)=\($0["notes"]?.stringValue ?? "?")\($0.isDeleted ? "(tombstone)" : "")" } + response.deletions.map { "-\($0)" }
            print("  \(response.serverTime) \(request.deviceId) cursor \(request.cursor.map { String($0.prefix(12)) } ?? "none") limit \(request.limit ?? 0) sent [\(sent.joined(separator: " "))] got [\(got.joined(separator: " "))]\(response.hasMore ? " hasMore" : "") conflicts \(response.conflicts.count)")
        }
        lock.withLock {
            _edits += edits
            _deletions += deletions
            _requests += 1
            if response.hasMore { _pages += 1 }
        }
    }

    /// What the server accepted for one serial, in order of arrival (for a failure's message).
    func story(of serial: String) -> String {
        let events = edits.filter { $0.serial == serial }.map { ($0.serverTime, "  edit \($0.token) by \($0.device) at \($0.time) (arrived \($0.serverTime))") }
            + deletions.filter { $0.serial == serial }.map { ($0.serverTime, "  deletion by \($0.device) at \($0.time) (arrived \($0.serverTime))") }
        return "accepted for \(serial):\n" + events.sorted { $0.0 < $1.0 }.map(\.1).joined(separator: "\n")
    }
}

// MARK: helpers

/// A counting semaphore for tasks.
private actor Slots {
    private var free: Int
    private var waiting: [CheckedContinuation<Void, Never>] = []

    init(_ count: Int) { free = count }

    func acquire() async {
        if free > 0 {
            free -= 1
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }

    func release() {
        if waiting.isEmpty { free += 1 } else { waiting.removeFirst().resume() }
    }
}

/// Runs blocking work (a socket) on a thread of its own: neither on Swift's cooperative pool, which the server's
/// handlers need, nor on Dispatch's global queues, whose few threads (one a core) are added to only after a wait of
/// about a second when they are all blocked (three devices of eight seeds at once would queue behind each other).
private func onAThreadOfItsOwn<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread { continuation.resume(with: Result { try body() }) }
        thread.stackSize = 1 << 20
        thread.start()
    }
}

/// A clock the test moves (milliseconds), shared by the server and, with their skews, the devices.
private final class SteppedClock: @unchecked Sendable {
    private let lock = NSLock()
    private var now: Int64 = 1_750_000_000_000
    func read() -> Int64 { lock.withLock { now } }
    func advance(_ ms: Int64) { lock.withLock { now += ms } }
}

private struct Stats {
    var edits = 0, deletions = 0, offlineToggles = 0, syncs = 0, runsOfManyRequests = 0, requests = 0, pages = 0, conflicts = 0
    var tokens = 0, acceptedDeletions = 0, spools = 0, deletedByModel = 0, liveByModel = 0, timeDifferences = 0

    var summary: String {
        "\(edits) edits, \(deletions) deletions, \(offlineToggles) offline toggles, \(syncs) syncs in \(requests) requests (\(runsOfManyRequests) in batches or pages, \(pages) pages followed), "
            + "\(conflicts) conflicts; accepted \(tokens) edits and \(acceptedDeletions) deletions; \(spools) live spools; model: \(liveByModel) live, "
            + "\(deletedByModel) deleted; \(timeDifferences) spool copies whose lastUpdated differs from the server's"
    }
}

/// A unique token (none is a prefix of another).
private func token(_ seed: Int, _ step: Int) -> String {
    "T" + String(seed + 10000).dropFirst() + "-" + String(step + 10000).dropFirst()
}

/// main's live spools (tombstones aside) by serial.
private func liveSpools(_ store: InventoryStore) async throws -> [String: Spool] {
    var out: [String: Spool] = [:]
    for spool in try await store.spools(at: try await store.head()) where !spool.isDeleted { out[spool.serial] = spool }
    return out
}

/// The spools as devices must agree on them: without `id` (local to a device; none is used here) and
/// `lastUpdated`, which the same version of a spool may hold differently on a device and on the server, by design
/// (guarantee 7): the server shifts a device's times by the device's offset from its clock (here, its skew) and
/// keeps them so, while the device keeps the times its own clock gave its own edits; and a spool that goes back to
/// its sender comes 1 ms after the time the sender gave it (which the server corrected before keeping it). So a
/// device's copy is off from the server's by no more than the device's skew (none, for the phone), in its
/// direction: the test checks that separately.
private func comparable(_ spools: [String: Spool]) -> [String: String] {
    spools.mapValues { spool in
        var spool = spool
        spool["id"] = nil
        spool["lastUpdated"] = nil
        return String(decoding: spool.canonicalJSON, as: UTF8.self)
    }
}

private func difference(_ a: [String: String], _ b: [String: String]) -> String {
    Set(a.keys).union(b.keys).sorted().compactMap { serial in
        a[serial] == b[serial] ? nil : "\(serial):\n  device: \(a[serial] ?? "none")\n  server: \(b[serial] ?? "none")"
    }.joined(separator: "\n")
}

/// Runs git, on a thread of its own (it waits for the process).
private func runGit(_ arguments: [String]) async throws -> (status: Int32, output: String) {
    try await onAThreadOfItsOwn { try Command.git(arguments) }
}

private extension Array {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var out: [T] = []
        for element in self { out.append(try await transform(element)) }
        return out
    }
}
