import Foundation
import SpoolHistory
import SpoolModel
@testable import SpoolSync
import SpoolTestSupport
import Testing

/// Under a steady stream of requests the server writes each pack on a thread of its own while requests go on
/// (`InventoryRepository.publishInBackground`): a branch reaches the disk only once the pack holding its
/// commit has (the moves made before the pack was started land with it; later ones wait for the next), and
/// objects no pack holds yet stay readable through it all, packs being combined and memory rebuilt.
@Suite struct BackgroundPublishTests {
    @Test func aBranchReachesTheDiskOnlyWithThePackOfItsCommit() async throws {
        let clock = ManualClock()
        let (service, store, path) = try newService(clock: clock)
        let a = CursorDevice("a"), b = CursorDevice("b")
        let rounds = 12
        for round in 0..<rounds {
            clock.advance(1000)
            a.edit("S\(round % 5)", at: clock.read(), ["weightRemaining": .int(Int64(1000 - round))])
            a.edit("T\(round)", at: clock.read(), ["color": .string("c\(round)")])
            try await a.sync(service)
            // A pack of what the journal holds is started; a request comes while it is written.
            try await store.write { (repo) throws(HistoryError) in try repo.publishInBackground() }
            clock.advance(1000)
            b.edit("U\(round)", at: clock.read(), ["color": .string("blue")])
            try await b.sync(service)
            try await store.write { (repo) throws(HistoryError) in try repo.landPublished(wait: true) }
            // Another process sees branches that name only what its packs hold (the second request's commit,
            // in memory only, is not on main on disk yet, unless an idle publish wrote it whole).
            let fsck = try git(["-C", path, "fsck", "--strict", "--no-dangling"])
            #expect(fsck.status == 0, "round \(round): \(fsck.output)")
            // Everything reads back: from packs, combined packs and memory alike.
            try await a.sync(service)
            try await b.sync(service)
            #expect(a.contents == b.contents)
            #expect(try await mainContents(store) == a.contents)
        }
        await service.close()
        // Every request is on main on disk, and the packs of the publishes were combined.
        let onDisk = try git(["-C", path, "rev-parse", "refs/heads/main"]).output.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(onDisk == (try await store.head())?.hex)
        #expect(try git(["-C", path, "fsck", "--strict"]).status == 0)
        let packs = try FileManager.default.contentsOfDirectory(atPath: path + "/objects/pack").filter { $0.hasSuffix(".pack") }
        #expect(packs.count < rounds, "\(packs.count) packs")
        #expect(a.contents.count == 5 + rounds * 2)
    }

    /// On a full disk (every pack write fails) requests are still applied through the journal, and no branch on
    /// disk names a commit no pack holds: the moves wait with their objects for a pack that can be written.
    /// Before, the second attempt to land a failed pack wrote its moves all the same, and stock git (and
    /// `filamentdb log`) saw a broken history until the server restarted (found by probing a full disk).
    @Test func aPackThatCannotBeWrittenKeepsItsBranchesOffTheDisk() async throws {
        let clock = ManualClock()
        let (service, store, path) = try newService(clock: clock)
        let a = CursorDevice("a")
        clock.advance(1000)
        a.edit("S0", at: clock.read(), ["weightRemaining": .int(900)])
        try await a.sync(service)
        try await store.write { (repo) throws(HistoryError) in try repo.publish() }
        func mainOnDisk() throws -> String { try git(["-C", path, "rev-parse", "refs/heads/main"]).output.trimmingCharacters(in: .whitespacesAndNewlines) }
        let before = try mainOnDisk()
        PackWriter.failingFolders.fail(path + "/objects/pack", true)
        defer { PackWriter.failingFolders.fail(path + "/objects/pack", false) }
        for round in 1...4 {
            clock.advance(1000)
            a.edit("S\(round)", at: clock.read(), ["weightRemaining": .int(Int64(900 - round))])
            try await a.sync(service)
            // The background's pack fails, and so does the writer's attempt; then the pack is asked for again.
            _ = try? await store.write { (repo) throws(HistoryError) in try repo.publishInBackground() }
            for _ in 0..<2 { _ = try? await store.write { (repo) throws(HistoryError) in try repo.landPublished(wait: true) } }
            let fsck = try git(["-C", path, "fsck", "--strict", "--no-dangling"])
            #expect(fsck.status == 0, "round \(round): \(fsck.output)")
            #expect(try mainOnDisk() == before, "round \(round)")
        }
        // A large write starts its pack at once, which fails; it and the request after it are applied and answered
        // all the same, through the journal. (Whether that request's landing meets the failed pack depends on the
        // server's own publish, 20 ms after each request: this does not make it happen on demand.)
        clock.advance(1000)
        let note = JSONValue.string(String(repeating: "n", count: 300))
        for i in 0..<5_000 { a.edit("L\(i)", at: clock.read(), ["notes": note]) }
        try await a.sync(service)
        clock.advance(1000)
        a.edit("S9", at: clock.read(), ["weightRemaining": .int(1)])
        try await a.sync(service)
        #expect(try await store.spool("S9")?["weightRemaining"] == .int(1))
        #expect(try git(["-C", path, "fsck", "--strict", "--no-dangling"]).status == 0)
        await #expect(throws: HistoryError.self) { try await store.write { (repo) throws(HistoryError) in try repo.publish() } }
        // Room again: the next request's pack, written in the background, holds what the failed ones did too (it
        // held only its own request's objects, and its branch moves named commits no pack held: found by probing
        // a full disk with the server running).
        // (The server's own publish after the last request, 20 ms after it, fails first: with room, it would write
        // everything itself.)
        try await Task.sleep(nanoseconds: 200_000_000)
        PackWriter.failingFolders.fail(path + "/objects/pack", false)
        try await store.write { (repo) throws(HistoryError) in try repo.publishInBackground() }
        try await store.write { (repo) throws(HistoryError) in try repo.landPublished(wait: true) }
        let afterRoom = try git(["-C", path, "fsck", "--strict", "--no-dangling"])
        #expect(afterRoom.status == 0, "\(afterRoom.output)")
        try await store.write { (repo) throws(HistoryError) in try repo.publish() }
        #expect(try mainOnDisk() == (try await store.head())?.hex)
        #expect(try git(["-C", path, "fsck", "--strict"]).status == 0)
        #expect(try await mainContents(store) == a.contents)
        #expect(a.contents.count == 5_006)
        await service.close()
    }

