import SpoolFormats
import SpoolModel
import SpoolTestSupport
import Testing

let importTime: Int64 = 1_717_200_000_000

func load(_ relative: String, table: String? = nil, skipInvalid: Bool = false) throws -> (spools: [Spool], report: ConversionReport) {
    try Conversion.load(Fixtures.bytes(relative), path: relative, options: ConversionOptions(table: table, now: importTime, skipInvalid: skipInvalid))
}

func bySerial(_ spools: [Spool]) -> [String: Spool] {
    Dictionary(uniqueKeysWithValues: spools.map { ($0.serial, $0) })
}

@Suite struct FixtureTests {
    @Test func webAppSchema1ExportFrom2022WithoutArrayTags() throws {
        let (spools, report) = try load("dexie/webapp-v1-2022.dexie.json")
        #expect(report.inputFormat == "dexie")
        let s = bySerial(spools)
        let galaxy = try #require(s["PM-PLA-GALAXY-0001"])
        #expect(galaxy["brand"] == .string("Prusament"))
        #expect(galaxy["tags"] == .array([.string("black"), .string("sparkle")]))
        #expect(galaxy["weightRemaining"] == .int(640))
        #expect(galaxy.lastUpdated == 1_651_400_000_000)
        #expect(s["SUNLU-PETG-ORANGE-17"]?.lastUpdated == 1_650_000_000_000)
        let extrudr = try #require(s["NFC-04A23B915C"])
        #expect(extrudr.lastUpdated == importTime)
        #expect(extrudr["diameter"] == .double(2.85))
        #expect(extrudr["weightRemaining"] == .double(212.4))
        #expect(extrudr["notes"] == .string("Für den Drucker im Keller ☃"))
        #expect(report.migrated == ["lastUpdated-from-lastScanned": 1, "lastUpdated-from-createdAt": 1, "lastUpdated-from-import-time": 1])
        #expect(report.renamed.isEmpty && report.rejected.isEmpty)
    }

    @Test func webAppSchema2ExportWithDuplicateAndEmptySerials() throws {
        let (spools, report) = try load("dexie/webapp-v2-duplicates-2024.dexie.json")
        #expect(report.read == 7 && spools.count == 7)
        let s = bySerial(spools)
        // The live spool keeps the shared serial; the tombstone and the others get derived serials.
        #expect(s["GENERIC-PLA-BLACK"]?.id == 11)
        #expect(s["GENERIC-PLA-BLACK"]?["tags"] == .array([.string("shelf-2")]))
        #expect(s["GENERIC-PLA-BLACK~id-10"]?.isDeleted == true)
        #expect(s["GENERIC-PLA-BLACK~id-12~2"]?.id == 12)
        #expect(s["GENERIC-PLA-BLACK~id-12"]?.id == 15)
        #expect(s["unnamed~id-13"]?["color"] == .string("Green"))
        #expect(s["unnamed~id-14"]?.lastUpdated == 1_712_000_000_000)
        #expect(report.renamed.map(\.serial) == ["GENERIC-PLA-BLACK", "GENERIC-PLA-BLACK", "", ""])
        #expect(report.renamed.map { $0.location.line } == [19, 52, 65, 73])
        #expect(report.tombstones == 1 && report.live == 6)
        let elegoo = try #require(s["ELEGOO-RAPID-PLA-GREY"])
        #expect(elegoo.lastUpdated == 1_714_000_005_000)
        guard case .array(let history)? = elegoo["nfcTagHistory"] else { Issue.record("no history"); return }
        #expect(history.count == 2)
        #expect(history[1].objectValue?["previousTagSerial"] == .string("04:11:22:33:44:55:66"))
        #expect(report.notes.contains { $0.contains("rowCount says 9") })
    }

    @Test func exportWithEveryTypesonType() throws {
        let (spools, report) = try load("dexie/every-typeson-type.dexie.json")
        let s = bySerial(spools)
        let t = try #require(s["TYPES-1"])
        #expect(t["createdAt"] == .int(1_700_000_000_000))
        #expect(t["productionDate"] == .string("2024-01-01"))
        #expect(t["lastUpdated"] == .int(1_714_000_000_000))
        #expect(t["weightRemaining"] == nil)
        #expect(t["purchasedAt"] == .typed("date", .int(1_700_000_000_000)))
        #expect(t["brokenDate"] == .typed("date", .string("NaN")))
        #expect(t["gone"] == .typed("undef", .int(0)))
        #expect(t["up"] == .typed("infinity", .string("Infinity")))
        #expect(t["history"] == .array([.string("a"), .string("b")]))
        #expect(t["labels"] == .typed("set", .array([.string("x"), .string("y")])))
        #expect(t["big"] == .typed("bigint", .string("123456789012345678901234567890")))
        #expect(t["photo"] == .typed("blob2", .object(["type": .string("image/png"), "data": .string("iVBORw0KGgo=")])))
        #expect(t["pattern"] == .typed("regexp", .object(["source": .string("^PLA-\\d+$"), "flags": .string("gi")])))
        #expect(t["a.b"] == .object(["c~d": .typed("date", .int(1_699_999_999_999))]))
        #expect(t["chain"] == .typed("uint8array", .typed("arraybuffer", .string("AAEC"))))
        guard case .typed("map", .array(let pairs))? = t["byMonth"] else { Issue.record("byMonth is not a map"); return }
        #expect(pairs[1] == .array([.string("2024-02"), .object(["used": .int(3), "at": .typed("date", .int(1_706_745_600_000))])]))
        #expect(t["bytes"] == .typed("uint8array2", .object(["buffer": .typed("arraybuffer", .string("AQID")), "byteOffset": .int(0), "length": .int(3)])))
        let r = try #require(s["TYPES-2"])
        #expect(r["sameLocation"] == r["location"])
        #expect(r["location"]?.objectValue?["since"] == .typed("date", .int(1_690_000_000_000)))
        #expect(report.warnings.map(\.field) == ["weightRemaining"])
        #expect(report.migrated["timestamp-from-typeson-date"] == 1)
        #expect(report.migrated["productionDate-from-typeson-date"] == 1)
    }

