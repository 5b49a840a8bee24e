import Foundation
import SpoolHistory
import SpoolModel
@testable import SpoolSync
import SpoolTestSupport
import Testing

/// A device that behaves like the web app's `SyncManager` (SYNC-PROTOCOL.md, "The web app's client"): rows
/// keyed by a local numeric id, its own clock as `lastSyncTime`, no cursor, soft deletions sent as ids, and
/// what comes back applied by id only.
final class WebAppDevice {
    let name: String
    /// Its clock's distance from the server's.
    let skew: Int64
    let clock: ManualClock
    var table = WebAppRows()
    var rows: [Int64: [String: JSONValue]] { get { table.rows } set { table.rows = newValue } }
    var lastSyncTime: Int64 { table.lastSyncTime }

    init(_ name: String, clock: ManualClock, skew: Int64 = 0) {
        self.name = name
        self.clock = clock
        self.skew = skew
    }

    var now: Int64 { clock.read() + skew }

    @discardableResult
    func add(_ serial: String, _ fields: [String: JSONValue]) -> Int64 { table.add(serial, fields, at: now) }

    func edit(_ id: Int64, _ fields: [String: JSONValue]) {
        for (k, v) in fields { rows[id]?[k] = v }
        rows[id]?["lastUpdated"] = .int(now)
    }

    func softDelete(_ id: Int64) {
        rows[id]?["deleted"] = .bool(true)
        rows[id]?["lastUpdated"] = .int(now)
    }

    /// The id of the live row of `serial`.
    func id(of serial: String) -> Int64? { rows.first { $0.value["serial"] == .string(serial) && $0.value["deleted"] != .bool(true) }?.key }

    func row(_ serial: String) -> [String: JSONValue]? { rows.values.first { $0["serial"] == .string(serial) && $0["deleted"] != .bool(true) } }

    /// The request the client sends now.
    func request() -> SyncRequest {
        let changed = table.changed
        return SyncRequest(deviceId: name, lastSyncTime: lastSyncTime,
                           changes: changed.filter { $0["deleted"] != .bool(true) }.map { .object($0) },
                           deletions: changed.filter { $0["deleted"] == .bool(true) }.map { .legacyID($0["id"]!.integer!) })
    }

    @discardableResult
    func sync(_ service: SyncService, losingTheAnswer: Bool = false) async throws -> SyncResponse {
        let start = now
        let response = try await service.sync(request())
        if losingTheAnswer { return response }
        table.apply(response.changes)
        table.finishSync(startedAt: start)
        return response
    }

}

@Suite struct WebAppClientTests {
    @Test func eachDeviceGetsItsOwnIdsAndNeverAnothers() async throws {
        let clock = ManualClock()
        let (service, store, _) = try newService(clock: clock)
        let a = WebAppDevice("browser-a", clock: clock), b = WebAppDevice("browser-b", clock: clock)
        b.table.nextID = 500
        let s1 = a.add("S1", ["brand": .string("Prusament"), "weightRemaining": .int(1000)])
        a.add("S2", ["brand": .string("Polymaker"), "weightRemaining": .int(750)])
        try await a.sync(service)
        #expect(try await store.spool("S1")?["id"] == nil)
        let first = try await b.sync(service)
        // b never had these: they come without an id (never another device's), and b gives them its own.
        #expect(first.changes.allSatisfy { $0["id"] == nil })
        let bS1 = try #require(b.rows.first { $0.value["serial"] == .string("S1") }?.key)
        #expect(bS1 >= 500)
        clock.advance(1000)
        b.edit(bS1, ["weightRemaining": .int(640)])
        try await b.sync(service)
        let toA = try await a.sync(service)
        #expect(toA.changes.count == 1 && toA.changes[0]["id"] == .int(s1))
        #expect(a.rows[s1]?["weightRemaining"] == .int(640))
        // And back: a's edit reaches b under b's id.
        clock.advance(1000)
        a.edit(s1, ["weightRemaining": .int(600)])
        try await a.sync(service)
        let toB = try await b.sync(service)
        #expect(toB.changes.map { $0["id"] } == [.int(bS1)])
        #expect(b.rows[bS1]?["weightRemaining"] == .int(600))
    }

