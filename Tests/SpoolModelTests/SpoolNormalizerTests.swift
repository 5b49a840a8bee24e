import SpoolModel
import SpoolTestSupport
import Testing

@Suite struct SpoolNormalizerTests {
    let now: Int64 = 1_717_200_000_000

    func normalize(_ json: String) throws -> (spools: [Spool], outcome: ImportOutcome) {
        guard case .array(let rows) = try JSONParser.parse(json) else { throw FieldProblem(field: "", message: "not an array") }
        let records = rows.enumerated().map { RawRecord(object: $1, row: $0 + 1) }
        return SpoolNormalizer(now: now).normalize(records)
    }

    /// `normalize` hands back the spools as it normalised them, not decoded from their stored documents: the two
    /// must be the same spools, renamed duplicates and every shape of field included.
    @Test func normalisedSpoolsAreTheStoredOnes() {
        var generator = InventoryGenerator(seed: 23)
        var checked = 0
        for _ in 0..<40 {
            var rows = generator.inventory(maxCount: 40)
            // Duplicate serials, resolved by renaming.
            if let first = rows.first { rows.append(first); rows.append(first) }
            let records = rows.enumerated().map { RawRecord(object: .object($1), row: $0 + 1) }
            let (spools, _) = SpoolNormalizer(now: now).normalize(records)
            let session = SpoolNormalizer.Session(normalizer: SpoolNormalizer(now: now))
            for r in records { session.add(r) }
            let stored = session.finish().spools.map { $0.spool() }
            #expect(spools.map(\.canonicalJSON) == stored.map(\.canonicalJSON))
            #expect(spools == stored)
            checked += spools.count
        }
        #expect(checked > 500)
    }

