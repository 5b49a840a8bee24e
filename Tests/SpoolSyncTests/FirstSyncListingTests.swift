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

    /// The answer of a plain first sync (a device with no state here, sending nothing) is kept for the next one at
    /// the same state of main, and only there: each gets exactly main's inventory, whether main moved in between,
    /// the device pages through it with a limit smaller than the inventory, or it sends spools of its own.
    @Test func aPlainFirstSyncsAnswerServesTheNextOnlyAtTheSameState() async throws {
        let clock = ManualClock()
        let (service, store, _) = try newService(clock: clock)
        let writer = CursorDevice("writer")
        for i in 0..<120 { writer.edit("S-\(i)", at: clock.read(), ["weightRemaining": .int(Int64(i))]) }
        try await writer.sync(service)
        let head = try #require(try await store.head())

        let first = try await CursorDevice("first").sync(service)
        #expect(await service.listing.plainAnswer(at: head, limit: nil)?.count == 120)
        // The same answer, handed over whole, to the next new device.
        let second = CursorDevice("second")
        let again = try await second.sync(service)
        #expect(again.count == 1 && again[0].encodedChanges == first[0].encodedChanges && again[0].cursor == first[0].cursor)
        #expect(second.contents == (try await mainContents(store)))
        // Not for a device paging with a limit under the inventory's size: pages, and main's inventory in the end.
        let paged = CursorDevice("paged", limit: 50)
        let pages = try await paged.sync(service)
        #expect(pages.count == 3 && pages.map(\.encodedChanges.count) == [50, 50, 20])
        #expect(paged.contents == (try await mainContents(store)))
        // Not for a device that sends a spool of its own: the answer leaves its spool out.
        let sender = CursorDevice("sender")
        sender.edit("S-own", at: clock.read(), ["weightRemaining": .int(1)])
        let sent = try await sender.sync(service)
        #expect(sent[0].encodedChanges.count == 120 && !sent[0].changes.contains { $0.serial == "S-own" })
        #expect(sender.contents == (try await mainContents(store)))
        // Main moved (the sender's spool, an edit, a deletion): the next new device gets the new state, not the kept one.
        clock.advance(1000)
        writer.edit("S-7", at: clock.read(), ["color": .string("moved")])
        writer.delete("S-8", at: clock.read())
        try await writer.sync(service)
        let late = CursorDevice("late")
        let answer = try await late.sync(service)
        #expect(answer[0].encodedChanges != first[0].encodedChanges)
        #expect(late.contents == (try await mainContents(store)))
        #expect(late.contents["S-own"] != nil && late.contents["S-8"] == nil && late.spools["S-7"]?["color"] == .string("moved"))
    }

    /// A page of a first sync costs what it sends, not the inventory's size: each page starts at its place in the
    /// listing (found by a binary search) and stops one spool past its limit, so the files it looks up are about
    /// twice its limit (each sent file is checked, then sent), wherever it is in the inventory. (Every page looked
    /// up every file after its place before: 100 pages of 1,000 of a 100,000-spool first sync took 7.1 s, against
    /// 0.7 s for one answer of all; now 0.6-0.9 s.) The pages still hold exactly main's inventory, in order.
    @Test func eachPageOfAFirstSyncLooksUpOnlyWhatItSends() async throws {
        let clock = ManualClock()
        let (service, store, _) = try newService(clock: clock)
        let writer = CursorDevice("writer")
        for i in 0..<2_000 { writer.edit("S-\(i)", at: clock.read(), ["weightRemaining": .int(Int64(i))]) }
        try await writer.sync(service)
        let limit = 100
        var cursor: String?
        var serials: [String] = []
        var pages = 0
        repeat {
            let before = await service.answerFiles.lookups
            let response = try await service.sync(SyncRequest(deviceId: "pager", lastSyncTime: 0, cursor: cursor, limit: limit))
            let looked = await service.answerFiles.lookups - before
            #expect(response.changes.count <= limit)
            #expect(looked <= 2 * (limit + 1), "page \(pages) looked up \(looked) files to send \(response.changes.count)")
            serials += response.changes.map(\.serial)
            cursor = response.cursor
            pages += 1
            if !response.hasMore { break }
        } while pages < 100
        #expect(pages == 20)
        #expect(serials == serials.sorted(by: utf8Ordered) && Set(serials).count == serials.count)
        #expect(Set(serials) == Set((try await mainContents(store)).keys))
    }
}
