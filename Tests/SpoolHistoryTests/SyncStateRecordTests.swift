import Foundation
@testable import SpoolHistory
import SpoolModel
import SpoolTestSupport
import Testing

/// A device's sync state answers every key as the updates and commits it was given say, whichever way it
/// answers: from an update, from its filter of keys, from the shard folders of a commit written in this process
/// or read back by another handle.
@Suite struct SyncStateRecordTests {
    /// Keys of every shape a device sends: short serials, numeric ids' texts, names long enough to be cut in folders.
    static func universe(_ n: Int) -> [String] {
        (0..<n).map { i in
            switch i % 4 {
            case 0: "S-\(i)"
            case 1: String(i)
            case 2: "spool/\(i)/" + String(repeating: "x", count: 60 + i % 90)
            default: "ünï \(i)"
            }
        }
    }

    @Test func everyKeyIsAnsweredAsItsUpdatesSay() throws {
        let path = Fixtures.temporaryDirectory() + "/history.git"
        var repo = try InventoryRepository.open(path, create: true).repository
        let keys = Self.universe(6_000)
        var rng = SeededGenerator(seed: 42)
        // The reference: what each folder holds for each key now.
        var ids: [String: [UInt8]] = [:], serials: [String: String] = [:], sent: [String: ObjectID] = [:]

        func check(_ when: String) throws {
            let state = try repo.syncState(of: "phone")
            var (idHits, sentHits, serialHits) = (0, 0, 0)
            for key in keys {
                let id = try repo.syncID(of: key, in: state)
                #expect(id == ids[key].flatMap { try? JSONParser.parse($0) }, "\(when): id of \(key)")
                if id != nil { idHits += 1 }
                let file = try repo.syncSentFile(of: key, in: state)
                #expect(file == sent[key], "\(when): sent file of \(key)")
                if file != nil { sentHits += 1 }
                let serial = try repo.syncSerial(ofID: key, in: state)
                #expect(serial == serials[key], "\(when): serial of \(key)")
                if serial != nil { serialHits += 1 }
            }
            // The check sees keys present and absent alike.
            #expect(idHits == ids.count && sentHits == sent.count && serialHits == serials.count, "\(when)")
        }

        for round in 0..<6 {
            var update = Journal.StateUpdate(reference: try SyncStateReference.reference(for: "phone"), document: Array("{\"round\":\(round)}".utf8),
                                             ids: [], serials: [], sent: [])
            for key in keys.shuffled(using: &rng).prefix(700) {
                switch Int.random(in: 0..<5, using: &rng) {
                case 0:
                    update.ids.append((key, nil))
                    ids[key] = nil
                case 1:
                    update.serials.append((key, nil))
                    serials[key] = nil
                default:
                    let n = Int.random(in: 1...1_000_000, using: &rng)
                    update.ids.append((key, Array(String(n).utf8)))
                    ids[key] = Array(String(n).utf8)
                    update.serials.append((key, "serial \(n)"))
                    serials[key] = "serial \(n)"
                    let file = try repo.git.writeBlob(Array("{\"serial\":\"\(key)\",\"n\":\(n)}".utf8))
                    update.sent.append((key, file))
                    sent[key] = file
                }
            }
            try repo.syncState(of: "phone").apply(update)
            try check("round \(round), updated")
            try repo.writeSyncStates()
            try check("round \(round), committed")
            if round % 2 == 1 {
                // Another handle knows the device only from its state commit.
                repo = try InventoryRepository.open(path, create: false).repository
                try check("round \(round), read back")
            }
        }
    }
}
