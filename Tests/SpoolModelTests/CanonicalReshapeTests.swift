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
}
