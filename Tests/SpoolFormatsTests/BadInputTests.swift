import Foundation
import SpoolFormats
import SpoolModel
import SpoolTestSupport
import Testing

@Suite struct BadInputTests {
    func failure(_ relative: String, skipInvalid: Bool = false) -> ConversionError? {
        do {
            _ = try Conversion.load(Fixtures.bytes(relative), path: relative, options: ConversionOptions(now: importTime, skipInvalid: skipInvalid))
            return nil
        } catch {
            return error
        }
    }

    @Test func truncatedFileNamesTheFileAndPosition() throws {
        let error = try #require(failure("bad/truncated.dexie.json"))
        guard case .syntax(let file, let e) = error else { Issue.record("\(error)"); return }
        #expect(file == "bad/truncated.dexie.json")
        #expect(e.message.contains("truncated"))
        #expect(error.kind == .invalidInput)
    }

    @Test func aNumberWhereTextBelongs() throws {
        let error = try #require(failure("bad/number-in-text.json"))
        guard case .invalidRecords(_, let rejections) = error else { Issue.record("\(error)"); return }
        #expect(rejections.map(\.serial) == ["BAD-BRAND-2", "BAD-WEIGHT-3"])
        #expect(error.lines[0] == #"bad/number-in-text.json: line 7, row 2: serial "BAD-BRAND-2": field "brand": expected text, found a number (42)"#)
        #expect(error.lines[1] == #"bad/number-in-text.json: line 12, row 3: serial "BAD-WEIGHT-3": field "weightRemaining": expected a number, found a string ("lots")"#)
    }

    @Test func skipInvalidKeepsTheGoodRecordsAndListsTheRest() throws {
        let (spools, report) = try load("bad/number-in-text.json", skipInvalid: true)
        #expect(spools.map(\.serial) == ["GOOD-1"])
        #expect(report.rejected.count == 2)
        #expect(report.lines.contains { $0.contains("rejected: 2") })
    }

    @Test func invalidUTF8() throws {
        let error = try #require(failure("bad/invalid-utf8.json"))
        #expect(error.lines == ["bad/invalid-utf8.json: line 2, column 35: invalid UTF-8 in a string"])
        #expect(error.kind == .invalidInput)
        guard case .syntax(_, let e) = error else { Issue.record("\(error)"); return }
        #expect(e.line == 2 && e.column == 35)
        // Not even --skip-invalid goes past a file that is broken at that place.
        #expect(failure("bad/invalid-utf8.json", skipInvalid: true) != nil)
    }

    @Test func unknownTypesonTypeNamesRowFieldAndSerial() throws {
        let error = try #require(failure("bad/unknown-type.dexie.json"))
        #expect(error.lines[0].hasPrefix(#"bad/unknown-type.dexie.json: line 19, row 1: serial "KEY-1": field "$types["secret"]": unknown typeson type 'cryptokey'"#))
    }

    @Test func typesPathThatDoesNotExist() throws {
        let error = try #require(failure("bad/types-path-missing.dexie.json"))
        #expect(error.lines[0].contains(#"serial "PATH-1": field "$types["lastScaned"]": the path does not exist"#))
    }

    @Test func jsonThatIsNotAnInventory() throws {
        let error = try #require(failure("bad/not-an-inventory.json"))
        #expect(error.lines == ["bad/not-an-inventory.json: not a Dexie export nor an array of spools: the top level is an object"])
    }

    @Test func emptyAndNonJSONInput() throws {
        for (bytes, expected) in [([UInt8](), "the file is empty"), (Array("hello world\n".utf8), "expected a JSON value")] {
            do {
                _ = try Conversion.load(bytes, path: "in", options: ConversionOptions(now: 0))
                Issue.record("accepted \(bytes)")
            } catch {
                #expect(error.description.contains(expected), "\(error)")
            }
        }
    }