    /// A checkpoint does not end the combining of the packs written before it (once combined, they go after the
    /// next checkpoint): a server that checkpoints every few publishes keeps a few packs, not one per publish (past
    /// `InventoryStore.packLimit` of them the whole database was repacked, tens of seconds on a large history).
    @Test func packsWrittenBeforeACheckpointAreStillCombined() async throws {
        let clock = ManualClock()
        let (service, store, path) = try newService(clock: clock)
        let a = CursorDevice("a")
        let rounds = 48
        for round in 0..<rounds {
            clock.advance(1000)
            a.edit("S\(round)", at: clock.read(), ["weightRemaining": .int(Int64(1000 - round))])
            try await a.sync(service)
            try await store.write { (repo) throws(HistoryError) in try repo.publish() }
            if round % 5 == 4 {
                try await store.write { (repo) throws(HistoryError) in try repo.checkpoint(carryingStates: true) }
            }
        }
        #expect(try git(["-C", path, "fsck", "--strict"]).status == 0)
        // Everything reads back, in this server and in a new one on the same disk.
        #expect(try await mainContents(store) == a.contents)
        // Packs combined from ones the journal no longer held wait for the next checkpoint to go.
        await service.close()
        let packs = try FileManager.default.contentsOfDirectory(atPath: path + "/objects/pack").filter { $0.hasSuffix(".pack") }
        #expect(packs.count <= 12, "\(packs.count) packs after \(rounds) publishes")
        #expect(try git(["-C", path, "fsck", "--strict"]).status == 0)
        let reopened = try InventoryStore(path: path, create: false)
        #expect(try await mainContents(reopened) == a.contents)
        #expect(a.contents.count == rounds)
    }

