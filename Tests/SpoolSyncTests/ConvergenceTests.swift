import Foundation
import SpoolHistory
import SpoolModel
@testable import SpoolSync
import SpoolTestSupport
import Testing

/// Three devices make random edits, deletions and offline periods and sync in random order, some in pages:
/// at the end every device holds exactly the server's inventory, and every edit a device sent is in the
/// history (each carries a token of its own in `notes`, looked for in `git log -p --all`).
@Suite struct ConvergenceTests {
    @Test(arguments: 0..<12)
    func threeDevicesConverge(seed: Int) async throws {
        var random = SeededGenerator(seed: UInt64(seed) &* 0x9E37_79B9 &+ 1)
        let clock = ManualClock()
        let (service, store, path) = try newService(clock: clock)
        let devices = [CursorDevice("phone"), CursorDevice("laptop", limit: 3), CursorDevice("Ana's tablet")]
        let serials = (0..<8).map { "SPOOL-\($0)" }
        var tokens: [String] = []
        var offline = Set<Int>()
        for step in 0..<60 {
            clock.advance(Int64(random.next() % 5000))
            let d = Int(random.next() % 3)
            let device = devices[d]
            switch random.next() % 10 {
            case 0..<5:
                let serial = serials[Int(random.next() % UInt64(serials.count))]
                let token = "edit-\(seed)-\(step)"
                // A device's own clock may be off by up to a few seconds either way.
                let skew = Int64(random.next() % 4000) - 2000
                var fields: [String: JSONValue] = ["notes": .string(token)]
                if random.next() % 2 == 0 { fields["weightRemaining"] = .int(Int64(random.next() % 1000)) }
                if random.next() % 3 == 0 { fields["color"] = .string(["red", "blue", "black"][Int(random.next() % 3)]) }
                device.edit(serial, at: clock.read() + skew, fields)
            case 5:
                if let serial = device.spools.keys.sorted().first { device.delete(serial, at: clock.read()) }
            case 6:
                if offline.contains(d) { offline.remove(d) } else { offline.insert(d) }
            default:
                if !offline.contains(d) {
                    // What it sends is accepted (an edit overwritten on the device before it synced never left it).
                    tokens += device.dirty.compactMap { device.spools[$0]?["notes"]?.stringValue }
                    let answers = try await device.sync(service)
                    // The count of live spools each answer carries follows every change, deletions included.
                    #expect(answers.last?.totalSpools == (try await mainContents(store)).count, "\(device.id): totalSpools")
                }
            }
        }
        // Everyone comes back online and syncs twice (the second round brings what the first round merged).
        for _ in 0..<2 {
            for device in devices {
                tokens += device.dirty.compactMap { device.spools[$0]?["notes"]?.stringValue }
                try await device.sync(service)
            }
        }
        let server = try await mainContents(store)
        for device in devices {
            #expect(device.contents == server, "\(device.id) differs from the server")
        }
        try await service.publish()
        let history = try git(["-C", path, "log", "-p", "--all"]).output
        for token in tokens { #expect(history.contains(token), "edit \(token) is not in the history") }
        #expect(try git(["-C", path, "fsck", "--strict"]).status == 0)
    }
}
