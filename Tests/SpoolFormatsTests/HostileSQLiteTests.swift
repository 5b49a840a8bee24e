import Foundation
import GRDB
import SpoolFormats
import SpoolModel
import SpoolTestSupport
import Testing

/// SQLite files made by hand (not by filamentdb), with values of any type anywhere: the reader checks every
/// value it reads, as the JSON reader does, and names the table, row, column or field and serial.
@Suite struct HostileSQLiteTests {
    let dir = Fixtures.temporaryDirectory()

    /// A database built by `sql` (plain tables, no STRICT: any value fits any column).
    func database(_ sql: String) throws -> String {
        let path = dir + "/hostile-\(UUID().uuidString.prefix(8)).sqlite"
        let queue = try DatabaseQueue(path: path)
        // Without foreign keys, so a row may point at nothing, as in a file someone edited.
        try queue.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA foreign_keys = OFF;" + sql) }
        try queue.close()
        return path
    }

    func failure(_ path: String, skipInvalid: Bool = false) -> ConversionError? {
        do {
            _ = try Conversion.validate(input: path, options: ConversionOptions(now: importTime, skipInvalid: skipInvalid))
            return nil
        } catch {
            return error
        }
    }

    static let ourMetadata = "CREATE TABLE metadata(key, value); INSERT INTO metadata VALUES ('format', 'filamentdb'), ('schema_version', '1');"

    /// Issue 10, item 1: GRDB's non-throwing `Row` subscript trapped on these.
    @Test func metadataOfTheWrongTypeIsAnErrorNamingTableRowAndColumn() throws {
        let integer = try database("CREATE TABLE metadata(key, value); INSERT INTO metadata VALUES ('format', 'filamentdb'), ('schema_version', 1); CREATE TABLE spools(serial TEXT PRIMARY KEY, lastUpdated INTEGER)")
        let e1 = try #require(failure(integer))
        #expect(e1.lines == ["\(integer): table metadata, row 2: column \"value\": expected text, found an integer (1)"])
        #expect(e1.kind == .invalidInput)
        let nullKey = try database("CREATE TABLE metadata(key, value); INSERT INTO metadata VALUES (NULL, 'x'), ('format', 'filamentdb'); CREATE TABLE spools(serial TEXT PRIMARY KEY, lastUpdated INTEGER)")
        #expect(try #require(failure(nullKey)).lines == ["\(nullKey): table metadata, row 1: column \"key\": expected text, found NULL"])
    }

    /// Issue 10, item 8: the same value gets the same verdict from SQLite as from JSON.
    @Test func valuesAreCheckedAsTheJSONReaderChecksThem() throws {
        let path = try database(Self.ourMetadata + """
            CREATE TABLE spools(serial, brand, weightRemaining, lastUpdated, deleted, tags, extra);
            INSERT INTO spools VALUES ('INF', 'A', 9e999, 1, 0, NULL, NULL);
            INSERT INTO spools VALUES ('NEGINF', 'A', -9e999, 1, NULL, NULL, NULL);
            INSERT INTO spools VALUES ('NUMBER-BRAND', 42, 1, 1, NULL, NULL, NULL);
            INSERT INTO spools VALUES (7, 'A', 1, 1, NULL, NULL, NULL);
            INSERT INTO spools VALUES ('BAD-UTF8', CAST(X'41FF42' AS TEXT), 1, 1, NULL, NULL, NULL);
            INSERT INTO spools VALUES ('BLOB-BRAND', X'0102', 1, 1, NULL, NULL, NULL);
            INSERT INTO spools VALUES ('BAD-EXTRA', 'A', 1, 1, NULL, NULL, '[1,2]');
            INSERT INTO spools VALUES ('NUL', 'a' || char(0) || 'b', 1, 1, NULL, NULL, '{"shelf":"x","when":1.5}');
            INSERT INTO spools VALUES ('HUGE-TIME', 'A', 1, 1e20, NULL, NULL, NULL);
            """)
        let report = try Conversion.validate(input: path, options: ConversionOptions(now: importTime, skipInvalid: true))
        // What JSON input gives for Infinity: the field left out, with a warning naming it.
        #expect(report.warnings.map { "\($0.serial): \($0.field): \($0.message)" } == [
            "INF: weightRemaining: an infinite value is not a number a spool can hold; the field is left empty",
            "NEGINF: weightRemaining: an infinite value is not a number a spool can hold; the field is left empty",
        ])
        let rejected = report.rejected.map { r in "row \(r.location.row): \(r.serial ?? "no serial"): " + r.problems.map { "\($0.field): \($0.message)" }.joined(separator: "; ") }
        #expect(rejected == [
            #"row 3: NUMBER-BRAND: brand: expected text, found a number (42)"#,
            #"row 4: no serial: serial: expected text, found a number (7)"#,
            #"row 5: BAD-UTF8: brand: invalid UTF-8 in a text value"#,
            #"row 6: BLOB-BRAND: brand: expected text, found a typeson 'arraybuffer' value"#,
            #"row 7: BAD-EXTRA: extra: expected a JSON object of the other fields, found an array"#,
            #"row 9: HUGE-TIME: lastUpdated: 1e+20 is out of range: a time is epoch milliseconds within ±8.64e15 (what a JavaScript Date holds)"#,
        ])
        let (spools, _) = try Conversion.load([UInt8](try Data(contentsOf: URL(fileURLWithPath: path)).prefix(16)), path: path,
                                              options: ConversionOptions(now: importTime, skipInvalid: true), isFile: true)
        let nul = try #require(spools.first { $0.serial == "NUL" })
        #expect(nul["brand"] == .string("a\u{0}b"))
        #expect(nul["shelf"] == .string("x") && nul["when"] == .double(1.5))
        #expect(spools.first { $0.serial == "INF" }?["weightRemaining"] == nil)
    }

    /// Issue 10, item 1 for Spoolman's database: an owner id that is not an integer trapped the same way.
    @Test func spoolmanFieldsOfTheWrongTypeAreAnErrorNamingTableRowAndColumn() throws {
        let sql = try String(contentsOfFile: Fixtures.path("spoolman/spoolman-db.sql"), encoding: .utf8)
        let path = try database(sql + "\nINSERT INTO spool_field (spool_id, key, value) VALUES ('abc', 'k', 'v');")
        let e = try #require(failure(path))
        #expect(e.lines.count == 1 && e.lines[0].hasPrefix("\(path): table spool_field, row "), "\(e)")
        #expect(e.lines[0].hasSuffix(#": column "spool_id": expected an integer, found text ("abc")"#), "\(e)")
    }
}
