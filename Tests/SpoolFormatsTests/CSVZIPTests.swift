import CSV
import Foundation
@testable import SpoolFormats
import SpoolModel
import SpoolTestSupport
import Testing
import ZIPFoundation

@Suite struct CSVTests {
    @Test func ourCSVHasEveryFieldInSchemaOrderThenExtrasThenTypes() throws {
        let (spools, _) = try load("dexie/every-typeson-type.dexie.json")
        let text = String(decoding: try Conversion.encode(spools, as: .csv).bytes, as: UTF8.self)
        let header = try #require(text.split(separator: "\r\n").first).split(separator: ",").map(String.init)
        #expect(Array(header.prefix(SpoolSchema.fields.count)) == SpoolSchema.fields.map(\.name))
        #expect(header.contains("extra.purchasedAt") && header.last == "$types")
        let extras = header.dropFirst(SpoolSchema.fields.count).dropLast()
        #expect(Array(extras) == extras.sorted())
    }

    @Test func formulaGuardOnExportRemovedOnImport() throws {
        let spools = ["=1+1", "+x", "-3 left", "@home", "\tTab", "'quoted", "plain"].enumerated().map { n, notes in
            Spool(normalizedFields: ["serial": .string("G\(n)"), "notes": .string(notes), "lastUpdated": .int(1), "shelf": .string(notes)])
        }
        let bytes = try Conversion.encode(spools, as: .csv).bytes
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.contains(",'=1+1,") && text.contains(",'-3 left,") && text.contains(",'@home,") && text.contains(",''quoted,"))
        #expect(!text.contains(",=1+1,"))
        let back = try Conversion.load(bytes, path: "g.csv", options: ConversionOptions(now: 0)).spools
        #expect(back.flatMap(\.canonicalJSON) == spools.flatMap(\.canonicalJSON))
    }

    @Test func textThatLooksLikeSomethingElseStaysText() throws {
        let values = ["", "42", "true", "null", "[1]", "{\"a\":1}", "\"quoted\"", " 5", "1,5"]
        let spools = values.enumerated().map { n, v in
            Spool(normalizedFields: ["serial": .string("T\(n)"), "brand": .string(v), "lastUpdated": .int(1), "x": .string(v)])
        }
        let bytes = try Conversion.encode(spools, as: .csv).bytes
        let back = try Conversion.load(bytes, path: "t.csv", options: ConversionOptions(now: 0)).spools
        #expect(back.map { $0["x"] } == spools.map { $0["x"] })
        #expect(back.map { $0["brand"] } == spools.map { $0["brand"] })
    }

    @Test func keysSpelledDifferentlyGetTheirOwnColumns() throws {
        let spools = [
            Spool(normalizedFields: ["serial": .string("A"), "lastUpdated": .int(1), "caf\u{E9}": .int(1)]),
            Spool(normalizedFields: ["serial": .string("B"), "lastUpdated": .int(1), "cafe\u{301}": .int(2)]),
        ]
        let bytes = try Conversion.encode(spools, as: .csv).bytes
        let header = String(decoding: bytes.prefix { $0 != 0x0D }, as: UTF8.self)
        #expect(header.hasSuffix(",extra.cafe\u{301},extra.caf\u{E9}"))
        let back = try Conversion.load(bytes, path: "k.csv", options: ConversionOptions(now: 0)).spools
        #expect(back.flatMap(\.canonicalJSON) == spools.flatMap(\.canonicalJSON))
    }

    /// Differential: our reader and CSV.swift read the same cells from generated CSV.
    @Test func readerAgreesWithCSVSwift() throws {
        var gen = InventoryGenerator(seed: 3)
        for round in 0..<60 {
            let width = Int.random(in: 1...6, using: &gen.rng)
            var rows: [[String]] = []
            for _ in 0..<Int.random(in: 1...8, using: &gen.rng) {
                rows.append((0..<width).map { _ in gen.string(maxFragments: 5).replacingOccurrences(of: "\r", with: "").replacingOccurrences(of: "\u{FEFF}", with: "") })
            }
            let stream = OutputStream(toMemory: ())
            let writer = try CSVWriter(stream: stream)
            for r in rows { try writer.write(row: r) }
            writer.stream.close()
            let data = try #require(stream.property(forKey: .dataWrittenToMemoryStreamKey) as? Data)
            let reader = try CSVReader(stream: InputStream(data: data))
            var theirs: [[String]] = []
            while let r = reader.next() { theirs.append(r) }
            let ours = try CSVText.parse([UInt8](data), delimiter: UInt8(ascii: ","), file: "gen.csv").map(\.cells)
            // Both drop a lone empty line; compare what both kept.
            #expect(ours == theirs.filter { !($0.count == 1 && $0[0].isEmpty) }, "round \(round)")
            #expect(ours == rows.filter { !($0.count == 1 && $0[0].isEmpty) }, "round \(round)")
        }
    }

    @Test func aRowWithTooManyCellsNamesItsLine() throws {
        do {
            _ = try load("bad/row-too-many-cells.csv")
            Issue.record("accepted")
        } catch let e as ConversionError {
            #expect(e.lines[0] == #"bad/row-too-many-cells.csv: line 3, row 2: no serial: field "(row)": has 4 cells, the header has 3"#)
        }
        let (spools, report) = try load("bad/row-too-many-cells.csv", skipInvalid: true)
        #expect(spools.map(\.serial) == ["CSV-1"] && report.rejected.count == 1)
    }

    @Test func anUnknownColumnInOurDialect() throws {
        #expect(throws: ConversionError.self) { try load("bad/unknown-column.csv") }
        do { _ = try load("bad/unknown-column.csv") } catch let e as ConversionError {
            #expect(e.lines[0].contains(#"unknown column "Location" in a filamentdb CSV"#) && e.lines[0].contains("extra.Location"))
        }
    }

    @Test func aNumberCellThatIsNotANumber() throws {
        do {
            _ = try load("bad/number-in-text.csv")
            Issue.record("accepted")
        } catch let e as ConversionError {
            #expect(e.lines[0] == #"bad/number-in-text.csv: line 2, row 1: serial "CSV-1": field "weightRemaining": expected a number, found a string ("lots")"#)
        }
    }

    @Test func unclosedQuoteAndInvalidUTF8() throws {
        for (bytes, message) in [(Array("serial,brand\r\n\"A,b\r\n".utf8), "never closed"), ([0x73, 0x65, 0x72, 0x69, 0x61, 0x6C, 0x0A, 0x41, 0xFF, 0x0A], "invalid UTF-8")] {
            do {
                _ = try Conversion.load(bytes, path: "x.csv", options: ConversionOptions(now: 0))
                Issue.record("accepted \(message)")
            } catch {
                #expect(error.description.contains(message), "\(error)")
            }
        }
    }
}

