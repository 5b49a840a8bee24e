import Foundation
@testable import SpoolHistory
import SpoolModel
import SpoolTestSupport
import Testing

/// Issue 8's property: devices export files with random edits and times; the files are imported in random
/// order, with and without naming their device. Nothing is invented, nothing disappears, main's times are the
/// latest, and every field holds the value of the latest record that set it (what differs from main, where no
/// base is known; from the device's previous file, where it is), or a recorded conflict says why not.
@Suite struct MultiDeviceFileTests {
    static let serials = (0..<8).map { "S\($0)" }
    static let values: [String: [JSONValue]] = [
        "brand": [.string("Prusament"), .string("eSun"), .string("Polymaker")],
        "color": [.string("Red"), .string("Blue"), .string("Black")],
        "weightRemaining": [.int(1000), .int(640), .int(120), .int(0)],
        "notes": [.string("dry first"), .string("for the bracket")],
    ]

    /// The files of one scenario: each device edits its own copy of the inventory and exports it whole.
    static func scenario(seed: UInt64) -> [(device: String, spools: [Spool])] {
        var rng = SeededGenerator(seed: seed)
        let devices = (0..<Int.random(in: 2...4, using: &rng)).map { "device \($0)" }
        var copies: [String: [String: Spool]] = [:]
        var clock: Int64 = 1_000
        var start: [String: Spool] = [:]
        for s in serials {
            start[s] = Spool(normalizedFields: ["serial": .string(s), "brand": .string("Prusament"), "weightRemaining": .int(1000), "lastUpdated": .int(clock)])
        }
        for d in devices { copies[d] = start }
        var files: [(String, [Spool])] = [("seed", serials.map { start[$0]! })]
        for _ in 0..<Int.random(in: 4...9, using: &rng) {
            let d = devices.randomElement(using: &rng)!
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                let s = serials.randomElement(using: &rng)!
                var spool = copies[d]![s]!
                let field = Array(values.keys).sorted().randomElement(using: &rng)!
                spool[field] = Bool.random(using: &rng) || field == "weightRemaining" ? values[field]!.randomElement(using: &rng)! : nil
                if Int.random(in: 0..<10, using: &rng) == 0 { spool["deleted"] = .bool(true) }
                clock += Int64.random(in: 1...50, using: &rng)
                spool["lastUpdated"] = .int(clock)
                copies[d]![s] = spool
            }
            files.append((d, serials.map { copies[d]![$0]! }))
        }
        return files
    }

    @Test(arguments: 0..<48)
    func filesFromSeveralDevicesLoseNothing(seed: Int) async throws {
        var rng = SeededGenerator(seed: UInt64(seed) &* 7919 &+ 11)
        var files = Self.scenario(seed: UInt64(seed))
        let seedFile = files.removeFirst()
        files.shuffle(using: &rng)
        let namingDevices = seed % 2 == 1
        let (store, path) = try newStore()
        var imported: [String: [Spool]] = [:]
        // For each serial and field, the records that set it.
        var setters: [String: [String: [Spool]]] = [:]
        var previous: [String: [String: Spool]] = [:]
        for (n, file) in ([seedFile] + files).enumerated() {
            let mode: ImportMode = namingDevices && n > 0 ? .merge(device: file.device) : .unknownBase(device: "import")
            // A file with no base sets what differs from main as it is then; a device's next file, what differs
            // from the device's previous one.
            var mainBefore: [String: Spool] = [:]
            for serial in Self.serials { mainBefore[serial] = try await store.spool(serial) }
            _ = try await store.importSpools(file.spools, mode: mode, source: "file \(n)")
            for s in file.spools {
                imported[s.serial, default: []].append(s)
                let before = namingDevices && n > 0 ? previous[file.device]?[s.serial] ?? mainBefore[s.serial] : mainBefore[s.serial]
                for f in Set(s.fields.keys).union(before?.fields.keys ?? [:].keys) where f != "lastUpdated" {
                    if before == nil || !SpoolMerge.same(before?[f], s[f]) { setters[s.serial, default: [:]][f, default: []].append(s) }
                }
                if namingDevices && n > 0 { previous[file.device, default: [:]][s.serial] = s }
            }
        }
        let main = try #require(try await store.head())
        let spools = Dictionary(uniqueKeysWithValues: try await store.spools(at: main).map { ($0.serial, $0) })
        let conflicts = try await store.conflicts()
        // Nothing disappears.
        #expect(Set(spools.keys) == Set(Self.serials))
        for (serial, records) in imported {
            let spool = try #require(spools[serial])
            // main's time is the latest any file had.
            let latest = records.map { $0.lastUpdated ?? 0 }.max()!
            #expect(spool.lastUpdated == latest, "seed \(seed), \(serial)")
            for (field, value) in spool.fields where field != "lastUpdated" {
                // No value that no file had.
                #expect(records.contains { SpoolMerge.same($0[field], value) }, "seed \(seed): \(serial).\(field) = \(value) came from no file")
            }
            // Each field is the value of the latest record that set it, or a conflict on record says why not.
            for (field, candidates) in setters[serial] ?? [:] {
                let time = candidates.map { $0.lastUpdated ?? 0 }.max()!
                let newest = candidates.filter { $0.lastUpdated == time }
                if newest.contains(where: { SpoolMerge.same($0[field], spool[field]) }) { continue }
                #expect(conflicts.contains { $0.serial == serial && ($0.field == field || $0.field == "deleted") },
                        "seed \(seed): \(serial).\(field) is \(spool[field]?.jsonText ?? "absent"), the latest record that set it had \(newest.last?[field]?.jsonText ?? "absent"), and no conflict says why")
            }
        }
        #expect(try await store.verify().problems.isEmpty)
        #expect(try git(["fsck", "--strict", "--no-dangling"], in: path).status == 0)
    }
}
