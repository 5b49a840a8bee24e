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
}