    /// A history a server left, with more than `InventoryStore.packLimit` packs, all written long ago (a
    /// collection keeps packs younger than `InventoryStore.garbageGrace`: another process may be about to move a
    /// branch to what they hold). Returns its path and a function counting its packs.
    func historyPastThePackLimit(_ clock: ManualClock, _ a: CursorDevice) async throws -> (path: String, packs: () throws -> Int) {
        let (first, _, served) = try newService(clock: clock)
        a.edit("S1", at: clock.read(), ["color": .string("red")])
        try await a.sync(first)
        await first.close()
        // The history as that server left it, served again by another.
        let path = Fixtures.temporaryDirectory() + "/history.git"
        try FileManager.default.copyItem(atPath: served, toPath: path)
        // Past the limit of packs, as a history long served (or copied together) can be.
        for i in 0...InventoryStore.packLimit {
            let file = Fixtures.temporaryDirectory() + "/blob"
            try Data("loose \(i)\n".utf8).write(to: URL(fileURLWithPath: file))
            // A pack of one blob (git packs what a reference reaches; the reference goes again).
            let id = try git(["-C", path, "hash-object", "-w", file]).output.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(try git(["-C", path, "update-ref", "refs/test/blob", id]).status == 0)
            #expect(try git(["-C", path, "repack", "-q"]).status == 0)
            #expect(try git(["-C", path, "update-ref", "-d", "refs/test/blob"]).status == 0)
        }
        func packs() throws -> Int {
            try FileManager.default.contentsOfDirectory(atPath: path + "/objects/pack").filter { $0.hasSuffix(".pack") }.count
        }
        let folder = path + "/objects/pack"
        for name in try FileManager.default.contentsOfDirectory(atPath: folder) {
            try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(-3600)], ofItemAtPath: folder + "/" + name)
        }
        let made = try packs()
        #expect(made > InventoryStore.packLimit, "\(made) packs")
        return (path, packs)
    }

    /// A sync server never repacks its history in the path of a request (tens of seconds on a large history,
    /// during which nothing is answered, and at start-up after a crash before it listens): it does once it
    /// falls idle.
    @Test func aServerCollectsGarbageOnlyWhileIdle() async throws {
        let clock = ManualClock()
        let a = CursorDevice("a")
        let (path, packs) = try await historyPastThePackLimit(clock, a)
        let store = try InventoryStore(path: path, create: false)
        let service = SyncService(store: store, clock: { clock.read() })
        clock.advance(1000)
        a.edit("S2", at: clock.read(), ["color": .string("blue")])
        try await a.sync(service)
        #expect(try packs() > InventoryStore.packLimit, "a request repacked the history")
        // Idle: the server's own maintenance collects (a minute at most: the whole suite on two cores makes a test
        // that takes 2 s alone take 50).
        let deadline = Date().addingTimeInterval(60)
        // (Until the collection has removed what it repacked: the count passes the limit on the way down.)
        while try packs() >= 5, Date() < deadline { try await Task.sleep(nanoseconds: 20_000_000) }
        #expect(try packs() < 5)
        #expect(try git(["-C", path, "fsck", "--strict"]).status == 0)
        #expect(try await mainContents(store) == a.contents)
        await service.close()
    }

    /// A server whose packs a collection cannot rewrite (it gives way to every request) writes, while idle, a
    /// multi-pack-index of them: git and libgit2 find each object with one search, not one per pack. Every object
    /// reads back through it, in this server and in a new one, and git checks it. A collection that does rewrite
    /// the packs removes the index first: none is left naming packs that are gone.
    @Test func manyPacksGetAMultiPackIndexThatACollectionRemoves() async throws {
        let clock = ManualClock()
        let a = CursorDevice("a")
        let (path, packs) = try await historyPastThePackLimit(clock, a)
        let index = path + "/objects/pack/multi-pack-index"
        let store = try InventoryStore(path: path, create: false)
        let service = SyncService(store: store, clock: { clock.read() })
        await service.setCollectionRetry(200_000_000)
        // Every collection gives way (as to requests that keep coming).
        let giving = GivingWaySwitch()
        await store.setGivingWayToo({ giving.on }, collectionInterval: 0.1)
        clock.advance(1000)
        a.edit("S2", at: clock.read(), ["color": .string("blue")])
        try await a.sync(service)
        let deadline = Date().addingTimeInterval(60)
        while !FileManager.default.fileExists(atPath: index), Date() < deadline { try await Task.sleep(nanoseconds: 20_000_000) }
        let many = try packs()
        #expect(FileManager.default.fileExists(atPath: index), "no multi-pack-index with \(many) packs")
        #expect(try packs() > InventoryStore.packLimit)
        #expect(try git(["-C", path, "multi-pack-index", "verify"]).status == 0)
        #expect(try git(["-C", path, "fsck", "--strict"]).status == 0)
        // It lists the packs that stay: at least those the history came with (the server's own may still be combined).
        let header = try #require(FileManager.default.contents(atPath: index)).prefix(12)
        #expect(Array(header.prefix(4)) == Array("MIDX".utf8))
        let listed = header.suffix(4).reduce(0) { $0 << 8 | Int($1) }
        let onDisk = try packs()
        #expect(listed > InventoryStore.packLimit && listed <= onDisk, "\(listed) of \(onDisk) packs listed")
        #expect(try await mainContents(store) == a.contents)
        clock.advance(1000)
        a.edit("S3", at: clock.read(), ["color": .string("green")])
        try await a.sync(service)
        #expect(try await mainContents(store) == a.contents)
        // (What the journal holds, on the branches, for another reader.)
        try await store.write { (repo) throws(HistoryError) in try repo.publish() }
        let reopened = try InventoryStore(path: path, create: false)
        #expect(try await mainContents(reopened) == a.contents)
        // The collection may now run: the packs become one, and the index goes with them.
        giving.on = false
        // (The packs the server wrote in the last minute stay: another process may be about to use them.)
        let collected = Date().addingTimeInterval(60)
        while try packs() >= 12, Date() < collected { try await Task.sleep(nanoseconds: 20_000_000) }
        #expect(try packs() < 12)
        #expect(!FileManager.default.fileExists(atPath: index))
        #expect(try git(["-C", path, "fsck", "--strict"]).status == 0)
        #expect(try await mainContents(store) == a.contents)
        await service.close()
    }

    /// A collection that gave way to a request is tried again once it may be, with no request to start it
    /// (before, a server that fell idle kept its packs until some later request).
    @Test func aCollectionThatGaveWayIsTriedAgain() async throws {
        let clock = ManualClock()
        let a = CursorDevice("a")
        let (path, packs) = try await historyPastThePackLimit(clock, a)
        let store = try InventoryStore(path: path, create: false)
        let service = SyncService(store: store, clock: { clock.read() })
        await service.setCollectionRetry(200_000_000)
        // The first collection gives way (as to a request that came); the ones after it do not.
        let asked = QuestionCount()
        await store.setGivingWayToo({ asked.next() == 0 }, collectionInterval: 0.1)
        clock.advance(1000)
        a.edit("S2", at: clock.read(), ["color": .string("blue")])
        try await a.sync(service)
        // (A minute at most, as above: under the whole suite the retry's 10 s deadline passed before it came.)
        let deadline = Date().addingTimeInterval(60)
        while try packs() >= 5, Date() < deadline { try await Task.sleep(nanoseconds: 20_000_000) }
        #expect(try packs() < 5)
        #expect(asked.value >= 2, "asked \(asked.value) times")
        #expect(try git(["-C", path, "fsck", "--strict"]).status == 0)
        #expect(try await mainContents(store) == a.contents)
        await service.close()
    }

    /// Packs written before a checkpoint hold the only copy of their objects (the journal was emptied): once
    /// combined into a pack that is not flushed yet, they stay on disk until the next checkpoint has flushed it.
    @Test func packsTheJournalNoLongerHoldsStayUntilTheirCombinationIsFlushed() async throws {
        let clock = ManualClock()
        let (service, store, path) = try newService(clock: clock)
        let a = CursorDevice("a")
        func packs() throws -> Set<String> {
            Set(try FileManager.default.contentsOfDirectory(atPath: path + "/objects/pack").filter { $0.hasSuffix(".pack") })
        }
        func publishOne(_ n: Int) async throws {
            clock.advance(1000)
            a.edit("S\(n)", at: clock.read(), ["weightRemaining": .int(Int64(1000 - n))])
            try await a.sync(service)
            try await store.write { (repo) throws(HistoryError) in try repo.publish() }
        }
        let before = try packs()
        for n in 0..<3 { try await publishOne(n) }
        try await store.write { (repo) throws(HistoryError) in try repo.checkpoint(carryingStates: true) }
        let outlived = try packs().subtracting(before)
        #expect(outlived.count == 3)
        // Five more: the eighth publish combines all eight into one pack, written without a flush.
        for n in 3..<8 { try await publishOne(n) }
        let combined = try packs().subtracting(before).subtracting(outlived)
        #expect(combined.count == 6, "\(combined)")
        #expect(try packs().isSuperset(of: outlived), "a pack the journal no longer held went before its combination was flushed")
        // The checkpoint flushes the combined pack; then the eight go.
        try await store.write { (repo) throws(HistoryError) in try repo.checkpoint(carryingStates: true) }
        let after = try packs().subtracting(before)
        #expect(after.isDisjoint(with: outlived) && after.count == 1, "\(after)")
        #expect(try git(["-C", path, "fsck", "--strict"]).status == 0)
        #expect(try await mainContents(store) == a.contents)
        await service.close()
    }

    /// `close()` stops the publish a request scheduled (and waits for it if it is writing) before its own
    /// checkpoint: nothing is left to write the history after it, while a process exits.
    @Test func closeStopsTheScheduledPublish() async throws {
        let (service, store, _) = try newService()
        _ = try await service.sync(SyncRequest(deviceId: "a", changes: [record("S1", 5)]))
        #expect(await service.publishing != nil)
        await service.close()
        #expect(await service.publishing == nil)
        try await Task.sleep(nanoseconds: 3 * InventoryRepository.publishWhenIdle)
        #expect(await service.publishing == nil)
        #expect(try await store.spool("S1")?.lastUpdated == 5)
    }
}

/// Whether collections give way, switched by a test.
final class GivingWaySwitch: @unchecked Sendable {
    private let lock = NSLock()
    private var value = true
    var on: Bool {
        get { lock.withLock { value } }
        set { lock.withLock { value = newValue } }
    }
}
