import SpoolModel
import SpoolTestSupport
import Testing

/// An import writes a stored spool's compact document as the history's canonical one by reshaping its bytes
/// (`Spool.canonicalJSON(fromCompact:)`), without reading its fields: the two must always agree.
@Suite struct CanonicalReshapeTests {
    @Test func reshapingTheCompactDocumentGivesTheCanonicalOne() {
        var generator = InventoryGenerator(seed: 11)
        var checked = 0
        for _ in 0..<60 {
            for record in generator.inventory(maxCount: 40) {
                guard let serial = record["serial"]?.stringValue, !serial.isEmpty else { continue }
                // Through the canonical form once, as a stored inventory holds it: unknown fields of every kind,
                // typeson values, strings with quotes, commas, colons, braces and backslashes.
                guard let spool = Spool(canonicalJSON: Spool(normalizedFields: record).canonicalJSON) else { continue }
                #expect(Spool.canonicalJSON(fromCompact: spool.compactJSON) == spool.canonicalJSON, "\(String(decoding: spool.compactJSON, as: UTF8.self))")
                #expect(Spool.compactJSON(fromCanonical: spool.canonicalJSON) == spool.compactJSON, "\(String(decoding: spool.canonicalJSON, as: UTF8.self))")
                checked += 1
            }
        }
        #expect(checked > 500)
    }

    @Test func punctuationInsideStringsAndNestedValuesStaysAsItIs() {
        let spool = Spool(normalizedFields: [
            "serial": .string("A,\"b\":{c}[d]\\"),
            "notes": .string("x\\\",\n  \"y\": 1"),
            "extra": .object(["k,1": .array([.int(1), .object(["a:b": .string("}{")])]), "z": .object([:])]),
            "empty": .array([]),
            "lastUpdated": .int(5),
        ])
        #expect(Spool.canonicalJSON(fromCompact: spool.compactJSON) == spool.canonicalJSON)
        #expect(Spool.compactJSON(fromCanonical: spool.canonicalJSON) == spool.compactJSON)
        #expect(String(decoding: Spool.canonicalJSON(fromCompact: Array("{}".utf8)), as: UTF8.self) == "{}\n")
    }

    /// Integers are written as their decimal digits (straight into the bytes), at every magnitude and sign; the
    /// canonical document lists known fields in schema order, then the others by their UTF-8 bytes.
    @Test func integersAndTheOrderOfFieldsAreWrittenAsTheyRead() throws {
        var values: [Int64] = [0, 1, -1, 9, 10, -10, 99, 100, 1_717_200_000_000, -1_717_200_000_000, Int64.max, Int64.min, Int64.min + 1]
        var rng = SeededGenerator(seed: 5)
        for _ in 0..<500 { values.append(Int64.random(in: Int64.min...Int64.max, using: &rng) >> Int64.random(in: 0...62, using: &rng)) }
        for v in values {
            #expect(JSONValue.int(v).jsonText == String(v))
            #expect(try JSONParser.parse(JSONValue.int(v).jsonBytes) == .int(v))
        }
        let spool = Spool(normalizedFields: ["zeta": .int(-3), "serial": .string("S-1"), "Ä": .bool(true), "lastUpdated": .int(1_717_200_000_000),
                                             "brand": .string("B"), "a b": .null, "weightRemaining": .double(512.5)])
        let text = String(decoding: spool.canonicalJSON, as: UTF8.self)
        #expect(text == "{\n  \"serial\": \"S-1\",\n  \"brand\": \"B\",\n  \"weightRemaining\": 512.5,\n  \"lastUpdated\": 1717200000000,\n  \"a b\": null,\n  \"zeta\": -3,\n  \"Ä\": true\n}\n", "\(text)")
        #expect(spool.compactJSON == Spool.compactJSON(fromCanonical: spool.canonicalJSON))
        #expect(Spool(canonicalJSON: spool.canonicalJSON) == spool)
    }
}
