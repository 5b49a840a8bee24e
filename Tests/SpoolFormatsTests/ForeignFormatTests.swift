import CSV
import Foundation
import GRDB
import SpoolFormats
import SpoolModel
import SpoolTestSupport
import Testing

/// Spoolman's and OctoPrint-SpoolManager's inventories, as those programs write them.
@Suite struct ForeignFormatTests {
    /// `spoolman.db` built from the SQL of Spoolman's tables in fixtures/spoolman.
    static func spoolmanDatabase() throws -> String {
        let path = Fixtures.temporaryDirectory() + "/spoolman.db"
        let queue = try DatabaseQueue(path: path)
        let sql = try String(contentsOfFile: Fixtures.path("spoolman/spoolman-db.sql"), encoding: .utf8)
        try queue.write { db in try db.execute(sql: sql) }
        try queue.close()
        return path
    }

    @Test func spoolmanCSVExport() throws {
        let (spools, report) = try load("spoolman/spoolman-export.csv")
        #expect(report.inputFormat == "csv")
        let s = bySerial(spools)
        #expect(Set(s.keys) == ["spoolman-1", "spoolman-2", "spoolman-7"])
        let galaxy = try #require(s["spoolman-1"])
        #expect(galaxy["brand"] == .string("Prusament"))
        #expect(galaxy["series"] == .string("PLA Galaxy Black"))
        #expect(galaxy["type"] == .string("PLA"))
        #expect(galaxy["colorHex"] == .string("#1B1B1F"))
        #expect(galaxy["weightTotal"] == .int(1000))
        #expect(galaxy["weightRemaining"] == .double(812.75))
        #expect(galaxy["weightSpool"] == .int(196))
        #expect(galaxy["temperatureNozzleMin"] == .int(215) && galaxy["temperatureNozzleMax"] == .int(215))
        #expect(galaxy["gtin"] == .string("8594173675605"))
        #expect(galaxy["batchNumber"] == .string("G2404-12"))
        #expect(galaxy["notes"] == .string("=SUM(A1:A9) is not a formula here"), "the ' formula guard is removed")
        #expect(galaxy["createdAt"] == .int(1_705_314_151_123))
        #expect(galaxy.lastUpdated == 1_717_362_845_500, "the latest of registered, first_used, last_used")
        #expect(galaxy["location"] == .string("Shelf A"))
        #expect(galaxy["spoolman.extra.nfc_uid"] == .string("04:A2:3B:91:5C:71:80"), "extra values are JSON-decoded")
        #expect(galaxy["spoolman.extra.dried"] == .bool(true))
        #expect(galaxy["spoolman.filament.extra.hue"] == .int(212))
        #expect(galaxy["spoolman.last_used"] == .string("2024-06-02T21:14:05.500Z"))
        #expect(galaxy["spoolman.price"] == .double(24.99))
        #expect(galaxy["spoolman.id"] == .int(1))
        let sakura = try #require(s["spoolman-2"])
        #expect(sakura["colorHex"] == .string("#F4A6C0"))
        #expect(sakura["spoolman.filament.color_hex"] == .string("#F4A6C080"), "an alpha channel is not dropped")
        #expect(sakura["weightTotal"] == .int(1000), "filament.weight when the spool has no initial_weight")
        #expect(sakura["weightSpool"] == .int(140), "the vendor's empty spool weight as the last resort")
        #expect(sakura["notes"] == .string("-5 g tare, weighed twice"))
        #expect(sakura["gtin"] == nil && sakura["spoolman.filament.article_number"] == .string("PT01008"))
        let archived = try #require(s["spoolman-7"])
        #expect(!archived.isDeleted)
        #expect(archived["spoolman.archived"] == .bool(true))
        #expect(archived["weightRemaining"] == .int(0))
        #expect(archived["notes"] == .string("Empty, \"kept\" for the label"))
        #expect(archived["spoolman.filament.comment"] == .string("multi\nline"))
        #expect(report.notes.contains("1 archived spool kept, marked spoolman.archived"))
    }

    @Test func spoolmanJSONExportAndDatabaseGiveTheSameSpoolsAsItsCSV() throws {
        let csv = try load("spoolman/spoolman-export.csv").spools
        let json = try load("spoolman/spoolman-export.json").spools
        #expect(json.flatMap(\.canonicalJSON) == csv.flatMap(\.canonicalJSON))
        let db = try Self.spoolmanDatabase()
        let report = try Conversion.validate(input: db, options: ConversionOptions(now: importTime))
        #expect(report.inputFormat == "sqlite")
        #expect(report.notes.first?.hasPrefix("Spoolman database") == true)
        let fromDB = try Conversion.load(FileIO.read(db), path: db, options: ConversionOptions(now: importTime), isFile: true).spools
        #expect(fromDB.flatMap(\.canonicalJSON) == csv.flatMap(\.canonicalJSON))
    }