@Suite struct SQLiteBadInputTests {
    @Test func aFileThatClaimsToBeSQLiteAndIsNot() throws {
        let path = Fixtures.path("bad/not-sqlite.sqlite")
        do {
            _ = try Conversion.validate(input: path, options: ConversionOptions(now: 0))
            Issue.record("accepted")
        } catch {
            #expect(error.lines == ["\(path): not a SQLite database (its first bytes are not \"SQLite format 3\")"])
        }
    }

    @Test func aSQLiteDatabaseWithAnUnknownSchema() throws {
        let path = Fixtures.path("bad/unknown-schema.sqlite")
        do {
            _ = try Conversion.validate(input: path, options: ConversionOptions(now: 0))
            Issue.record("accepted")
        } catch {
            #expect(error.lines[0].contains("a SQLite database with a schema filamentdb does not know (tables: notes)"))
        }
    }
}

@Suite struct ZIPTests {
    @Test func entriesAreNamedLikeTheWebAppAndNeverCollide() throws {
        let spools = [
            Spool(normalizedFields: ["serial": .string("A-1"), "type": .string("PLA"), "brand": .string("Prusa ment"), "color": .string("Galaxy/Black"), "lastUpdated": .int(1)]),
            Spool(normalizedFields: ["serial": .string("A1"), "type": .string("PLA"), "brand": .string("Prusament"), "color": .string("GalaxyBlack"), "lastUpdated": .int(1)]),
            Spool(normalizedFields: ["serial": .string("a1"), "type": .string("pla"), "brand": .string("prusament"), "color": .string("galaxyblack"), "lastUpdated": .int(1)]),
            Spool(normalizedFields: ["serial": .string("🧵"), "lastUpdated": .int(1)]),
        ]
        #expect(SpoolZIP.entryNames(spools) == ["PLA-Prusament-GalaxyBlack-A1.json", "PLA-Prusament-GalaxyBlack-A1-2.json", "pla-prusament-galaxyblack-a1-3.json", "spool.json"])
        let bytes = try Conversion.encode(spools, as: .zip).bytes
        let back = try Conversion.load(bytes, path: "b.zip", options: ConversionOptions(now: 0)).spools
        #expect(back.flatMap(\.canonicalJSON) == spools.sorted { utf8Ordered($0.serial, $1.serial) }.flatMap(\.canonicalJSON))
        // Each entry is the spool's canonical JSON.
        let archive = try Archive(data: Data(bytes), accessMode: .read)
        var content = Data()
        _ = try archive.extract(try #require(archive["spool.json"])) { content.append($0) }
        #expect([UInt8](content) == spools[3].canonicalJSON)
    }

    func archive(_ entries: [(String, Data)]) throws -> [UInt8] {
        let archive = try Archive(data: Data(), accessMode: .create)
        for (name, data) in entries {
            try archive.addEntry(with: name, type: .file, uncompressedSize: Int64(data.count), compressionMethod: .deflate) { pos, size in
                data.subdata(in: Int(pos)..<Int(pos) + size)
            }
        }
        return [UInt8](try #require(archive.data))
    }

    @Test func entriesThatLeaveTheFolderAreRefused() throws {
        let spool = Data(#"{"serial":"Z","lastUpdated":1}"#.utf8)
        for name in ["../evil.json", "a/../../evil.json", "/etc/evil.json"] {
            let bytes = try archive([("ok.json", spool), (name, spool)])
            do {
                _ = try Conversion.load(bytes, path: "slip.zip", options: ConversionOptions(now: 0))
                Issue.record("accepted \(name)")
            } catch {
                #expect(error.lines[0].contains("entry \"\(name)\": refused"), "\(error)")
            }
        }
    }

    @Test func anEntryThatInflatesPastTheLimitIsRefused() throws {
        // 17 MiB of spaces compresses to a few kilobytes: a small zip bomb.
        let bomb = Data(repeating: 0x20, count: SpoolZIP.maxEntryBytes + (1 << 20))
        let bytes = try archive([("bomb.json", bomb)])
        #expect(bytes.count < 100_000)
        do {
            _ = try Conversion.load(bytes, path: "bomb.zip", options: ConversionOptions(now: 0))
            Issue.record("accepted a zip bomb")
        } catch {
            #expect(error.lines[0].contains("entry \"bomb.json\"") && error.lines[0].contains("zip bomb"), "\(error)")
        }
    }

    /// Differential, both ways: ZIPFoundation reads every entry of our archives, with its CRC checked, and we
    /// read every archive ZIPFoundation writes.
    @Test func ourArchivesAndZIPFoundationsAgree() throws {
        var gen = InventoryGenerator(seed: 77)
        for round in 0..<10 {
            let (spools, _) = try Conversion.load(InventoryGenerator.jsonArrayBytes(gen.inventory(maxCount: 20)), path: "g.json", options: ConversionOptions(from: .json, now: 1))
            let sorted = spools.sorted { utf8Ordered($0.serial, $1.serial) }
            let ours = try Conversion.encode(spools, as: .zip).bytes
            let archive = try Archive(data: Data(ours), accessMode: .read)
            var theirs: [[UInt8]] = []
            for (entry, name) in zip(archive, SpoolZIP.entryNames(sorted)) {
                #expect(entry.path == name, "round \(round)")
                var content = Data()
                let crc = try archive.extract(entry, skipCRC32: false) { content.append($0) }
                #expect(crc == entry.checksum, "round \(round)")
                theirs.append([UInt8](content))
            }
            #expect(theirs == sorted.map(\.canonicalJSON), "round \(round)")
            let written = try self.archive(sorted.enumerated().map { ("\($0.offset).json", Data($0.element.canonicalJSON)) })
            let back = try Conversion.load(written, path: "theirs.zip", options: ConversionOptions(now: 0)).spools
            #expect(back.flatMap(\.canonicalJSON) == sorted.flatMap(\.canonicalJSON), "round \(round)")
        }
    }

    /// More than 65,535 entries need the ZIP64 end records; ZIPFoundation and our reader both find every entry.
    @Test func moreEntriesThanSixteenBitsCount() throws {
        let spools = (0..<65_600).map { Spool(normalizedFields: ["serial": .string("S\($0)"), "lastUpdated": .int(1)]) }
        let bytes = try Conversion.encode(spools, as: .zip).bytes
        let archive = try Archive(data: Data(bytes), accessMode: .read)
        #expect(archive.reduce(0) { n, _ in n + 1 } == 65_600)
        let back = try Conversion.load(bytes, path: "many.zip", options: ConversionOptions(now: 0)).spools
        #expect(back.count == 65_600 && back.last?.serial == "S9999")
    }

    @Test func otherFilesAreSkippedAndSaidSoAndBadJSONIsRejected() throws {
        let bytes = try archive([("README.txt", Data("hi".utf8)), ("a.json", Data(#"{"serial":"A","lastUpdated":1}"#.utf8)), ("b.json", Data("{oops".utf8))])
        let (spools, report) = try Conversion.load(bytes, path: "m.zip", options: ConversionOptions(now: 0, skipInvalid: true))
        #expect(spools.map(\.serial) == ["A"])
        #expect(report.notes.contains("skipped 1 entry that is not .json: README.txt"))
        #expect(report.rejected.first?.location.entry == "b.json")
    }
}