    /// A browser whose database was cleared keeps its device id and starts again at `lastSyncTime: 0`: it gets
    /// the whole inventory, what it uploaded itself included (those were left out as "sent by this device"), paged
    /// or not. (Found by an attacker's pass: such a device got 0 of its 10 spools back.)
    @Test func lastSyncTimeZeroFromAKnownDeviceGetsEverythingItSentToo() async throws {
        for limit in [nil, 3] as [Int?] {
            let clock = ManualClock()
            let (service, store, _) = try newService(clock: clock)
            let a = WebAppDevice("browser-a", clock: clock), b = WebAppDevice("browser-b", clock: clock)
            for i in 0..<10 { a.add("A-\(i)", ["weightRemaining": .int(Int64(i))]) }
            try await a.sync(service)
            for i in 0..<4 { b.add("B-\(i)", ["weightRemaining": .int(Int64(i))]) }
            try await b.sync(service)
            clock.advance(1000)
            // The database is cleared: nothing to send, lastSyncTime 0, the same device id.
            var serials: [String] = []
            var request = SyncRequest(deviceId: "browser-a", lastSyncTime: 0, changes: [], deletions: [], limit: limit)
            while true {
                let answer = try await service.sync(request)
                serials += answer.changes.map(\.serial)
                guard answer.hasMore else { break }
                request = SyncRequest(deviceId: "browser-a", lastSyncTime: 0, cursor: answer.cursor, changes: [], deletions: [], limit: limit)
            }
            #expect(serials.sorted() == (try await mainContents(store)).keys.sorted(), "limit \(String(describing: limit))")
            #expect(serials.count == 14)
        }
    }

    /// Two web-app devices that both hold S1 and S2 (a made them, b received them and synced once more, so that its
    /// last request started from a state that had them), a second later.
    static func twoBrowsersWithTwoSpools() async throws -> (ManualClock, SyncService, InventoryStore, WebAppDevice, WebAppDevice) {
        let clock = ManualClock()
        let (service, store, _) = try newService(clock: clock)
        let a = WebAppDevice("browser-a", clock: clock), b = WebAppDevice("browser-b", clock: clock)
        a.add("S1", ["brand": .string("Prusament"), "weightRemaining": .int(1000)])
        a.add("S2", ["brand": .string("Polymaker"), "weightRemaining": .int(750)])
        try await a.sync(service)
        try await b.sync(service)
        clock.advance(1000)
        try await b.sync(service)
        clock.advance(1000)
        return (clock, service, store, a, b)
    }

