import Foundation
import SpoolHistory
import SpoolModel
@testable import SpoolSync
import SpoolTestSupport
import Testing

/// The journal is what makes an answered request durable: a machine that crashed after answering keeps, on
/// disk, at least the journal (it was flushed before the answer), and opening the history again brings back
/// every object and branch move it holds.
@Suite struct JournalRecoveryTests {
    @Test func aHistoryThatLostEverythingButTheJournalGetsItsRequestsBack() async throws {
        let clock = ManualClock()
        let (service, store, path) = try newService(clock: clock)
        let a = CursorDevice("a"), b = CursorDevice("b")
        a.edit("S1", at: clock.read(), ["color": .string("red")])
        try await a.sync(service)
        await service.close()
        // The disk as the last checkpoint left it.
        let snapshot = Fixtures.temporaryDirectory() + "/history.git"
        try FileManager.default.copyItem(atPath: path, toPath: snapshot)
        #expect(try Data(contentsOf: URL(fileURLWithPath: snapshot + "/filamentdb-journal")).isEmpty)
        // Answered requests after it: their packs and branch moves are not flushed, their journal records are.
        for i in 0..<20 {
            clock.advance(1000)
            a.edit("S\(i % 5)", at: clock.read(), ["weightRemaining": .int(Int64(900 - i))])
            b.edit("T\(i)", at: clock.read(), ["color": .string("blue")])
            try await a.sync(service)
            try await b.sync(service)
        }
        let head = try #require(try await store.head())
        let expected = try await mainContents(store)
        // The crash: only the journal reached the disk.
        try? FileManager.default.removeItem(atPath: snapshot + "/filamentdb-journal")
        try FileManager.default.copyItem(atPath: path + "/filamentdb-journal", toPath: snapshot + "/filamentdb-journal")
        let recovered = try InventoryStore(path: snapshot, create: false)
        #expect(try await recovered.head() != head)
        let again = SyncService(store: recovered, clock: { clock.read() })
        _ = try await again.summary()
        #expect(try await recovered.head() == head)
        #expect(try await mainContents(recovered) == expected)
        #expect(try await recovered.head(device: "b") == (try await store.head(device: "b")))
        #expect(try git(["-C", snapshot, "fsck", "--strict"]).status == 0)
        // And the device carries on from its cursor there.
        b.edit("T99", at: clock.read() + 1, ["color": .string("green")])
        try await b.sync(again)
        #expect(try await recovered.spool("T99")?["color"] == .string("green"))
    }

    @Test func aSecondServerOnOneHistoryIsRefused() async throws {
        let (service, store, _) = try newService()
        _ = try await service.summary()
        let second = SyncService(store: try InventoryStore(path: store.path, create: false))
        await #expect(throws: SyncFailure.self) { _ = try await second.summary() }
    }
}
