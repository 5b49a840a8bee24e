import Foundation
import SpoolModel
import SpoolTestSupport
import Testing

/// The files a writer left beside its target: `.NAME.PID.N.tmp`.
func leftovers(in dir: String) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasPrefix(".") && $0.hasSuffix(".tmp") }
}

/// The serials of a JSON Lines file.
func serials(ofJSONLines path: String) throws -> [String] {
    try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map {
        try #require(try JSONParser.parse(String($0)).objectValue?["serial"]?.stringValue)
    }
}

/// A serial is at most 1,024 bytes of UTF-8 (README: "Serials"): the longest one goes through every writer
/// and the history, one byte more is rejected on input.
@Suite(.serialized) struct SerialLimitTests {
    let dir = Fixtures.temporaryDirectory()

    /// 1,024 bytes, most of them escaped (three bytes each) in the history's paths.
    static let longest = "S" + String(repeating: ".", count: 1000) + String(repeating: "é", count: 11) + "x"

    func input(_ serial: String, brand: String = "B") throws -> String {
        let text = "[" + [1, 2].map { #"{"id":\#($0),"serial":\#(JSONValue.string(serial).jsonText),"brand":\#(JSONValue.string(brand).jsonText),"lastUpdated":\#($0)}"# }.joined(separator: ",") + "]"
        let path = dir + "/in-\(UUID().uuidString).json"
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test func theLongestSerialGoesThroughEveryWriterAndTheHistory() throws {
        #expect(Self.longest.utf8.count == 1024)
        // Two records share it: the second is renamed (`~id-2`), its serial cut to stay within the limit.
        let path = try input(Self.longest)
        let first = try CLI.run(["convert", path, dir + "/first.jsonl", "--now", "0"])
        #expect(first.stdout.contains("~id-2\" (duplicate serial"), "\(first.stdout)")
        let expected = try serials(ofJSONLines: dir + "/first.jsonl")
        #expect(expected.count == 2 && expected.contains(Self.longest) && expected.contains { $0.hasSuffix("~id-2") })
        #expect(expected.allSatisfy { $0.utf8.count <= 1024 })
        for (name, extra) in [("out.jsonl", []), ("out.json", []), ("plain.json", ["--to", "json"]), ("out.csv", []), ("out.sqlite", []), ("out.zip", [])] {
            let out = dir + "/" + name
            let r = try CLI.run(["convert", path, out, "--now", "0"] + extra)
            #expect(r.status == 0, "\(name): \(r.stderr)")
            let back = dir + "/back-\(name).jsonl"
            let b = try CLI.run(["convert", out, back])
            #expect(b.status == 0, "\(name) read back: \(b.stderr)")
            #expect(try serials(ofJSONLines: back) == expected, "\(name)")
        }
        let data = dir + "/data"
        let imported = try CLI.run(["import", path, "--data-dir", data, "--now", "0"])
        #expect(imported.status == 0, "\(imported.stderr)")
        for serial in expected {
            let show = try CLI.run(["show", serial, "--data-dir", data])
            #expect(show.status == 0, "\(show.stderr)")
            #expect(try JSONParser.parse(show.stdout).objectValue?["serial"] == .string(serial))
        }
        for name in ["history.zip", "history.jsonl", "history.sqlite"] {
            let export = try CLI.run(["export", dir + "/" + name, "--data-dir", data])
            #expect(export.status == 0, "\(name): \(export.stderr)")
        }
        #expect(try CLI.run(["convert", dir + "/history.zip", dir + "/history-back.jsonl"]).status == 0)
        #expect(try serials(ofJSONLines: dir + "/history-back.jsonl") == expected)
        #expect(try CLI.run(["verify", "--data-dir", data]).status == 0)
    }

    @Test func oneByteMoreIsRejectedOnInputNamingTheField() throws {
        let path = try input(Self.longest + "y")
        let out = dir + "/never.jsonl"
        let r = try CLI.run(["convert", path, out])
        #expect(r.status == 1, "\(r.stderr)")
        #expect(r.stderr.contains(#"field "serial": 1025 bytes, over the limit of 1024 bytes (UTF-8) for a serial"#), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out))
        // The same record as CSV and as JSON Lines: every reader goes through the same check.
        let tooLong = Self.longest + "y"
        for (name, text) in [("in.csv", "serial,lastUpdated\r\n\(tooLong),1\r\n"), ("in.jsonl", #"{"serial":"\#(tooLong)","lastUpdated":1}"# + "\n")] {
            let other = dir + "/" + name
            try Data(text.utf8).write(to: URL(fileURLWithPath: other))
            let o = try CLI.run(["convert", other, out])
            #expect(o.status == 1 && o.stderr.contains(#"field "serial": 1025 bytes, over the limit"#), "\(name): \(o.stderr)")
            #expect(!FileManager.default.fileExists(atPath: out))
        }
        let data = dir + "/data-rejected"
        let imported = try CLI.run(["import", path, "--data-dir", data])
        #expect(imported.status == 1, "\(imported.stderr)")
        #expect(imported.stderr.contains(#"field "serial""#))
    }

    /// The crash of issue 10, item 4: an entry name of 65,536 bytes or more.
    @Test func aSerialTooLongForAZIPEntryNameIsAnErrorNotACrash() throws {
        let path = try input(String(repeating: "Z", count: 65_536))
        let out = dir + "/huge.zip"
        let r = try CLI.run(["convert", path, out])
        #expect(r.status == 1, "\(r.stderr)")
        #expect(r.stderr.contains(#"field "serial": 65536 bytes, over the limit"#))
        #expect(!FileManager.default.fileExists(atPath: out))
        #expect(leftovers(in: dir).isEmpty)
    }

    /// Type, brand and colour are part of an entry's name too, and have no limit of their own: names are cut.
    @Test func aLongBrandStillMakesAReadableZIP() throws {
        let brand = String(repeating: "Brand", count: 14_000)
        let path = try input("S1", brand: brand)
        let out = dir + "/brand.zip"
        let r = try CLI.run(["convert", path, out])
        #expect(r.status == 0, "\(r.stderr)")
        let back = dir + "/brand-back.jsonl"
        #expect(try CLI.run(["convert", out, back]).status == 0)
        let brands = try String(contentsOfFile: back, encoding: .utf8).split(separator: "\n").map { try JSONParser.parse(String($0)).objectValue?["brand"] }
        #expect(brands == [.string(brand), .string(brand)])
        #expect(leftovers(in: dir).isEmpty)
    }
}
