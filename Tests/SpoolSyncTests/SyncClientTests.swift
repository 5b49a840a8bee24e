import Foundation
import SpoolHistory
import SpoolModel
@testable import SpoolSync
import SpoolTestSupport
import Testing

/// `filamentdb sync`'s client: devices that each keep their own history, syncing through one server in process.
@Suite struct SyncClientTests {
    let clock = ManualClock()

    func server(_ configuration: SyncConfiguration = SyncConfiguration()) throws -> (ServiceTransport, InventoryStore) {
        let (service, store, _) = try newService(clock: clock, configuration: configuration)
        return (ServiceTransport(service), store)
    }

    @Test func editsMadeOnOneDeviceReachTheOther() async throws {
        let (transport, serverStore) = try server()
        let a = try LocalDevice("a"), b = try LocalDevice("b")
        let t = clock.read()
        try await a.importSpools([spool("S1", t, ["brand": .string("Prusament")]), spool("S2", t, ["color": .string("Black")])])
        let sent = try await a.sync(transport, clock: clock)
        #expect(sent.sentChanges == 2 && sent.requests == 1 && sent.receivedChanges == 0 && sent.commit == nil)
        #expect(try await comparable(serverStore) == (try await a.contents))
        #expect(try await a.queue == 0)

        let got = try await b.sync(transport, clock: clock)
        #expect(got.sentChanges == 0 && got.receivedChanges == 2)
        #expect(try await b.contents == (try await a.contents))
        // One commit on main, by the device "sync", naming the server.
        let commit = try await b.store.readCommit(try #require(got.commit))
        #expect(commit.device == "sync" && commit.summary == "sync with test://server: 2 spools received, 0 deleted")
        let cursor = try b.state.cursor
        #expect(commit.trailer("Filamentdb-Server") == "\"test://server\"" && commit.trailer("Filamentdb-Sync-Cursor") == cursor)
        #expect(try await b.store.head() == got.commit && (try b.state.syncedCommit) == got.commit)
        // What b received is not queued to go back.
        #expect(try await b.queue == 0)

        // An edit on b (a commit on main, as 'conflicts resolve' or 'restore' make) goes the other way.
        clock.advance(1000)
        try await b.edit("S1", at: clock.read(), ["weightRemaining": .int(640)])
        #expect(try await b.queue == 1)
        #expect(try await b.sync(transport, clock: clock).sentChanges == 1)
        let back = try await a.sync(transport, clock: clock)
        #expect(back.receivedChanges == 1 && back.sentChanges == 0)
        #expect(try await a.store.spool("S1")?["weightRemaining"] == .int(640))
        #expect(try await a.contents == (try await b.contents))
        let state = try a.state
        #expect(state.server == "test://server" && state.device == "a" && state.lastSync == clock.read() && state.lastError == nil)
    }

    @Test func aDeletionTravels() async throws {
        let (transport, serverStore) = try server()
        let a = try LocalDevice("a"), b = try LocalDevice("b")
        let t = clock.read()
        try await a.importSpools([spool("S1", t, ["color": .string("Red")]), spool("S2", t), spool("S3", t)])
        try await a.sync(transport, clock: clock)
        try await b.sync(transport, clock: clock)
        clock.advance(1000)
        // A tombstone (what 'import --replace' writes) and a removed file (what a restore to before the spool writes).
        try await a.edit("S1", at: clock.read(), ["deleted": .bool(true)])
        _ = try await a.store.commit([("S2", nil)], device: "restore", message: "restore")
        #expect(try await a.queue == 2)
        let sent = try await a.sync(transport, clock: clock)
        #expect(sent.sentDeletions == 2 && sent.sentChanges == 0)
        #expect(transport.requests.last?.deletions == [.serial("S1", deletedAt: clock.read()), .serial("S2", deletedAt: nil)])
        #expect(try await serverStore.spool("S1")?.isDeleted == true)
        #expect(try await serverStore.spool("S2")?.isDeleted == true)

        let got = try await b.sync(transport, clock: clock)
        #expect(got.receivedDeletions == 2 && got.receivedChanges == 0)
        // Tombstones of b's copies, at the answer's time.
        let s1 = try #require(try await b.store.spool("S1"))
        #expect(s1.isDeleted && s1.lastUpdated == got.serverTime && s1["color"] == .string("Red"))
        #expect(try await b.store.spool("S2")?.isDeleted == true)
        let (left, right) = (try await b.contents, try await a.contents)
        #expect(left.keys.sorted() == ["S3"] && left == right)
        #expect(try await b.queue == 0)
    }

    @Test func aConflictIsReportedAndTheWinnerApplied() async throws {
        let (transport, _) = try server()
        let a = try LocalDevice("a"), b = try LocalDevice("b")
        try await a.importSpools([spool("S1", clock.read(), ["weightRemaining": .int(1000)])])
        try await a.sync(transport, clock: clock)
        try await b.sync(transport, clock: clock)
        let t = clock.read()
        try await b.edit("S1", at: t + 100, ["weightRemaining": .int(700)])
        try await a.edit("S1", at: t + 500, ["weightRemaining": .int(800)])
        clock.advance(1000)
        try await a.sync(transport, clock: clock)
        let late = try await b.sync(transport, clock: clock)
        #expect(late.conflicts.count == 1)
        let conflict = try #require(late.conflicts.first)
        #expect(conflict.serial == "S1" && conflict.field == "weightRemaining" && conflict.winner == "server")
        #expect(conflict.clientValue == .int(700) && conflict.serverValue == .int(800) && !conflict.id.isEmpty)
        // The later write won on the server, and b's main now holds it.
        #expect(late.receivedChanges == 1)
        #expect(try await b.store.spool("S1")?["weightRemaining"] == .int(800))
        #expect(try await b.queue == 0)
        let commit = try await b.store.readCommit(try #require(late.commit))
        #expect(commit.trailer("Filamentdb-Conflicts") == "1")
    }

    @Test func uploadsInBatchesAndFollowsPages() async throws {
        let (transport, serverStore) = try server()
        let a = try LocalDevice("a"), b = try LocalDevice("b"), c = try LocalDevice("c")
        let t = clock.read()
        try await a.importSpools((1...5).map { spool("A\($0)", t, ["weightRemaining": .int(Int64(100 * $0))]) })
        let head = try await a.store.head()
        let up = try await a.sync(transport, clock: clock, batch: 2)
        #expect(up.sentChanges == 5 && up.receivedChanges == 0 && up.commit == nil)
        #expect(try await a.store.head() == head)
        let requests = transport.requests
        // Three batches, each against what a had when the run began (nothing: a first sync, no cursor); those
        // that more batches follow ask for a page of one.
        #expect(requests.prefix(3).map(\.changes.count) == [2, 2, 1] && requests.prefix(3).map(\.limit) == [1, 1, 2])
        #expect(requests.prefix(3).allSatisfy { $0.cursor == nil })
        // The server leaves out of each answer what a sent in its earlier batches (a has it as it sent it): the
        // last batch's answer holds nothing, so no more pages, no news and no commit.
        #expect(up.requests == 3 && requests.count == 3)
        #expect(try await comparable(serverStore) == (try await a.contents))

        // A device with nothing of its own gets the five in pages of two.
        let down = try await b.sync(transport, clock: clock, batch: 2)
        #expect(down.requests == 3 && down.receivedChanges == 5 && down.sentChanges == 0)
        #expect(transport.requests.suffix(3).map(\.changes.count) == [0, 0, 0])
        #expect(try await b.contents == (try await a.contents))

        // Batches and pages at once: c sends three of its own while it is paged the five.
        try await c.importSpools((1...3).map { spool("C\($0)", t, ["color": .string("Blue")]) })
        let both = try await c.sync(transport, clock: clock, batch: 2)
        #expect(both.sentChanges == 3 && both.requests >= 3)
        #expect(try await c.contents.count == 8)
        #expect(try await a.sync(transport, clock: clock, batch: 2).receivedChanges == 3)
        let everywhere = try await c.contents
        #expect(try await a.contents == everywhere)
        #expect(try await comparable(serverStore) == everywhere)
    }

    @Test func everyBatchIsMergedAgainstTheStateItsEditsWereMadeOn() async throws {
        let (transport, serverStore) = try server()
        let a = try LocalDevice("a"), b = try LocalDevice("b")
        let t = clock.read()
        try await a.importSpools([spool("A1", t, ["weightRemaining": .int(1000)]), spool("A2", t, ["weightRemaining": .int(1000), "color": .string("Red")])])
        try await a.sync(transport, clock: clock)
        try await b.sync(transport, clock: clock)
        try await a.edit("A2", at: t + 100, ["color": .string("Blue")])
        try await a.sync(transport, clock: clock)
        // b edits both on what it had (A2 still red), and sends them one per request: the first answer brings a's
        // blue A2, which b has not applied when its own A2 goes. Its A2 must still meet the red one as its base.
        try await b.edit("A1", at: t + 200, ["weightRemaining": .int(900)])
        try await b.edit("A2", at: t + 300, ["weightRemaining": .int(800)])
        let report = try await b.sync(transport, clock: clock, batch: 1)
        #expect(report.sentChanges == 2 && report.conflicts.isEmpty)
        let onServer = try #require(try await serverStore.spool("A2"))
        #expect(onServer["color"] == .string("Blue") && onServer["weightRemaining"] == .int(800))
        let onB = try #require(try await b.store.spool("A2"))
        #expect(onB["color"] == .string("Blue") && onB["weightRemaining"] == .int(800))
        try await a.sync(transport, clock: clock)
        let everywhere = try await comparable(serverStore)
        #expect(try await a.contents == everywhere)
        #expect(try await b.contents == everywhere)
    }

    /// A spool sent live in an earlier batch of a run and deleted by the server's merge (an older edit than the
    /// deletion there) is deleted on the device too, though the state the run began from never had it: the last
    /// batch's answer, the one applied, says so. It once did not, and the device kept the spool for good.
    @Test func aDeletionThatOverrulesAnEarlierBatchReachesTheDevice() async throws {
        let (transport, serverStore) = try server()
        let a = try LocalDevice("a"), b = try LocalDevice("b")
        let t = clock.read()
        // a makes S and deletes it before it ever syncs: the server has S deleted at t + 500.
        try await a.edit("S", at: t + 500, ["deleted": .bool(true)])
        try await a.sync(transport, clock: clock)
        #expect(try await serverStore.spool("S")?.isDeleted == true)
        // b, which never synced, made S earlier, and other spools; one per request, S not in the last.
        try await b.importSpools([spool("S", t + 100, ["color": .string("Red")])] + (1...3).map { spool("X\($0)", t + 100) })
        let report = try await b.sync(transport, clock: clock, batch: 1)
        #expect(report.sentChanges == 4 && report.conflicts.map(\.field) == ["deleted"])
        let requests = transport.requests.suffix(4)
        try #require(requests.count == 4 && !requests.last!.changes.contains { $0.objectValue?["serial"] == .string("S") })
        #expect(try await serverStore.spool("S")?.isDeleted == true)
        #expect(try await b.store.spool("S")?.isDeleted == true)
        try await a.sync(transport, clock: clock)
        let everywhere = try await comparable(serverStore)
        #expect(everywhere.keys.sorted() == ["X1", "X2", "X3"])
        #expect(try await a.contents == everywhere)
        #expect(try await b.contents == everywhere)
    }

    @Test func aBatchTheServerFindsTooLargeGoesAgainInHalves() async throws {
        let (transport, serverStore) = try server(SyncConfiguration(batchLimit: 2))
        let a = try LocalDevice("a")
        try await a.importSpools((1...5).map { spool("S\($0)", clock.read()) })
        let report = try await a.sync(transport, clock: clock, batch: 5)
        #expect(report.sentChanges == 5 && report.requests == 3)
        #expect(try await comparable(serverStore).count == 5)
    }

    @Test func aNetworkThatFailsMidwayKeepsTheQueueForTheNextRun() async throws {
        let (transport, serverStore) = try server()
        let a = try LocalDevice("a")
        try await a.importSpools((1...5).map { spool("S\($0)", clock.read()) })
        let head = try await a.store.head()
        // The first batch is accepted, then the network goes.
        transport.downFrom = 2
        let error = await #expect(throws: SyncClientError.self) { try await a.sync(transport, clock: clock, batch: 2) }
        #expect(error?.kind == .unreachable && error?.message.contains("cannot reach test://server") == true)
        #expect(try await comparable(serverStore).count == 2)
        // Nothing local changed but the recorded error.
        #expect(try await a.store.head() == head)
        let failed = try a.state
        #expect(failed.lastError == error?.message && failed.lastErrorAt == clock.read())
        #expect(failed.syncedCommit == nil && failed.cursor == nil && failed.server == nil && failed.lastSync == nil)
        #expect(try await a.queue == 5)

        // Back online: the whole queue goes (what the server had is sent again, harmlessly), and is then empty.
        transport.downFrom = nil
        let report = try await a.sync(transport, clock: clock, batch: 2)
        #expect(report.sentChanges == 5)
        #expect(try await comparable(serverStore) == (try await a.contents))
        #expect(try await a.queue == 0 && (try a.state.lastError) == nil)
    }

    @Test func aLostAnswerIsAskedForAgain() async throws {
        let (transport, serverStore) = try server()
        let a = try LocalDevice("a"), b = try LocalDevice("b")
        try await a.importSpools([spool("S1", clock.read(), ["color": .string("Red")])])
        try await a.sync(transport, clock: clock)
        try await b.importSpools([spool("S2", clock.read(), ["color": .string("Green")])])
        // The server applies b's request, but its answer (with S1) never arrives.
        transport.answerLost = transport.requests.count + 1
        await #expect(throws: SyncClientError.self) { try await b.sync(transport, clock: clock) }
        #expect(try await b.store.spool("S1") == nil)
        #expect(try await b.queue == 1)
        let again = try await b.sync(transport, clock: clock)
        #expect(again.sentChanges == 1 && again.receivedChanges == 1)
        let contents = try await b.contents
        #expect(try await comparable(serverStore) == contents && contents.count == 2)
    }

    @Test func aSyncWithNothingNewSendsNothingAndCommitsNothing() async throws {
        let (transport, _) = try server()
        let a = try LocalDevice("a"), b = try LocalDevice("b")
        try await a.importSpools([spool("S1", clock.read())])
        try await a.sync(transport, clock: clock)
        try await b.sync(transport, clock: clock)
        let head = try await b.store.head()
        let commits = try await b.store.log().count
        for _ in 0..<2 {
            clock.advance(1000)
            let report = try await b.sync(transport, clock: clock)
            #expect(report.sentChanges == 0 && report.sentDeletions == 0 && report.receivedChanges == 0 && report.commit == nil)
            #expect(transport.requests.last.map { $0.changes.isEmpty && $0.deletions.isEmpty } == true)
        }
        #expect(try await b.store.head() == head)
        #expect(try await b.store.log().count == commits)
        #expect(try b.state.lastSync == clock.read())
    }

    @Test func anAppliedAnswerWhoseStateWasNotSavedIsNotSentBack() async throws {
        let (transport, _) = try server()
        let a = try LocalDevice("a"), b = try LocalDevice("b")
        try await a.importSpools([spool("S1", clock.read()), spool("S2", clock.read())])
        try await a.sync(transport, clock: clock)
        try await b.importSpools([spool("S3", clock.read())])
        try await b.sync(transport, clock: clock)
        let before = try b.state
        clock.advance(1000)
        try await a.edit("S1", at: clock.read(), ["color": .string("White")])
        try await a.sync(transport, clock: clock)
        let applied = try await b.sync(transport, clock: clock)
        let after = try b.state
        #expect(applied.commit != nil && after.syncedCommit == applied.commit)
        // As if b had stopped between its commit and its state file: the commit's trailers say where it was.
        try before.save(dataFolder: b.folder)
        #expect(try await b.queue == 1)
        let next = try await b.sync(transport, clock: clock)
        #expect(next.sentChanges == 0 && next.commit == nil)
        let recovered = try b.state
        #expect(transport.requests.last?.cursor == after.cursor && recovered.syncedCommit == applied.commit)
    }

    @Test func aLocalEditDuringTheSyncIsNeitherOverwrittenNorLeftBehind() async throws {
        let (transport, serverStore) = try server()
        let a = try LocalDevice("a"), b = try LocalDevice("b")
        try await a.importSpools([spool("S1", clock.read(), ["color": .string("Red")])])
        try await a.sync(transport, clock: clock)
        try await b.sync(transport, clock: clock)
        clock.advance(1000)
        try await a.edit("S1", at: clock.read(), ["color": .string("Blue")])
        try await a.sync(transport, clock: clock)
        // While the server answers b, b's main gets an edit of its own (another filamentdb, once).
        let edited = Flag()
        transport.meanwhile = { _ in
            if edited.set() { try await b.edit("S2", at: clock.read(), ["color": .string("Green")]) }
        }
        let report = try await b.sync(transport, clock: clock)
        #expect(report.sentChanges == 1 && report.receivedChanges == 1)
        #expect(try await b.store.spool("S1")?["color"] == .string("Blue"))
        #expect(try await b.store.spool("S2")?["color"] == .string("Green"))
        #expect(try await serverStore.spool("S2")?["color"] == .string("Green"))
        #expect(try await b.queue == 0)
    }

    @Test func aServerThatNoLongerKnowsTheClientIsSentEverything() async throws {
        let (transport, _) = try server()
        let a = try LocalDevice("a")
        try await a.importSpools([spool("S1", clock.read()), spool("S2", clock.read())])
        try await a.sync(transport, clock: clock)
        // The server's history was replaced: a's cursor names nothing there.
        let (fresh, freshStore) = try server()
        let report = try await a.sync(fresh, clock: clock)
        #expect(report.fullResync && report.sentChanges == 2)
        #expect(fresh.requests.first?.cursor != nil && fresh.requests.last?.cursor == nil)
        #expect(try await comparable(freshStore) == (try await a.contents))
        // Another server is a first sync: everything, without asking for a resync.
        let (other, otherStore) = try server()
        let first = try await a.sync(other, clock: clock, server: "test://other")
        #expect(!first.fullResync && first.sentChanges == 2 && other.requests.count == 1)
        #expect(try await comparable(otherStore) == (try await a.contents) && (try a.state.server) == "test://other")
    }

    @Test(arguments: [
        (401, #"{"success":false,"error":"missing or wrong API key"}"#, SyncClientError.Kind.keyRefused),
        (400, #"{"success":false,"error":"changes[0].serial: empty","details":[{"path":"changes[0].serial","message":"empty"}]}"#, .refused),
        (503, #"{"success":false,"error":"the history could not be written"}"#, .unreachable),
        (404, "<html>Not Found</html>", .unreachable),
        (200, "<html>a login page</html>", .badAnswer),
    ])
    func refusalsKeepTheQueue(status: Int, body: String, kind: SyncClientError.Kind) async throws {
        let a = try LocalDevice("a")
        try await a.importSpools([spool("S1", clock.read())])
        let error = await #expect(throws: SyncClientError.self) {
            try await a.sync(FixedAnswer(status: status, body: Array(body.utf8)), clock: clock)
        }
        #expect(error?.kind == kind, "\(String(describing: error))")
        if status == 400 { #expect(error?.details == [SyncFailure.Detail(path: "changes[0].serial", message: "empty")]) }
        #expect(try await a.queue == 1 && (try a.state.lastError) == error?.message)
    }
}

/// A hostile or broken server's answers (found by an attacker's probe with a server of its own): each is refused,
/// nothing is applied, the queue stays, and nothing the client keeps would make a correct server refuse it later.
@Suite struct HostileAnswerTests {
    let clock = ManualClock()

    static func answer(serverTime: String = "1760000000000", cursor: String = #""c1""#, changes: String = "[]", hasMore: Bool = false) -> String {
        #"{"success":true,"serverTime":\#(serverTime),"cursor":\#(cursor),"changes":\#(changes),"deletions":[],"conflicts":[],"hasMore":\#(hasMore)}"#
    }

    @Test(arguments: [
        ("a negative serverTime", answer(serverTime: "-5"), "serverTime -5 is not a time"),
        ("a cursor of 40 KB", answer(cursor: "\"" + String(repeating: "c", count: 40_000) + "\""), "a cursor of 40000 bytes"),
        ("a cursor with a newline", answer(cursor: #""x\nFilamentdb-Device: \"alice\"""#), "a cursor with a control character"),
        ("a cursor with a NUL", answer(cursor: #""ev\u0000il""#), "a cursor with a control character"),
        ("a time out of range", answer(changes: #"[{"serial":"S9","lastUpdated":-5}]"#), "changes[0] is not a valid spool (lastUpdated"),
        ("a weight that is not a number", answer(changes: #"[{"serial":"S9","lastUpdated":1,"weightRemaining":"lots"}]"#), "changes[0] is not a valid spool (weightRemaining"),
        ("a serial over the limit", answer(changes: #"[{"serial":""# + String(repeating: "s", count: 2_000) + #"","lastUpdated":1}]"#), "changes[0] is not a valid spool (serial: 2000 bytes"),
        ("one serial twice", answer(changes: #"[{"serial":"S9","lastUpdated":1},{"serial":"S9","lastUpdated":2}]"#), "changes[1] repeats serial \"S9\""),
        ("pages that come back to a cursor", answer(cursor: #""c1""#, changes: #"[{"serial":"S9","lastUpdated":1}]"#, hasMore: true), "its pages would never end"),
        // The client asks pages of 1000 and sends one spool: 1001 entries at most, checked before any is read.
        ("a page of more spools than asked", answer(changes: "[" + (0..<1002).map { #"{"serial":"P\#($0)","lastUpdated":1}"# }.joined(separator: ",") + "]"),
         "1002 spools and 0 deletions, more than the 1001 the page asked for may hold"),
        ("an answer that is not JSON, with the parser's reason", #"{"success":tru"#, "not JSON (line 1, column 12: "),
    ] as [(String, String, String)])
    func aHostileAnswerIsRefusedAndNothingIsApplied(_ name: String, body: String, message: String) async throws {
        let a = try LocalDevice("a")
        try await a.importSpools([spool("S1", clock.read())])
        let head = try await a.store.head()
        let error = await #expect(throws: SyncClientError.self) {
            try await a.sync(FixedAnswer(status: 200, body: Array(body.utf8)), clock: clock)
        }
        #expect(error?.kind == .badAnswer, "\(name): \(String(describing: error))")
        #expect(error?.message.contains(message) == true, "\(name): \(error?.message ?? "")")
        #expect(try await a.store.head() == head, "\(name)")
        #expect(try await a.queue == 1 && (try a.state.cursor) == nil && (try a.state.lastServerTime) == 0, "\(name)")
    }

    /// What the client's checks change in a server's spools to store them (a server other than this one may send
    /// `null` fields, date strings, `deleted: 0`) is counted: in the report, which the CLI prints, and in the sync
    /// commit's trailers. Before, the values were changed without a word.
    @Test func whatTheChecksChangeInAnAnswerIsCounted() async throws {
        let a = try LocalDevice("a")
        let body = Self.answer(changes: #"[{"serial":"S9","lastUpdated":1760000000000,"brand":null,"createdAt":"2025-01-02T03:04:05.000Z","deleted":0},{"serial":"S8","lastUpdated":1760000000000}]"#)
        let report = try await a.sync(FixedAnswer(status: 200, body: Array(body.utf8)), clock: clock)
        #expect(report.receivedChanges == 2)
        #expect(report.normalized.migrated == ["null-known-field-removed": 1, "timestamp-from-iso-string": 1, "deleted-from-0-or-1": 1])
        let commit = try await a.store.readCommit(try #require(report.commit))
        #expect(commit.trailer("Filamentdb-Migrated") == "deleted-from-0-or-1=1, null-known-field-removed=1, timestamp-from-iso-string=1", "\(commit.message)")
        let stored = try #require(try await a.store.spool("S9"))
        #expect(stored["brand"] == nil && stored["createdAt"] == .int(1_735_787_045_000) && stored["deleted"] == .bool(false))
    }

    /// The answers of one run are read no further than ``SyncClient/maxAnswerBytes``, all pages together (a
    /// server can send pages without end, each within the limit), and an answer of more JSON values than
    /// `maxAnswerBytes / 128` is not parsed (its memory goes with its values, not its bytes). Nothing is applied.
    @Test func answersOverTheLimitsAreNotRead() async throws {
        final class Pages: SyncTransport, @unchecked Sendable {
            let lock = NSLock()
            var n = 0
            func send(_ body: [UInt8]) async throws -> (status: Int, body: [UInt8]) {
                let k = lock.withLock { n += 1; return n }
                let page = HostileAnswerTests.answer(cursor: "\"c\(k)\"", changes: #"[{"serial":"P\#(k)","lastUpdated":1,"brand":""# + String(repeating: "b", count: 2_000) + #""}]"#, hasMore: true)
                return (200, Array(page.utf8))
            }
        }
        let a = try LocalDevice("a")
        try await a.importSpools([spool("S1", clock.read())])
        let head = try await a.store.head()
        func client(_ transport: any SyncTransport, bytes: Int) -> SyncClient {
            SyncClient(store: a.store, dataFolder: a.folder, transport: transport, server: "test://server", device: "a",
                       clock: { self.clock.read() }, maxAnswerBytes: bytes)
        }
        // Pages of about 2,170 bytes (13 values each) without end: the fourth crosses 8,000 bytes.
        let pages = Pages()
        let endless = await #expect(throws: SyncClientError.self) { try await client(pages, bytes: 8_000).run() }
        #expect(endless?.kind == .answerTooLarge, "\(String(describing: endless))")
        #expect(endless?.message.contains("sent more than this client reads in one sync (8000 bytes of answers, all pages together): an answer of") == true, "\(endless?.message ?? "")")
        #expect(pages.n == 4)
        // 200 small spools in 7 KB: more values than 20,000 bytes allow (156), fewer bytes.
        let many = Self.answer(changes: "[" + (0..<200).map { #"{"serial":"M\#($0)","lastUpdated":1}"# }.joined(separator: ",") + "]")
        #expect(many.utf8.count < 20_000)
        let values = await #expect(throws: SyncClientError.self) { try await client(FixedAnswer(status: 200, body: Array(many.utf8)), bytes: 20_000).run() }
        #expect(values?.kind == .answerTooLarge && values?.message.contains("more JSON values than this client parses at once (156") == true, "\(String(describing: values))")
        // Pages of 12 tiny spools (about 600 bytes): each spool counts 256 bytes more, so the third page crosses 8,000
        // (by bytes alone it would take thirteen).
        final class TinyPages: SyncTransport, @unchecked Sendable {
            let lock = NSLock()
            var n = 0
            func send(_ body: [UInt8]) async throws -> (status: Int, body: [UInt8]) {
                let k = lock.withLock { n += 1; return n }
                let page = HostileAnswerTests.answer(cursor: "\"t\(k)\"", changes: "[" + (0..<12).map { #"{"serial":"T\#(k)-\#($0)","lastUpdated":1}"# }.joined(separator: ",") + "]", hasMore: true)
                return (200, Array(page.utf8))
            }
        }
        let tiny = TinyPages()
        let counted = await #expect(throws: SyncClientError.self) { try await client(tiny, bytes: 8_000).run() }
        #expect(counted?.kind == .answerTooLarge && counted?.message.contains("counting 256 bytes more for each spool, deletion and conflict") == true, "\(String(describing: counted))")
        #expect(tiny.n == 3)
        // Within both limits, the same answer is applied.
        let report = try await client(FixedAnswer(status: 200, body: Array(many.utf8)), bytes: 1 << 20).run()
        #expect(report.receivedChanges == 200)
        #expect(try await a.store.head() != head)
    }

    /// A deletion of a spool this history does not hold (never had, or has deleted) deletes nothing here: the
    /// commit and the report count what the commit does, and the others apart (before, all were counted deleted).
    @Test func deletionsOfSpoolsNotHeldAreCountedApart() async throws {
        let a = try LocalDevice("a")
        try await a.importSpools([spool("S1", clock.read()), spool("S2", clock.read())])
        let body = #"{"success":true,"serverTime":1760000000000,"cursor":"c1","changes":[],"deletions":["S1","NEVER","../../x"],"conflicts":[],"hasMore":false}"#
        let report = try await a.sync(FixedAnswer(status: 200, body: Array(body.utf8)), clock: clock)
        #expect(report.receivedDeletions == 1 && report.receivedChanges == 0)
        let commit = try await a.store.readCommit(try #require(report.commit))
        #expect(commit.message.hasPrefix("sync with test://server: 0 spools received, 1 deleted\n"), "\(commit.message)")
        #expect(commit.trailer("Filamentdb-Deletions-Not-Held") == "2", "\(commit.message)")
        let s1 = try await a.store.spool("S1"), s2 = try await a.store.spool("S2")
        #expect(s1?.isDeleted == true && s2?.isDeleted == false)
    }

    /// A refusal's words are printed and kept: control characters escaped, and cut short.
    @Test func aRefusalsWordsAreEscapedAndCutShort() async throws {
        let a = try LocalDevice("a")
        try await a.importSpools([spool("S1", clock.read())])
        // JSON escapes: clear the screen, set the window's title, a bell, a forged line; then 5,000 characters.
        let words = #"\u001b[2J\u001b]0;pwned\u0007line\nFAKE LINE: all good "# + String(repeating: "E", count: 5_000)
        let error = await #expect(throws: SyncClientError.self) {
            try await a.sync(FixedAnswer(status: 503, body: Array(#"{"success":false,"error":"\#(words)"}"#.utf8)), clock: clock)
        }
        let message = try #require(error?.message)
        #expect(!message.unicodeScalars.contains { $0.value < 0x20 }, "\(message.prefix(80))")
        #expect(message.contains("\\u{1b}[2J") && message.contains("\\u{a}FAKE LINE") && message.count < 1_200, "\(message.prefix(120))")
        #expect((try a.state.lastError) == message)
    }
}

/// True the first time only.
final class Flag: @unchecked Sendable {
    private let lock = NSLock()
    private var done = false
    func set() -> Bool { lock.withLock { defer { done = true }; return !done } }
}