    @Test func lastUpdatedComesFromLastScannedThenCreatedAtThenImportTime() throws {
        let (spools, outcome) = try normalize(#"""
        [{"serial":"A","lastScanned":100,"createdAt":50},
         {"serial":"B","createdAt":60},
         {"serial":"C"},
         {"serial":"D","lastUpdated":70,"lastScanned":100}]
        """#)
        #expect(spools.map(\.lastUpdated) == [100, 60, now, 70])
        #expect(outcome.migrated == ["lastUpdated-from-lastScanned": 1, "lastUpdated-from-createdAt": 1, "lastUpdated-from-import-time": 1])
    }

    @Test func timestampsInOtherShapesBecomeMilliseconds() throws {
        let (spools, outcome) = try normalize(#"""
        [{"serial":"A","lastScanned":"2024-03-28T16:50:44.490Z","createdAt":1700000000000.6,
          "nfcTagHistory":[{"timestamp":"2024-01-01T01:00:00+01:00","action":"assigned","tagSerial":"T","extra":1}],
          "$types":{"createdAt":"date"}}]
        """#)
        let s = try #require(spools.first)
        #expect(s["lastScanned"] == .int(1_711_644_644_490))
        #expect(s["createdAt"] == .int(1_700_000_000_001))
        #expect(s["nfcTagHistory"] == .array([.object(["timestamp": .int(1_704_067_200_000), "action": .string("assigned"), "tagSerial": .string("T"), "extra": .int(1)])]))
        #expect(outcome.migrated["timestamp-from-iso-string"] == 2)
        #expect(outcome.migrated["timestamp-from-typeson-date"] == 1)
    }

    /// Issue 10, item 6: a time is what a JavaScript `Date` holds (±8.64e15 ms); `lastUpdated` is never negative.
    @Test func timesOutsideAJavaScriptDateAreRejectedNamingTheField() throws {
        let (spools, outcome) = try normalize(#"""
        [{"serial":"EDGE","lastUpdated":8640000000000000,"createdAt":-8640000000000000,"productionDate":-8640000000000000,"$types":{"productionDate":"date"}},
         {"serial":"ZERO","lastUpdated":0},
         {"serial":"HUGE","lastUpdated":1e20},
         {"serial":"POW63","lastUpdated":9223372036854775807},
         {"serial":"NEG","lastUpdated":-1},
         {"serial":"OVER","lastUpdated":8640000000000001},
         {"serial":"SCAN","lastUpdated":1,"lastScanned":-1e20},
         {"serial":"TAG","lastUpdated":1,"nfcTagHistory":[{"timestamp":1e300}]},
         {"serial":"DATE","lastUpdated":1,"createdAt":1e20,"$types":{"createdAt":"date"}},
         {"serial":"PROD","lastUpdated":1,"productionDate":-1e20,"$types":{"productionDate":"date"}},
         {"serial":"OLD","createdAt":-5}]
        """#)
        #expect(spools.map(\.serial) == ["EDGE", "ZERO"])
        #expect(spools.first?["productionDate"] == .string("-271821-04-20"))
        let fields = outcome.rejected.map { "\($0.serial ?? "?"): \($0.problems.map(\.field).joined(separator: ","))" }
        #expect(fields == ["HUGE: lastUpdated", "POW63: lastUpdated", "NEG: lastUpdated", "OVER: lastUpdated", "SCAN: lastScanned",
                           "TAG: nfcTagHistory[0].timestamp", "DATE: createdAt", "PROD: productionDate", "OLD: lastUpdated"])
        #expect(outcome.rejected[0].problems[0].message == "1e+20 is out of range: a time is epoch milliseconds within ±8.64e15 (what a JavaScript Date holds)")
        #expect(outcome.rejected.last?.problems[0].message.hasPrefix("-5 (taken from createdAt) is out of range") == true)
    }

    @Test func softDeletesBecomeTombstonesAndNumbersBecomeBooleans() throws {
        let (spools, outcome) = try normalize(#"[{"serial":"A","deleted":true},{"serial":"B","deleted":1},{"serial":"C","deleted":0}]"#)
        #expect(spools.map(\.isDeleted) == [true, true, false])
        #expect(outcome.tombstones == 2 && outcome.live == 1)
        #expect(outcome.migrated["deleted-from-0-or-1"] == 2)
        #expect(outcome.migrated["soft-delete-to-tombstone"] == 2)
    }

    @Test func nullAndUndefinedKnownFieldsAreEmpty() throws {
        let (spools, outcome) = try normalize(#"[{"serial":"A","brand":null,"weightRemaining":"NaN","color":0,"$types":{"weightRemaining":"nan","color":"undef"}}]"#)
        let s = try #require(spools.first)
        #expect(s["brand"] == nil && s["weightRemaining"] == nil && s["color"] == nil)
        #expect(outcome.migrated["null-known-field-removed"] == 1)
        #expect(outcome.warnings.map(\.field) == ["weightRemaining"])
    }

    @Test func unknownFieldsAreKeptAsTheyAre() throws {
        let (spools, _) = try normalize(#"[{"serial":"A","shelf":{"row":[1,2.5,"x",null]},"bought":5,"$types":{"bought":"date"}}]"#)
        let s = try #require(spools.first)
        #expect(s["shelf"] == .object(["row": .array([.int(1), .double(2.5), .string("x"), .null])]))
        #expect(s["bought"] == .typed("date", .int(5)))
    }

    @Test func wrongTypesAreRejectedWithFieldAndSerial() throws {
        let (spools, outcome) = try normalize(#"""
        [{"serial":"OK"},
         {"serial":"BAD","brand":42,"weightRemaining":"lots","tags":["a",3]},
         {"brand":"no serial"},
         {"serial":7}]
        """#)
        #expect(spools.map(\.serial) == ["OK"])
        #expect(outcome.rejected.count == 3)
        let bad = outcome.rejected[0]
        #expect(bad.serial == "BAD" && bad.location.row == 2)
        #expect(Set(bad.problems.map(\.field)) == ["brand", "weightRemaining", "tags[1]"])
        #expect(bad.problems.first { $0.field == "brand" }?.message == "expected text, found a number (42)")
        #expect(outcome.rejected[1].problems.map(\.field) == ["serial"])
        #expect(outcome.rejected[2].problems.first?.message.contains("expected text, found a number") == true)
        let line = bad.lines(file: "in.json").first { $0.contains("\"brand\"") }
        #expect(line == #"in.json: row 2: serial "BAD": field "brand": expected text, found a number (42)"#)
    }

    @Test func firstLiveRecordKeepsADuplicateSerial() throws {
        let (spools, outcome) = try normalize(#"""
        [{"id":1,"serial":"S","deleted":true},
         {"id":2,"serial":"S"},
         {"id":3,"serial":"S"},
         {"serial":"S"},
         {"id":5,"serial":""},
         {"serial":""},
         {"id":7,"serial":"S~id-3"}]
        """#)
        #expect(spools.map(\.serial) == ["S~id-1", "S", "S~id-3~2", "S~row-4", "unnamed~id-5", "unnamed~row-6", "S~id-3"])
        #expect(outcome.renamed.map(\.newSerial) == ["S~id-1", "S~id-3~2", "S~row-4", "unnamed~id-5", "unnamed~row-6"])
        #expect(outcome.renamed[0].reason == #"duplicate serial: row 2 keeps "S""#)
        #expect(outcome.renamed[3].reason == "empty serial")
        #expect(Set(spools.map(\.serial)).count == spools.count)
    }

    /// Issue 10, item 11: records sharing a serial and an id share a rename base; each takes the next free
    /// `~k` (skipping one the input already holds), as when every rename started over at `~2`.
    @Test func manyRecordsSharingASerialAndAnIdGetTheNextFreeSuffix() throws {
        var rows = (0..<3000).map { #"{"id":7,"serial":"S","weightRemaining":\#($0)}"# }
        rows.append(#"{"id":9,"serial":"S~id-7~3"}"#)
        let (spools, outcome) = try normalize("[" + rows.joined(separator: ",") + "]")
        let expected = ["S", "S~id-7", "S~id-7~2"] + (4...3000).map { "S~id-7~\($0)" } + ["S~id-7~3"]
        #expect(spools.map(\.serial) == expected)
        #expect(spools.prefix(3000).map(\.["weightRemaining"]) == (0..<3000).map { .int(Int64($0)) })
        #expect(outcome.renamed.count == 2999)
    }

    /// JavaScript compares serials by code unit: "é" and "e\u{301}" are two spools, not a duplicate.
    @Test func serialsDifferingOnlyInUnicodeNormalisationStayDistinct() throws {
        let (spools, outcome) = try normalize(#"[{"serial":"caf\u00e9"},{"serial":"cafe\u0301"}]"#)
        #expect(outcome.renamed.isEmpty)
        #expect(spools.map { Array($0.serial.utf8) } == [Array("caf\u{E9}".utf8), Array("cafe\u{301}".utf8)])
    }

    @Test func identityIsDeterministic() throws {
        let json = #"[{"serial":"A"},{"serial":"A"},{"serial":""},{"serial":"A"}]"#
        let first = try normalize(json).spools.map(\.canonicalJSON)
        let second = try normalize(json).spools.map(\.canonicalJSON)
        #expect(first == second)
    }
}

@Suite struct CanonicalJSONTests {
    @Test func oneFieldPerLineInSchemaOrderThenUnknownSorted() throws {
        let spool = Spool(normalizedFields: [
            "zeta": .int(1), "lastUpdated": .int(5), "brand": .string("B"), "serial": .string("S"),
            "Alpha": .object(["b": .int(1), "a": .array([.double(0.1), .int(2)])]), "weightRemaining": .double(812.5),
        ])
        #expect(String(decoding: spool.canonicalJSON, as: UTF8.self) == """
        {
          "serial": "S",
          "brand": "B",
          "weightRemaining": 812.5,
          "lastUpdated": 5,
          "Alpha": {"a":[0.1,2],"b":1},
          "zeta": 1
        }

        """)
    }

    @Test func sameSpoolSameBytesWhateverTheInputOrder() throws {
        let a = try JSONParser.parse(#"{"serial":"S","b":1.50,"a":"x","brand":"P","lastUpdated":1e3}"#)
        let b = try JSONParser.parse(#"{"lastUpdated":1000,"brand":"P","a":"x","b":1.5,"serial":"S"}"#)
        #expect(Spool(normalizedFields: a.objectValue!).canonicalJSON == Spool(normalizedFields: b.objectValue!).canonicalJSON)
    }

    @Test func typedValuesAddTypesLast() throws {
        let spool = Spool(normalizedFields: ["serial": .string("S"), "bought": .typed("date", .int(5))])
        let text = String(decoding: spool.canonicalJSON, as: UTF8.self)
        #expect(text == "{\n  \"serial\": \"S\",\n  \"bought\": 5,\n  \"$types\": {\"bought\":\"date\"}\n}\n")
    }

    @Test func escapesOnlyWhatJSONNeeds() {
        let spool = Spool(normalizedFields: ["serial": .string("a\"\\\n\u{1}é🧵")])
        #expect(String(decoding: spool.compactJSON, as: UTF8.self) == "{\"serial\":\"a\\\"\\\\\\n\\u0001é🧵\"}")
    }

    @Test func doublesUseTheShortestRoundTripForm() throws {
        for d in [0.1, 1.75, Double.leastNonzeroMagnitude, 1.7976931348623157e308, 1e21, -2.5e-8, 9_007_199_254_740_993.0] {
            let bytes = JSONValue.number(d).jsonBytes
            #expect(try JSONParser.parse(bytes).numberValue == d)
            #expect(bytes.count <= d.description.utf8.count)
        }
        #expect(JSONValue.number(200.0).jsonText == "200")
    }
}

@Suite struct TimestampTests {
    @Test(arguments: [
        ("1970-01-01", Int64(0)), ("2024-03-28T16:50:44.490Z", 1_711_644_644_490), ("2024-03-28 16:50:44", 1_711_644_644_000),
        ("2024-02-29T00:00:00+02:00", 1_709_157_600_000), ("1969-12-31T23:59:59.999Z", -1), ("2000-01-01T00:00Z", 946_684_800_000),
    ])
    func parsesISO8601(_ text: String, _ ms: Int64) {
        #expect(Timestamps.parseISO8601(text) == ms)
    }

    @Test(arguments: ["2023-02-29", "2024-13-01", "24-01-01", "2024-01-01T25:00", "2024-01-01Tx", "yesterday", ""])
    func refusesWhatIsNotADate(_ text: String) {
        #expect(Timestamps.parseISO8601(text) == nil)
    }

    @Test func formatsLikeJavaScript() {
        #expect(Timestamps.formatISO8601(1_711_644_644_490) == "2024-03-28T16:50:44.490Z")
        #expect(Timestamps.formatISO8601(-1) == "1969-12-31T23:59:59.999Z")
        #expect(Timestamps.formatISODate(1_704_067_200_000) == "2024-01-01")
        for ms: Int64 in [0, -86_400_001, 4_102_444_800_123, 1_711_644_644_490] {
            #expect(Timestamps.parseISO8601(Timestamps.formatISO8601(ms)) == ms)
        }
    }
}

@Suite struct SpoolSchemaTests {
    @Test func everyFieldIsFoundAtItsIndexAndNothingElseIs() {
        for (n, f) in SpoolSchema.fields.enumerated() { #expect(SpoolSchema.index(of: f.name) == n) }
        for other in ["", "Serial", "serial ", "serials", "weight", "extra", "$types", "temperatureNozzleMi", "caf\u{E9}", "🧵"] {
            #expect(SpoolSchema.index(of: other) == nil, "\(other)")
        }
    }
}

@Suite struct NormalizerReportOrderTests {
    /// A record's fields come in no fixed order (a dictionary's, seeded per process): its problems are listed in
    /// the schema's order, so the same file always gets the same report (found by an attacker's pass comparing
    /// reports byte for byte).
    @Test func problemsFollowTheSchemasOrder() throws {
        let json = #"[{"serial":"S-4","notes":true,"deleted":"z","weightRemaining":"x","brand":7,"lastUpdated":1}]"#
        guard case .array(let rows) = try JSONParser.parse(json) else { Issue.record("not an array"); return }
        let (_, outcome) = SpoolNormalizer(now: 1).normalize(rows.enumerated().map { RawRecord(object: $1, row: $0 + 1) })
        let fields = try #require(outcome.rejected.first).problems.map(\.field)
        #expect(fields.count == 4)
        #expect(fields == fields.sorted { SpoolSchema.index(of: $0)! < SpoolSchema.index(of: $1)! }, "\(fields)")
    }
}
