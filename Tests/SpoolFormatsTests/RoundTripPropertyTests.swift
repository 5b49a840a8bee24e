import Foundation
import SpoolFormats
import SpoolModel
import SpoolTestSupport
import Testing

/// Any generated inventory survives every format unchanged, byte for byte in canonical form.
@Suite struct RoundTripPropertyTests {
    static func canonical(_ spools: [Spool]) -> [UInt8] { spools.flatMap(\.canonicalJSON) }

    /// The first spool whose canonical document differs, for a readable failure message.
    static func difference(_ expected: [Spool], _ actual: [Spool]) -> String? {
        if expected.count != actual.count { return "\(expected.count) spools expected, \(actual.count) read back" }
        for (e, a) in zip(expected, actual) where e.canonicalJSON != a.canonicalJSON {
            let el = String(decoding: e.canonicalJSON, as: UTF8.self).split(separator: "\n")
            let al = String(decoding: a.canonicalJSON, as: UTF8.self).split(separator: "\n")
            let lines = zip(el, al).filter { $0 != $1 }.prefix(3).map { "  expected \($0)\n  actual   \($1)" }
            return "serial \(e.serial.debugDescription):\n" + (lines.isEmpty ? "  \(el.count) vs \(al.count) lines" : lines.joined(separator: "\n"))
        }
        return nil
    }

    func reread(_ spools: [Spool], as format: InventoryFormat) throws -> [Spool] {
        let bytes = try Conversion.encode(spools, as: format).bytes
        let (out, report) = try Conversion.load(bytes, path: "generated.\(format.rawValue)", options: ConversionOptions(from: format, now: 0))
        #expect(report.migrated.isEmpty || report.migrated.keys.allSatisfy { $0 == "soft-delete-to-tombstone" }, "\(report.migrated)")
        #expect(report.renamed.isEmpty)
        return out
    }

    @Test(arguments: 0..<40)
    func jsonToDexieToJSONLinesToJSON(seed: Int) throws {
        var gen = InventoryGenerator(seed: UInt64(seed) &* 0x5DEECE66D &+ 11)
        let records = gen.inventory(maxCount: 25)
        let (first, report) = try Conversion.load(InventoryGenerator.jsonArrayBytes(records), path: "generated.json", options: ConversionOptions(from: .json, now: 1))
        #expect(report.rejected.isEmpty, "\(report.rejected)")
        #expect(first.count == records.count)
        let viaDexie = try reread(first, as: .dexie)
        #expect(Self.difference(first, viaDexie) == nil, "seed \(seed): Dexie")
        let viaLines = try reread(viaDexie, as: .jsonl)
        #expect(Self.difference(first, viaLines) == nil, "seed \(seed): JSON Lines")
        let viaJSON = try reread(viaLines, as: .json)
        #expect(Self.difference(first, viaJSON) == nil, "seed \(seed): JSON")
    }

    /// JSON → CSV → SQLite → ZIP → Dexie → JSON Lines → JSON.
    @Test(arguments: 0..<40)
    func throughEveryFormat(seed: Int) throws {
        var gen = InventoryGenerator(seed: UInt64(seed) &* 0x9E3779B9 &+ 5)
        let records = gen.inventory(maxCount: 25)
        let (first, report) = try Conversion.load(InventoryGenerator.jsonArrayBytes(records), path: "generated.json", options: ConversionOptions(from: .json, now: 1))
        #expect(report.rejected.isEmpty, "\(report.rejected)")
        var current = first
        for format in [InventoryFormat.csv, .sqlite, .zip, .dexie, .jsonl, .json] {
            current = try reread(current, as: format)
            let difference = Self.difference(first, current)
            #expect(difference == nil, "seed \(seed), after \(format): \(difference ?? "")")
            if difference != nil { break }
        }
    }

    /// Spools kept in the temporary spill file convert to exactly what spools kept in memory do.
    @Test func spillingToAFileChangesNothing() throws {
        var gen = InventoryGenerator(seed: 2024)
        let input = InventoryGenerator.jsonArrayBytes(gen.inventory(maxCount: 60))
        let dir = Fixtures.temporaryDirectory()
        try Data(input).write(to: URL(fileURLWithPath: dir + "/in.json"))
        for format in [InventoryFormat.dexie, .csv, .jsonl, .zip, .sqlite] {
            var inMemory = ConversionOptions(to: format, now: 1)
            inMemory.spillThreshold = .max
            var spilled = inMemory
            spilled.spillThreshold = 0
            let a = dir + "/memory.\(format.rawValue)", b = dir + "/spilled.\(format.rawValue)"
            _ = try Conversion.convert(input: dir + "/in.json", output: a, options: inMemory)
            _ = try Conversion.convert(input: dir + "/in.json", output: b, options: spilled)
            let back = try Conversion.load(try FileIO.read(b), path: b, options: ConversionOptions(now: 2), isFile: true).spools
            let expected = try Conversion.load(try FileIO.read(a), path: a, options: ConversionOptions(now: 2), isFile: true).spools
            #expect(Self.difference(expected, back) == nil, "\(format)")
            if format != .sqlite { #expect(FileManager.default.contents(atPath: a) == FileManager.default.contents(atPath: b), "\(format)") }
        }
    }

    @Test func normalisingTwiceChangesNothing() throws {
        var gen = InventoryGenerator(seed: 99)
        for _ in 0..<20 {
            let records = gen.inventory(maxCount: 20)
            let (first, _) = try Conversion.load(InventoryGenerator.jsonArrayBytes(records), path: "g.json", options: ConversionOptions(from: .json, now: 1))
            let (second, report) = try Conversion.load(try Conversion.encode(first, as: .json).bytes, path: "g.json", options: ConversionOptions(from: .json, now: 2))
            #expect(Self.difference(first, second) == nil)
            #expect(report.renamed.isEmpty)
        }
    }
}