    /// A browser killed before it wrote its localStorage loses its `lastSyncTime`, not its rows: its next sync sends
    /// every row with `lastSyncTime: 0`. Merged against where its last request started, the field another device
    /// set since (here a color its row lacks) stays, with no conflict; merged against nothing (as before), its
    /// later row overruled it, as a recorded conflict. It is still answered everything it did not send as the merge
    /// kept it, and a retry of that request (its answer lost) is merged the same way: no new commit.
    @Test func aDeviceThatLostItsLastSyncTimeIsMergedAgainstWhatItHad() async throws {
        let (clock, service, store, a, b) = try await Self.twoBrowsersWithTwoSpools()
        a.edit(try #require(a.id(of: "S2")), ["color": .string("galaxy black")])
        try await a.sync(service)
        clock.advance(1000)
        let bS2 = try #require(b.id(of: "S2"))
        b.edit(bS2, ["weightRemaining": .int(300)])
        b.table.lastSyncTime = 0
        #expect(b.request().changes.count == 2, "every row goes")
        let lost = try await b.sync(service, losingTheAnswer: true)
        let head = try await store.head()
        #expect(try await store.spool("S2")?["color"] == .string("galaxy black"))
        #expect(try await store.spool("S2")?["weightRemaining"] == .int(300))
        #expect(lost.conflicts.isEmpty, "\(lost.conflicts)")
        #expect(try await store.conflicts().isEmpty)
        // Everything comes back but what the device sent as the merge kept it: S2, merged, under b's id.
        #expect(lost.changes.map(\.serial) == ["S2"] && lost.changes.first?["id"] == .int(bS2))
        let again = try await b.sync(service)
        #expect(try await store.head() == head)
        #expect(again.changes.map(\.serial) == ["S2"] && again.conflicts.isEmpty)
        #expect(b.row("S2")?["color"] == .string("galaxy black") && b.row("S2")?["weightRemaining"] == .int(300))
        try await a.sync(service)
        #expect(a.row("S2")?["color"] == .string("galaxy black") && a.row("S2")?["weightRemaining"] == .int(300))
    }

    /// The same when the answer before was lost too (found by an attacker's pass of a first version, merged
    /// against that answer): the device's row still has what another device changed in it (S1), or its own value
    /// that answer overruled (S2). Neither is taken for the device's edit, which would undo the other's with no
    /// conflict: S1 stays, S2 is a conflict again, decided as before and returned; its own new edit (S3) goes
    /// through; and the request sent again changes nothing. (A request with a conflict, sent again, made a new
    /// merge commit for its conflict's record each time; now a conflict main holds is not recorded again.)
    @Test func aDeviceThatLostItsLastAnswerAndItsLastSyncTimeUndoesNoOtherEdit() async throws {
        let (clock, service, store, a, b) = try await Self.twoBrowsersWithTwoSpools()
        a.add("S3", ["brand": .string("Sunlu"), "weightRemaining": .int(500)])
        try await a.sync(service)
        try await b.sync(service)
        clock.advance(1000)
        b.edit(try #require(b.id(of: "S2")), ["weightRemaining": .int(900)])
        clock.advance(1000)
        a.edit(try #require(a.id(of: "S1")), ["weightRemaining": .int(640)])
        a.edit(try #require(a.id(of: "S2")), ["weightRemaining": .int(640)])
        try await a.sync(service)
        clock.advance(1000)
        let lost = try await b.sync(service, losingTheAnswer: true)
        #expect(lost.conflicts.map(\.serial) == ["S2"] && lost.conflicts.first?.winner == "server")
        // That request sent again (its answer lost again) records its conflict no second time: no new commit.
        let recorded = try await store.head()
        let retried = try await b.sync(service, losingTheAnswer: true)
        #expect(try await store.head() == recorded)
        #expect(retried.conflicts.map(\.id) == lost.conflicts.map(\.id))
        clock.advance(1000)
        b.edit(try #require(b.id(of: "S3")), ["color": .string("teal")])
        b.table.lastSyncTime = 0
        let answer = try await b.sync(service, losingTheAnswer: true)
        let head = try await store.head()
        #expect(try await store.spool("S1")?["weightRemaining"] == .int(640), "a's edit stays")
        #expect(try await store.spool("S2")?["weightRemaining"] == .int(640), "a's later edit stays")
        #expect(try await store.spool("S3")?["color"] == .string("teal"), "b's edit goes through")
        #expect(answer.conflicts.map(\.serial) == ["S2"] && answer.conflicts.first?.winner == "server", "\(answer.conflicts)")
        let again = try await b.sync(service)
        #expect(try await store.head() == head)
        #expect(Set(again.changes.map(\.serial)) == ["S1", "S2"])
        #expect(b.row("S1")?["weightRemaining"] == .int(640) && b.row("S2")?["weightRemaining"] == .int(640))
    }

    @Test func aClockAheadAsLastSyncTimeStillGetsExactlyWhatItHasNotSeen() async throws {
        let clock = ManualClock()
        let (service, _, _) = try newService(clock: clock)
        let ahead = WebAppDevice("ahead", clock: clock, skew: 3_600_000), other = WebAppDevice("other", clock: clock)
        ahead.add("S1", ["weightRemaining": .int(1000)])
        try await ahead.sync(service)
        try await other.sync(service)
        clock.advance(1000)
        other.add("S2", ["weightRemaining": .int(900)])
        try await other.sync(service)
        // Its lastSyncTime is an hour in the server's future: never a 400, and S2 (made after its sync) arrives.
        let got = try await ahead.sync(service)
        #expect(got.changes.map(\.serial) == ["S2"])
        let again = try await ahead.sync(service)
        #expect(again.changes.isEmpty && again.deletions.isEmpty)
    }

    @Test func aLostAnswerIsSentAgain() async throws {
        let clock = ManualClock()
        let (service, store, _) = try newService(clock: clock)
        let a = WebAppDevice("a", clock: clock), b = WebAppDevice("b", clock: clock)
        a.add("S1", ["weightRemaining": .int(1000)])
        try await a.sync(service)
        try await b.sync(service)
        clock.advance(1000)
        b.add("S2", ["weightRemaining": .int(500)])
        try await b.sync(service)
        clock.advance(1000)
        let lost = try await a.sync(service, losingTheAnswer: true)
        #expect(lost.changes.map(\.serial) == ["S2"])
        let head = try await store.head()
        let again = try await a.sync(service)
        #expect(again.changes.map(\.serial) == ["S2"])
        #expect(try await store.head() == head)
        #expect(a.row("S2") != nil)
    }

    @Test func deletionsByIdResolveThroughTheDevicesOwnIds() async throws {
        let clock = ManualClock()
        let (service, store, _) = try newService(clock: clock)
        let a = WebAppDevice("a", clock: clock), b = WebAppDevice("b", clock: clock)
        let s1 = a.add("S1", ["weightRemaining": .int(1000)])
        a.add("S2", ["weightRemaining": .int(900)])
        try await a.sync(service)
        try await b.sync(service)
        // b edits S1, then a deletes it and syncs first; b's older edit arrives after the deletion.
        clock.advance(1000)
        let bS1 = try #require(b.rows.first { $0.value["serial"] == .string("S1") }?.key)
        b.edit(bS1, ["weightRemaining": .int(10)])
        clock.advance(1000)
        a.softDelete(s1)
        var request = a.request()
        request.deletions.append(.legacyID(9999))
        let answer = try await service.sync(request)
        #expect(answer.unresolvedDeletions == [9999])
        #expect(try await store.spool("S1")?.isDeleted == true)
        let stale = try await b.sync(service)
        #expect(stale.deletions == ["S1"] && stale.changes.isEmpty)
        #expect(stale.conflicts.map(\.field) == ["deleted"] && stale.conflicts[0].winner == "server")
        #expect(try await store.spool("S1")?.isDeleted == true)
        // A device that had not touched it is sent the deletion too.
        let c = WebAppDevice("c", clock: clock)
        try await c.sync(service)
        #expect(c.row("S1") == nil && c.row("S2") != nil)
    }

    /// The same, with the first row's id and serial only in the device's state commit (written at the
    /// checkpoint), and a serial long enough for its file name to be cut in folders: the second row, added
    /// later, is still told apart, and a deletion by the first row's id still resolves. (The state's ids,
    /// serials and sent files are looked up through its shard folders.)
    @Test func aDevicesCommittedStateStillTellsRowsApart() async throws {
        let clock = ManualClock()
        let (first_, _, path) = try newService(clock: clock)
        let a = WebAppDevice("a", clock: clock)
        let long = "LONG-" + String(repeating: "Ab%", count: 120)
        let first = a.add(long, ["color": .string("red")])
        let other = a.add("SHORT", ["color": .string("grey")])
        try await a.sync(first_)
        await first_.close()
        // A server started again on that history knows the device only from its state commit.
        let copy = Fixtures.temporaryDirectory() + "/history.git"
        try FileManager.default.copyItem(atPath: path, toPath: copy)
        let store = try InventoryStore(path: copy, create: false)
        let service = SyncService(store: store, clock: { clock.read() })
        clock.advance(1000)
        let second = a.add(long, ["color": .string("blue")])
        let answer = try await a.sync(service)
        #expect(answer.renamed == [SyncRename(id: second, serial: long, newSerial: long + "~id-\(second)")])
        #expect(try await store.spool(long)?["color"] == .string("red"))
        #expect(try await store.spool(long + "~id-\(second)")?["color"] == .string("blue"))
        clock.advance(1000)
        a.softDelete(first)
        a.softDelete(other)
        let deletion = try await a.sync(service)
        #expect(deletion.unresolvedDeletions.isEmpty)
        #expect(try await store.spool(long)?.isDeleted == true)
        #expect(try await store.spool("SHORT")?.isDeleted == true)
    }

    @Test func twoRowsWithOneSerialAreKeptApartAndReported() async throws {
        let clock = ManualClock()
        let (service, store, _) = try newService(clock: clock)
        let a = WebAppDevice("a", clock: clock)
        let first = a.add("DUP", ["color": .string("red")])
        let second = a.add("DUP", ["color": .string("blue")])
        let answer = try await a.sync(service)
        #expect(answer.renamed == [SyncRename(id: second, serial: "DUP", newSerial: "DUP~id-\(second)")])
        #expect(try await store.spool("DUP")?["color"] == .string("red"))
        #expect(try await store.spool("DUP~id-\(second)")?["color"] == .string("blue"))
        // The next edit of the second row lands on its own serial again.
        clock.advance(1000)
        a.edit(second, ["color": .string("green")])
        a.rows[second]?["serial"] = .string("DUP")
        let next = try await a.sync(service)
        #expect(next.renamed.map(\.newSerial) == ["DUP~id-\(second)"])
        #expect(try await store.spool("DUP~id-\(second)")?["color"] == .string("green"))
        #expect(try await store.spool("DUP")?["color"] == .string("red"))
        _ = first
    }

    /// One record sent twice in a request (the same serial and id, or no id) is one spool at its later version,
    /// counted as superseded, not two spools of which the newer edit got a made-up serial and the older stayed
    /// on the real one (found by an attacker's probe).
    @Test func aRecordSentTwiceInOneRequestIsOneSpoolAtItsLaterVersion() async throws {
        let clock = ManualClock()
        let (service, store, _) = try newService(clock: clock)
        let t = clock.read()
        func row(_ serial: String, _ id: Int64?, _ time: Int64, _ weight: Int64) -> JSONValue {
            .object(["serial": .string(serial), "lastUpdated": .int(time), "weightRemaining": .int(weight)].merging(id.map { ["id": .int($0)] } ?? [:]) { a, _ in a })
        }
        // In time order, against it, and without ids (a cursor client).
        let answer = try await service.sync(SyncRequest(deviceId: "dup", lastSyncTime: 0, changes: [
            row("DD", 1, t - 10, 100), row("DD", 1, t - 5, 80),
            row("EE", 2, t - 5, 70), row("EE", 2, t - 10, 90),
            row("FF", nil, t - 10, 60), row("FF", nil, t - 5, 50), row("FF", nil, t - 5, 40),
        ]))
        #expect(answer.renamed.isEmpty, "\(answer.renamed)")
        #expect(answer.synced == 7)
        for (serial, weight) in [("DD", 80), ("EE", 70), ("FF", 40)] {
            #expect(try await store.spool(serial)?["weightRemaining"] == .int(Int64(weight)), "\(serial)")
        }
        #expect(try await store.spools(at: try await store.head()).count == 3)
        let commit = try await store.readCommit(try #require(try await store.head(device: "dup")))
        #expect(commit.trailer("Filamentdb-Superseded") == "4")
        // A legacy deletion of the id then deletes the one spool.
        let deletion = try await service.sync(SyncRequest(deviceId: "dup", lastSyncTime: 0, cursor: answer.cursor, deletions: [.legacyID(1)]))
        #expect(deletion.unresolvedDeletions.isEmpty)
        #expect(try await store.spool("DD")?.isDeleted == true)
    }

    /// What the checks change in a request's spools to store them (a `null` field removed, a date string read as
    /// milliseconds, `deleted: 0`) is counted in the device commit's trailers: the history never holds a value
    /// other than what was sent without a count of it.
    @Test func whatTheChecksChangeInARequestIsCountedInItsCommit() async throws {
        let clock = ManualClock()
        let (service, store, _) = try newService(clock: clock)
        let row: JSONValue = .object(["id": .int(1), "serial": .string("NN"), "lastUpdated": .int(clock.read() - 10), "brand": .null,
                                      "color": .null, "createdAt": .string("2025-01-02T03:04:05.000Z"), "deleted": .int(0)])
        _ = try await service.sync(SyncRequest(deviceId: "old-app", lastSyncTime: 0, changes: [row]))
        let commit = try await store.readCommit(try #require(try await store.head(device: "old-app")))
        #expect(commit.trailer("Filamentdb-Migrated") == "deleted-from-0-or-1=1, null-known-field-removed=2, timestamp-from-iso-string=1", "\(commit.message)")
        let stored = try #require(try await store.spool("NN"))
        #expect(stored["brand"] == nil && stored["createdAt"] == .int(1_735_787_045_000) && stored["deleted"] == .bool(false))
        // A request that needed nothing has no such trailer.
        let plain: JSONValue = .object(["id": .int(2), "serial": .string("PP"), "lastUpdated": .int(clock.read() - 5)])
        _ = try await service.sync(SyncRequest(deviceId: "new-app", lastSyncTime: 0, changes: [plain]))
        let other = try await store.readCommit(try #require(try await store.head(device: "new-app")))
        #expect(other.trailer("Filamentdb-Migrated") == nil && other.trailer("Filamentdb-Emptied") == nil)
    }

    /// A serial the server derives for a device's second record of a serial names a spool of its own: when
    /// another spool already holds it, the derived serial takes `~2` rather than overwriting that spool (an
    /// attacker's probe overwrote another device's spool this way). Later edits of the row follow it there.
    @Test func aDerivedSerialNeverOverwritesAnotherSpool() async throws {
        let clock = ManualClock()
        let (service, store, _) = try newService(clock: clock)
        let t = clock.read()
        _ = try await service.sync(SyncRequest(deviceId: "x", lastSyncTime: 0, changes: [
            .object(["serial": .string("COL~id-2"), "lastUpdated": .int(t), "brand": .string("X-brand"), "weightRemaining": .int(5)]),
            .object(["serial": .string("LATE~id-7"), "lastUpdated": .int(t), "brand": .string("X-brand"), "weightRemaining": .int(6)]),
        ]))
        let y = WebAppDevice("y", clock: clock)
        clock.advance(1000)
        // Two rows of one serial in one request (the normaliser derives the serial).
        y.add("COL", ["weightRemaining": .int(1)])
        let second = y.add("COL", ["weightRemaining": .int(2)])
        let first = try await y.sync(service)
        #expect(first.renamed == [SyncRename(id: second, serial: "COL", newSerial: "COL~id-2~2")])
        #expect(try await store.spool("COL~id-2")?["brand"] == .string("X-brand"))
        #expect(try await store.spool("COL~id-2")?["weightRemaining"] == .int(5))
        #expect(try await store.spool("COL~id-2~2")?["weightRemaining"] == .int(2))
        // The second row's next edit lands on its derived serial again.
        clock.advance(1000)
        y.edit(second, ["weightRemaining": .int(3)])
        y.rows[second]?["serial"] = .string("COL")
        _ = try await y.sync(service)
        #expect(try await store.spool("COL~id-2~2")?["weightRemaining"] == .int(3))
        #expect(try await store.spool("COL~id-2")?["weightRemaining"] == .int(5))
        // A row added in a later request, whose serial another of the device's rows holds (the engine derives it).
        clock.advance(1000)
        let z = WebAppDevice("z", clock: clock)
        z.add("LATE", ["weightRemaining": .int(10)])
        _ = try await z.sync(service)
        clock.advance(1000)
        z.table.nextID = 7
        z.add("LATE", ["weightRemaining": .int(11)])
        let later = try await z.sync(service)
        #expect(later.renamed == [SyncRename(id: 7, serial: "LATE", newSerial: "LATE~id-7~2")], "\(later.renamed)")
        #expect(try await store.spool("LATE~id-7")?["weightRemaining"] == .int(6))
        #expect(try await store.spool("LATE~id-7~2")?["weightRemaining"] == .int(11))
    }

    /// A serial at the length limit, whose second row comes in a later request: its derived serial is cut to fit
    /// (as the normaliser cuts one within a request), not refused as too long.
    @Test func aSecondRowOfASerialAtTheLengthLimitGetsASerialThatFits() async throws {
        let clock = ManualClock()
        let (service, store, _) = try newService(clock: clock)
        let a = WebAppDevice("a", clock: clock)
        let long = String(repeating: "s", count: SpoolSchema.maxSerialBytes)
        a.add(long, ["color": .string("red")])
        _ = try await a.sync(service)
        clock.advance(1000)
        let second = a.add(long, ["color": .string("blue")])
        let answer = try await a.sync(service)
        let renamed = try #require(answer.renamed.first)
        #expect(renamed.id == second && renamed.serial == long)
        #expect(renamed.newSerial.utf8.count <= SpoolSchema.maxSerialBytes && renamed.newSerial.hasSuffix("~id-\(second)"), "\(renamed.newSerial)")
        #expect(try await store.spool(renamed.newSerial)?["color"] == .string("blue"))
        #expect(try await store.spool(long)?["color"] == .string("red"))
        // Its next edit lands there again.
        clock.advance(1000)
        a.edit(second, ["color": .string("green")])
        a.rows[second]?["serial"] = .string(long)
        _ = try await a.sync(service)
        #expect(try await store.spool(renamed.newSerial)?["color"] == .string("green"))
    }

    @Test func aSpoolTheMergeChangedGoesBackLaterThanWhatTheDeviceSent() async throws {
        let clock = ManualClock()
        let (service, _, _) = try newService(clock: clock)
        let a = WebAppDevice("a", clock: clock), b = WebAppDevice("b", clock: clock)
        let s1 = a.add("S1", ["color": .string("red"), "weightRemaining": .int(1000)])
        try await a.sync(service)
        try await b.sync(service)
        let bS1 = try #require(b.rows.first { $0.value["serial"] == .string("S1") }?.key)
        clock.advance(1000)
        b.edit(bS1, ["color": .string("blue")])
        try await b.sync(service)
        // a changes the weight at the very same millisecond b's color was written.
        a.rows[s1]?["weightRemaining"] = .int(800)
        a.rows[s1]?["lastUpdated"] = b.rows[bS1]!["lastUpdated"]
        let sent = a.rows[s1]!["lastUpdated"]!.integer!
        let answer = try await a.sync(service)
        let back = try #require(answer.changes.first)
        #expect(back["id"] == .int(s1) && back.lastUpdated! >= sent + 1)
        #expect(a.rows[s1]?["color"] == .string("blue") && a.rows[s1]?["weightRemaining"] == .int(800))
    }
}
