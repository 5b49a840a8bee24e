import Foundation
import SpoolHistory
import SpoolModel
@testable import SpoolSync
import SpoolTestSupport
import Testing

/// A first sync sends every spool at main's head from a listing the server keeps in serial order and brings up
/// to date with what changed since (``MainListing``): after edits, deletions, additions small and large, and
/// paged, a new device always gets exactly main's inventory, in serial order.
@Suite struct FirstSyncListingTests {
    @Test func aNewDeviceGetsExactlyMainAfterEveryKindOfChange() async throws {
        let clock = ManualClock()
        let (service, store, _) = try newService(clock: clock)
        let writer = CursorDevice("writer")
        var rng = SeededGenerator(seed: 7)
        // Serials whose byte order differs from a naive one: upper and lower case, digits, a non-ASCII one.
        func serial(_ i: Int) -> String { ["S-\(i)", "s-\(i)", "Ä\(i)", "10\(i)"][i % 4] }
        for i in 0..<300 { writer.edit(serial(i), at: clock.read(), ["weightRemaining": .int(Int64(i))]) }
        try await writer.sync(service)
        var next = 300
        for round in 0..<6 {
            let device = CursorDevice("new-\(round)", limit: round % 2 == 1 ? 37 : nil)
            let responses = try await device.sync(service)
            #expect(device.contents == (try await mainContents(store)), "round \(round)")
            let serials = responses.flatMap { $0.changes.map(\.serial) }
            if round % 2 == 0 { #expect(serials == serials.sorted(by: utf8Ordered), "round \(round): not in serial order") }
            #expect(Set(serials).count == serials.count, "round \(round): a spool sent twice")
            // Then main changes: a few edits and deletions (patched into the listing), or many additions (listed again).
            clock.advance(1000)
            let live = writer.spools.keys.sorted()
            for s in live.shuffled(using: &rng).prefix(5) { writer.edit(s, at: clock.read(), ["color": .string("round-\(round)")]) }
            for s in live.shuffled(using: &rng).prefix(3) { writer.delete(s, at: clock.read()) }
            let added = round == 2 ? 400 : 4
            for _ in 0..<added {
                writer.edit(serial(next), at: clock.read(), ["weightRemaining": .int(Int64(next))])
                next += 1
            }
            try await writer.sync(service)
        }
    }
}