    /// Records are parsed on several threads; the error is still the first broken place in the file.
    @Test func theFirstBrokenRowInTheFileIsReported() throws {
        var rows: [String] = []
        for i in 0..<6000 { rows.append("{\"serial\":\"R\(i)\",\"lastUpdated\":1}") }
        rows[4500] = "{\"serial\":\"R4500\" \"lastUpdated\":1}"
        rows[2500] = "{\"serial\":\"R2500\",\"lastUpdated\":tru}"
        // The same batch as row 2500 but the other core's half of it.
        rows[1000] = "{\"serial\":\"R1000\",\"lastUpdated\":1,}"
        let bytes = Array(("[\n" + rows.joined(separator: ",\n") + "\n]\n").utf8)
        for skip in [false, true] {
            do {
                _ = try Conversion.load(bytes, path: "rows.json", options: ConversionOptions(now: 0, skipInvalid: skip))
                Issue.record("accepted a broken file")
            } catch {
                guard case .syntax(_, let e) = error else { Issue.record("\(error)"); continue }
                #expect(e.line == 1002, "\(e)")
            }
        }
    }

    /// Issue 10, item 12: a Dexie row nested too deep said "the file is truncated"; every reader names the nesting.
    @Test func nestingTooDeepIsNamedByEveryReader() throws {
        let deep = String(repeating: "[", count: 600) + String(repeating: "]", count: 600)
        let row = #"{"serial":"A","lastUpdated":1,"deep":\#(deep)}"#
        let dexie = #"{"formatName":"dexie","formatVersion":1,"data":{"databaseName":"x","databaseVersion":3,"tables":[{"name":"spools","schema":"++id","rowCount":1}],"data":[{"tableName":"spools","inbound":true,"rows":[\#(row)]}]}}"#
        for (name, text) in [("deep.dexie.json", dexie), ("deep.json", "[\(row)]"), ("deep.jsonl", row + "\n")] {
            do {
                let (_, report) = try Conversion.load(Array(text.utf8), path: name, options: ConversionOptions(now: 0, skipInvalid: true))
                #expect(report.rejected.first?.problems.first?.message.hasSuffix("nesting deeper than 512 levels") == true, "\(name): \(report.lines)")
            } catch {
                #expect(error.lines.count == 1 && error.lines[0].hasSuffix("nesting deeper than 512 levels"), "\(name): \(error)")
            }
        }
    }

    @Test func unsupportedFormatVersion() throws {
        let bytes = Array(#"{"formatName":"dexie","formatVersion":2,"data":{"data":[]}}"#.utf8)
        #expect(throws: ConversionError.self) { try Conversion.load(bytes, path: "v2.json", options: ConversionOptions(now: 0)) }
    }

    @Test func aMalformedJSONLineIsRejectedOnlyWithSkipInvalid() throws {
        let bytes = Array("{\"serial\":\"A\",\"lastUpdated\":1}\n{\"serial\":\n{\"serial\":\"C\",\"lastUpdated\":1}\n".utf8)
        do {
            _ = try Conversion.load(bytes, path: "in.jsonl", options: ConversionOptions(now: 0))
            Issue.record("accepted a broken line")
        } catch {
            let e = error
            guard case .syntax(_, let s) = e else { Issue.record("\(e)"); return }
            #expect(s.line == 2)
        }
        let (spools, report) = try Conversion.load(bytes, path: "in.jsonl", options: ConversionOptions(now: 0, skipInvalid: true))
        #expect(spools.map(\.serial) == ["A", "C"])
        #expect(report.rejected.first?.location.line == 2)
    }

    @Test func nothingIsWrittenWhenTheInputIsInvalid() throws {
        let dir = Fixtures.temporaryDirectory()
        let out = dir + "/out.json"
        try Data("previous".utf8).write(to: URL(fileURLWithPath: out))
        #expect(throws: ConversionError.self) {
            try Conversion.convert(input: Fixtures.path("bad/number-in-text.json"), output: out, options: ConversionOptions(now: 0))
        }
        #expect(String(decoding: FileManager.default.contents(atPath: out)!, as: UTF8.self) == "previous")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["out.json"], "no temporary file left behind")
    }

    @Test func anUnwritableOutputIsAnIOError() throws {
        do {
            _ = try Conversion.convert(input: Fixtures.path("json/spools.jsonl"), output: "/nonexistent-dir/out.json", options: ConversionOptions(now: 0))
            Issue.record("wrote into a missing folder")
        } catch {
            let e = error
            #expect(e.kind == .io)
            #expect(e.lines[0].hasPrefix("/nonexistent-dir/out.json: cannot create"))
        }
    }
}
