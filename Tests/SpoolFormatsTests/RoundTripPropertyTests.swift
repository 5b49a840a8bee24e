import SpoolFormats
import SpoolModel
import SpoolTestSupport
import Testing

/// Any generated inventory survives JSON → Dexie → JSONL → JSON unchanged, byte for byte in canonical form.
@Suite struct RoundTripPropertyTests {
    static func canonical(_ spools: [Spool]) -> [UInt8] { spools.flatMap(\.canonicalJSON) }

    func reread(_ spools: [Spool], as format: InventoryFormat) throws -> [Spool] {
        let bytes = Conversion.encode(spools, as: format).bytes
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
        let expected = Self.canonical(first)
        let viaDexie = try reread(first, as: .dexie)
        #expect(Self.canonical(viaDexie) == expected, "seed \(seed): Dexie")
        let viaLines = try reread(viaDexie, as: .jsonl)
        #expect(Self.canonical(viaLines) == expected, "seed \(seed): JSON Lines")
        let viaJSON = try reread(viaLines, as: .json)
        #expect(Self.canonical(viaJSON) == expected, "seed \(seed): JSON")
    }

    @Test func normalisingTwiceChangesNothing() throws {
        var gen = InventoryGenerator(seed: 99)
        for _ in 0..<20 {
            let records = gen.inventory(maxCount: 20)
            let (first, _) = try Conversion.load(InventoryGenerator.jsonArrayBytes(records), path: "g.json", options: ConversionOptions(from: .json, now: 1))
            let (second, report) = try Conversion.load(SpoolJSON.writeArray(first), path: "g.json", options: ConversionOptions(from: .json, now: 2))
            #expect(Self.canonical(second) == Self.canonical(first))
            #expect(report.renamed.isEmpty)
        }
    }
}