    @Test func outboundTableRowsBareAndWrapped() throws {
        let (spools, report) = try load("dexie/outbound-spools.dexie.json")
        let s = bySerial(spools)
        #expect(s["OUT-1"]?.id == 1)
        #expect(s["OUT-2"]?.id == 2)
        #expect(s["OUT-2"]?["lastScanned"] == .int(1_714_100_000_000))
        #expect(s["OUT-2"]?.lastUpdated == 1_714_100_000_000)
        #expect(s["OUT-3"]?["dexieKey"] == .string("spool-three"))
        #expect(s["OUT-3"]?.id == nil)
        #expect(report.notes.first?.contains("(outbound)") == true)
    }

    @Test func plainArrayFromJSONStringify() throws {
        let (spools, report) = try load("json/json-stringify-spools.json")
        #expect(report.inputFormat == "json")
        let s = bySerial(spools)
        let one = try #require(s["JS-1"])
        #expect(one["lastScanned"] == .int(1_711_644_644_490))
        #expect(one["createdAt"] == .int(1_704_067_200_000))
        #expect(one["weightRemaining"] == nil)
        #expect(one.lastUpdated == 1_711_644_644_490)
        #expect(s["JS-2"]?["customRating"] == .double(4.5))
        #expect(s["JS-2"]?["spoolmanId"] == .null)
        #expect(report.migrated["timestamp-from-iso-string"] == 2)
    }

    @Test func jsonLines() throws {
        let (spools, report) = try load("json/spools.jsonl")
        #expect(report.inputFormat == "jsonl")
        #expect(spools.map(\.serial) == ["L-1", "L-2"])
        #expect(spools[1].isDeleted)
        #expect(spools[1]["brand"] == .string("Fillamentum"))
    }

    @Test func theBundledSample() throws {
        let (spools, report) = try Conversion.load(Array(SampleInventory.dexieExport.utf8), path: "sample", options: ConversionOptions(now: importTime))
        #expect(spools.count == 8 && report.tombstones == 1)
        #expect(report.renamed.map(\.newSerial) == ["BAMBU-PLA-BASIC-WHITE~id-5", "unnamed~id-6"])
        let poly = try #require(bySerial(spools)["POLY-TERRA-SAKURA-01"])
        #expect(poly["purchasePrice"] == .object(["amount": .double(21.99), "currency": .string("EUR")]))
        #expect(poly.lastUpdated == 1_704_067_200_000)
        #expect(bySerial(spools)["ESUN-PETG-CLR-7731"]?["createdAt"] == .int(1_696_118_400_000))
    }
}

/// The real exports of other Dexie apps in ../shared/samples.
@Suite(.enabled(if: Fixtures.hasSharedSamples, Comment(rawValue: Fixtures.noSharedSamples))) struct SharedSampleTests {
    @Test(arguments: ["01-olive-exported-activities-v2.json", "02-olive-exported-activities-v1.json", "03-snapcode-data-export.json"])
    func aMissingSpoolsTableListsTheTables(_ name: String) throws {
        let path = Fixtures.sharedSample(name)
        do {
            _ = try Conversion.validate(input: path, options: ConversionOptions(now: importTime))
            Issue.record("read a spools table that is not there")
        } catch {
            guard case .tableNotFound(_, "spools", let available) = error else { Issue.record("\(error)"); return }
            #expect(available.count == 3)
            // The library names the tables; the CLI adds the option that picks one (CLITests).
            #expect(error.lines[0].contains(name) && error.lines[0].contains("it has the tables") && !error.lines[0].contains("--"))
        }
    }

    @Test func olivesTablesAreReadButAreNotSpools() throws {
        let path = Fixtures.sharedSample("01-olive-exported-activities-v2.json")
        let report = try Conversion.validate(input: path, options: ConversionOptions(table: "activities", now: importTime, skipInvalid: true))
        #expect(report.read == 3)
        #expect(report.rejected.count == 3)
        #expect(report.rejected.allSatisfy { $0.problems.first?.field == "serial" })
        #expect(report.rejected.map { $0.location.line } == [28, 38, 48])
        #expect(report.notes.first?.contains("version 2") == true)
    }

    @Test func snapcodesOldExportWithoutTypesIsRead() throws {
        let path = Fixtures.sharedSample("03-snapcode-data-export.json")
        let report = try Conversion.validate(input: path, options: ConversionOptions(table: "tags", now: importTime, skipInvalid: true))
        #expect(report.read == 3)
    }

    @Test func theInvalidPrereleaseFixtureFailsWithAPosition() {
        let path = Fixtures.sharedSample("04-dexie-historic-prerelease-test-data.INVALID.json")
        do {
            _ = try Conversion.validate(input: path, options: ConversionOptions(now: importTime))
            Issue.record("accepted invalid JSON")
        } catch {
            guard case .syntax(_, let e) = error else { Issue.record("\(error)"); return }
            #expect(e.line > 1)
            #expect(error.lines[0].hasPrefix(path + ": line \(e.line), column \(e.column): "))
        }
    }
}
