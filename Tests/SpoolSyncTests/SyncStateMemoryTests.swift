import Foundation
import SpoolHistory
import SpoolModel
@testable import SpoolSync
import SpoolTestSupport
import Testing

/// A server keeps a bounded number of devices' sync states in memory (requests choose their device ids): past
/// the bound, the least recently used are written as commits and forgotten, and read back from the history
/// when their device returns. Forgetting must change nothing a device is answered.
@Suite struct SyncStateMemoryTests {
    /// The same web-app devices (their own ids, soft deletions sent as ids, what they sent left out of their
    /// answers) against two servers, one keeping 6 states in memory and one keeping them all: every answer is
    /// the same, and so is a server brought back from its journal after a crash.
    @Test func forgettingIdleDeviceStatesChangesNoAnswer() async throws {
        let clock = ManualClock()
        let (bounded, boundedStore, path) = try newService(clock: clock)
        let (reference, referenceStore, _) = try newService(clock: clock)
        let kept = 6
        await boundedStore.withRepository { $0.syncStatesKept = kept }
        // The disk as the first checkpoint leaves it, for the crash at the end.
        _ = try await bounded.summary()
        await bounded.close()
        let snapshot = Fixtures.temporaryDirectory() + "/history.git"
        try copyLiveHistory(path, to: snapshot)

        // Each device has its own rows twice over (one table per server), changed the same way.
        let names = (0..<24).map { "browser-\($0)" }
        let onBounded = names.map { WebAppDevice($0, clock: clock) }, onReference = names.map { WebAppDevice($0, clock: clock) }
        var rng = SeededGenerator(seed: 7)
        var serial = 0
        // (Cursors name commits, whose times are the wall clock's seconds: the two servers' may differ.)
        func same(_ a: SyncResponse, _ b: SyncResponse, _ what: String) {
            #expect(a.encodedChanges == b.encodedChanges, "\(what): changes")
            #expect(a.deletions == b.deletions, "\(what): deletions")
            #expect(a.conflicts.map(\.serial) == b.conflicts.map(\.serial), "\(what): conflicts")
            #expect(a.unresolvedDeletions == b.unresolvedDeletions && a.synced == b.synced && a.totalSpools == b.totalSpools, "\(what): counts")
        }
        var ownSpoolsSentBack = 0
        for round in 0..<6 {
            for d in Array(0..<names.count).shuffled(using: &rng) {
                clock.advance(50)
                // Some new spools, edits of rows it has (its own or others'), a soft deletion.
                for _ in 0..<Int.random(in: 0...2, using: &rng) {
                    serial += 1
                    let fields: [String: JSONValue] = ["weightRemaining": .int(Int64(1000 - serial))]
                    onBounded[d].add("S\(serial)", fields)
                    onReference[d].add("S\(serial)", fields)
                }
                let ids = onReference[d].rows.keys.sorted()
                if let id = ids.randomElement(using: &rng), Bool.random(using: &rng) {
                    let weight: [String: JSONValue] = ["weightRemaining": .int(Int64.random(in: 0...999, using: &rng))]
                    onBounded[d].edit(id, weight)
                    onReference[d].edit(id, weight)
                }
                if round > 1, let id = ids.randomElement(using: &rng), Int.random(in: 0..<4, using: &rng) == 0 {
                    onBounded[d].softDelete(id)
                    onReference[d].softDelete(id)
                }
                let sentSerials = Set(onReference[d].request().changes.compactMap { $0.objectValue?["serial"]?.stringValue })
                let a = try await onBounded[d].sync(bounded)
                let b = try await onReference[d].sync(reference)
                same(a, b, "round \(round), \(names[d])")
                ownSpoolsSentBack += a.changes.filter { sentSerials.contains($0.serial) }.count
                let inMemory = await boundedStore.withRepository { $0.syncStatesInMemory }
                #expect(inMemory <= kept + 1, "\(inMemory) states in memory")
            }
        }
        // Both servers agree on the inventory, and the bounded one did forget states (read back many times since).
        #expect(try await mainContents(boundedStore) == (try await mainContents(referenceStore)))
        #expect(await boundedStore.withRepository { $0.syncStatesForgotten } > 100)
        #expect(await referenceStore.withRepository { $0.syncStatesForgotten } == 0)
        // What a device sent comes back only when the merge changed it: rarely, here.
        #expect(ownSpoolsSentBack < 24, "\(ownSpoolsSentBack) of the devices' own spools sent back")

        // The crash: only the journal reached the disk; the history brought back from it answers as the reference.
        try? FileManager.default.removeItem(atPath: snapshot + "/filamentdb-journal")
        try FileManager.default.copyItem(atPath: path + "/filamentdb-journal", toPath: snapshot + "/filamentdb-journal")
        let recoveredStore = try InventoryStore(path: snapshot, create: false)
        await recoveredStore.withRepository { $0.syncStatesKept = kept }
        let recovered = SyncService(store: recoveredStore, clock: { clock.read() })
        _ = try await recovered.summary()
        #expect(try await recoveredStore.head() == (try await boundedStore.head()))
        for d in 0..<names.count {
            clock.advance(50)
            if let id = onReference[d].rows.keys.min() {
                onBounded[d].edit(id, ["color": .string("teal")])
                onReference[d].edit(id, ["color": .string("teal")])
            }
            let a = try await onBounded[d].sync(recovered)
            let b = try await onReference[d].sync(reference)
            same(a, b, "after the crash, \(names[d])")
        }
        #expect(try await mainContents(recoveredStore) == (try await mainContents(referenceStore)))
        #expect(try git(["-C", snapshot, "fsck", "--strict"]).status == 0)
        // Each device's rows are the same on both sides.
        for d in 0..<names.count { #expect(onBounded[d].rows == onReference[d].rows, "\(names[d])") }
    }
}

extension DeviceSyncState {
    /// The document as a `JSONValue`, as the server wrote it before ``json`` wrote the bytes itself: the reference
    /// those bytes are checked against.
    var jsonValue: JSONValue {
        var o: [String: JSONValue] = ["answers": .array(answers.map { .array([.int($0.time), .string($0.cursor)]) })]
        if let answer { o["answer"] = .string(answer) }
        if let r = request {
            o["request"] = .object(["lastSyncTime": .int(r.lastSyncTime), "digest": .string(r.digest), "from": .string(r.from), "arrival": .int(r.arrival)])
        }
        return .object(o)
    }
}

/// A device's `state.json` is written straight from its fields (every request writes one): the bytes must be
/// those of the same object through `JSONValue` (sorted keys), and read back to the same state.
@Suite struct DeviceStateDocumentTests {
    @Test func theDocumentIsTheObjectsBytesAndReadsBack() throws {
        var rng = SystemRandomNumberGenerator()
        let texts = ["", "c1:abc", "quote \" and \\ backslash", "line\nbreak\ttab\u{01}", "ünïcødé ✓ 🎉", String(repeating: "x", count: 300)]
        for round in 0..<200 {
            var state = DeviceSyncState()
            if round % 3 != 0 { state.answer = texts.randomElement(using: &rng) }
            for _ in 0..<Int.random(in: 0...DeviceSyncState.kept, using: &rng) {
                state.answers.append((Int64.random(in: 0...Int64(1) << 53, using: &rng), texts.randomElement(using: &rng)!))
            }
            if round % 4 != 1 {
                state.request = .init(lastSyncTime: Int64.random(in: -5...Int64(1) << 53, using: &rng), digest: texts.randomElement(using: &rng)!,
                                      from: texts.randomElement(using: &rng)!, arrival: Int64.random(in: 0...Int64(1) << 53, using: &rng))
            }
            #expect(state.json == state.jsonValue.jsonBytes + [0x0A], "\(String(decoding: state.json, as: UTF8.self))")
            let back = try #require(DeviceSyncState(json: state.json))
            #expect(back.json == state.json)
        }
    }
}