    @Test func octoPrintExportKeepsAQuoteInsideANote() throws {
        let (spools, report) = try load("octoprint/spoolmanager-export.csv")
        #expect(report.notes.first?.hasPrefix("OctoPrint-SpoolManager") == true)
        let s = bySerial(spools)
        let galaxy = try #require(s["PRU-9931"])
        #expect(galaxy["notes"] == .string("Use the \"galaxy\" profile, 0.6 nozzle"))
        #expect(galaxy["colorHex"] == .string("#1B1B1F"))
        #expect(galaxy["weightRemaining"] == .double(812.75))
        #expect(galaxy["temperatureBedMax"] == .int(60))
        #expect(galaxy["octoprint.Last use [dd.mm.yyyy hh:mm]"] == .string("2024-06-02T21:14:00.000Z"))
        #expect(galaxy.lastUpdated == 1_717_362_840_000)
        #expect(galaxy["octoprint.Cost"] == .double(24.99))
        let sakura = try #require(s["octoprint:Sakura Pink"])
        #expect(sakura["notes"] == nil, "'-' is empty")
        #expect(sakura["weightSpool"] == nil)
        #expect(sakura.lastUpdated == importTime)
        #expect(s["octoprint:Orange ASA"]?["temperatureChamberIdeal"] == .int(50))
    }

    /// Why OctoPrint's export has a reader of its own: an RFC 4180 reader (CSV.swift here) does not give the note back.
    @Test func aStandardCSVReaderLosesTheQuotedNote() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("octoprint/spoolmanager-export.csv")))
        let reader = try CSVReader(stream: InputStream(data: data), hasHeaderRow: true)
        let header = try #require(reader.headerRow)
        let row = reader.next()
        let note = row.flatMap { r in header.firstIndex(of: "Note").flatMap { $0 < r.count ? r[$0] : nil } }
        #expect(note != "Use the \"galaxy\" profile, 0.6 nozzle", "CSV.swift read the note whole: the claim in OctoPrintSpoolManager.swift no longer holds")
    }

    @Test func spreadsheetSavedCSVWithBOMSemicolonsAndDecimalCommas() throws {
        let (spools, report) = try load("csv/spreadsheet-semicolon-bom.csv")
        #expect(report.notes.first?.contains("';'-separated, decimal commas read") == true)
        let s = bySerial(spools)
        let one = try #require(s["SHEET-1"])
        #expect(one["weightRemaining"] == .double(812.5))
        #expect(one["diameter"] == .double(1.75))
        #expect(one["tags"] == .array([.string("favourite"), .string("galaxy")]))
        #expect(one["notes"] == .string("Dry first;\nthen print"))
        #expect(one["location"] == .string("Shelf A"))
        #expect(one["price"] == .double(24.99))
        #expect(one.lastUpdated == 1_717_362_845_000)
        #expect(one["deleted"] == .bool(false))
        #expect(s["SHEET-2"]?["notes"] == .string("=not a formula"))
        #expect(s["SHEET-2"]?.lastUpdated == 1_704_067_200_000)
        #expect(s["SHEET-3"]?.isDeleted == true)
        #expect(s["SHEET-3"]?["color"] == nil)
    }

    @Test func aSQLiteDatabaseFromAnotherRun() throws {
        let path = Fixtures.path("sqlite/filamentdb-sample-v1.sqlite")
        let (spools, report) = try Conversion.load(FileIO.read(path), path: path, options: ConversionOptions(now: importTime), isFile: true)
        #expect(report.notes == ["filamentdb SQLite database, schema version 1, written by filamentdb 0.1.0"])
        #expect(report.migrated.keys.sorted() == ["soft-delete-to-tombstone"])
        let s = bySerial(spools)
        #expect(s.count == 8)
        #expect(s["PRU-PLA-GB-2024-0412"]?["nfcTagHistory"] == .array([.object(["timestamp": .int(1_713_000_000_000), "action": .string("assigned"), "tagSerial": .string("04:A2:3B:91:5C:71:80")])]))
        #expect(s["PRU-PLA-GB-2024-0412"]?["weightRemaining"] == .double(812.5))
        #expect(s["POLY-TERRA-SAKURA-01"]?["purchasePrice"] == .object(["amount": .double(21.99), "currency": .string("EUR")]))
        #expect(s["OVERTURE-ABS-GRY-22"]?.isDeleted == true)
        #expect(s["unnamed~id-6"]?.lastUpdated == 1_717_200_000_000, "the --now of the run that wrote it")
        // What the sample gives today is what that run stored.
        let fresh = try Conversion.load(Array(SampleInventory.dexieExport.utf8), path: "sample", options: ConversionOptions(now: 1_717_200_000_000)).spools
        #expect(fresh.flatMap(\.canonicalJSON) == spools.flatMap(\.canonicalJSON))
    }

    @Test func ourSQLiteIsPlainSQLForOtherTools() throws {
        let dir = Fixtures.temporaryDirectory()
        let path = dir + "/inv.sqlite"
        _ = try Conversion.convert(input: Fixtures.path("dexie/every-typeson-type.dexie.json"), output: path, options: ConversionOptions(now: importTime))
        let queue = try DatabaseQueue(path: path)
        try queue.read { db in
            let row = try #require(try Row.fetchOne(db, sql: "SELECT brand, lastUpdated, typeof(lastUpdated) AS t, extra FROM spools WHERE serial = 'TYPES-1'"))
            #expect(row["brand"] as String? == "Typeson")
            #expect(row["lastUpdated"] as Int64? == 1_714_000_000_000)
            #expect(row["t"] as String? == "integer")
            let extra = try JSONParser.parse(row["extra"] as String? ?? "").objectValue
            #expect(extra?["$types"]?.objectValue?["purchasedAt"] == .string("date"))
            #expect(try String.fetchOne(db, sql: "SELECT value FROM metadata WHERE key = 'schema_version'") == "1")
            #expect(try Bool.fetchOne(db, sql: "SELECT count(*) = 1 FROM sqlite_master WHERE type = 'index' AND name = 'spools_lastUpdated'") == true)
        }
        try queue.close()
    }
}
