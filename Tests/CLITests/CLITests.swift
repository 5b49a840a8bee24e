import Foundation
import SpoolHistory
import SpoolModel
import SpoolTestSupport
import Testing

/// Runs the built `filamentdb` binary as a user would.
struct CLI {
    static let binary: String = {
        // The test bundle sits in the same products folder as the executable.
        let products = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for candidate in [products, products.deletingLastPathComponent(), Fixtures.repositoryRoot.appendingPathComponent(".build/debug")] {
            let path = candidate.appendingPathComponent("filamentdb").path
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return Fixtures.repositoryRoot.appendingPathComponent(".build/debug/filamentdb").path
    }()

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
        var stdoutBytes: Data
    }

    static func run(_ arguments: [String], stdin: Data? = nil, environment: [String: String] = [:]) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        process.environment = env
        // stderr goes to a file so that neither pipe can fill up and block the process.
        let errPath = FileManager.default.temporaryDirectory.appendingPathComponent("filamentdb-stderr-\(UUID().uuidString)").path
        _ = FileManager.default.createFile(atPath: errPath, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: errPath) }
        let out = Pipe(), input = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle(forWritingAtPath: errPath)
        process.standardInput = input
        try process.run()
        if let stdin { input.fileHandleForWriting.write(stdin) }
        try input.fileHandleForWriting.close()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let errData = FileManager.default.contents(atPath: errPath) ?? Data()
        return Result(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                      stderr: String(decoding: errData, as: UTF8.self), stdoutBytes: outData)
    }
}

@Suite(.serialized) struct CLITests {
    let dir = Fixtures.temporaryDirectory()

    @Test func convertsAFixtureAndPrintsTheReport() throws {
        let out = dir + "/inventory.jsonl"
        let r = try CLI.run(["convert", Fixtures.path("dexie/webapp-v2-duplicates-2024.dexie.json"), out, "--now", "2024-06-01T00:00:00Z"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("wrote 7 spools (6 live, 1 tombstone)"))
        #expect(r.stdout.contains(#""" -> "unnamed~id-13" (empty serial)"#))
        let lines = try String(contentsOfFile: out, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 7)
        let mystery = try #require(lines.first { $0.contains("unnamed~id-13") })
        let o = try #require(try JSONParser.parse(String(mystery)).objectValue)
        #expect(o["lastUpdated"] == .int(1_717_200_000_000))
        #expect(o["color"] == .string("Green"))
    }

    @Test func dexieOutputReadsBackToTheSameSpools() throws {
        let dexie = dir + "/out.json", back = dir + "/back.jsonl", direct = dir + "/direct.jsonl"
        let input = Fixtures.path("dexie/every-typeson-type.dexie.json")
        #expect(try CLI.run(["convert", input, dexie, "--now", "0"]).status == 0)
        #expect(try CLI.run(["convert", dexie, back]).status == 0)
        #expect(try CLI.run(["convert", input, direct, "--now", "0"]).status == 0)
        #expect(FileManager.default.contents(atPath: back) == FileManager.default.contents(atPath: direct))
    }

    @Test func badInputExitsOneWithFileLineFieldAndSerialAndWritesNothing() throws {
        let out = dir + "/never.json"
        let r = try CLI.run(["convert", Fixtures.path("bad/number-in-text.json"), out])
        #expect(r.status == 1)
        #expect(r.stderr.contains(#"number-in-text.json: line 7, row 2: serial "BAD-BRAND-2": field "brand": expected text, found a number (42)"#))
        #expect(r.stderr.contains("2 records rejected, nothing written"))
        #expect(!FileManager.default.fileExists(atPath: out))
    }

    @Test func skipInvalidWritesTheRestAndExitsTwo() throws {
        let out = dir + "/partial.jsonl"
        let r = try CLI.run(["convert", Fixtures.path("bad/number-in-text.json"), out, "--skip-invalid", "--json"])
        #expect(r.status == 2)
        let report = try #require(try JSONParser.parse(r.stdout).objectValue)
        #expect(report["written"] == .int(1))
        #expect(report["rejected"]?.arrayValue?.count == 2)
        #expect(try String(contentsOfFile: out, encoding: .utf8).contains("GOOD-1"))
    }

    @Test(.enabled(if: Fixtures.hasSharedSamples, Comment(rawValue: Fixtures.noSharedSamples))) func aMissingTableListsTheTablesTheFileHas() throws {
        let r = try CLI.run(["validate", Fixtures.sharedSample("01-olive-exported-activities-v2.json")])
        #expect(r.status == 1)
        #expect(r.stderr.contains(#"no table "spools" in this Dexie export; it has the tables "activities", "intervals", "settings" (choose one with --table NAME)"#))
    }

    @Test(.enabled(if: Fixtures.hasSharedSamples, Comment(rawValue: Fixtures.noSharedSamples))) func invalidJSONNamesTheLine() throws {
        let r = try CLI.run(["validate", Fixtures.sharedSample("04-dexie-historic-prerelease-test-data.INVALID.json")])
        #expect(r.status == 1)
        #expect(r.stderr.contains("INVALID.json: line "))
    }

    /// Issue 10, items 3 and 6: a date past Int64 used to trap; times out of range used to fail later in
    /// the CSV or SQLite writer, naming no row.
    @Test func timesOutOfRangeAreRejectedNotCrashedOn() throws {
        let input = try write(#"""
        [{"serial":"PD-HIGH","lastUpdated":1,"productionDate":1e20,"$types":{"productionDate":"date"}},
         {"serial":"PD-LOW","lastUpdated":1,"productionDate":-1e20,"$types":{"productionDate":"date"}},
         {"serial":"LU-HUGE","lastUpdated":1e20},
         {"serial":"LU-2^63","lastUpdated":9223372036854775808},
         {"serial":"LU-NEG","lastUpdated":-5}]
        """#)
        for out in ["/t.csv", "/t.sqlite", "/t.jsonl"] {
            let r = try CLI.run(["convert", input, dir + out])
            #expect(r.status == 1, "\(out): \(r.stderr)")
            for (serial, field) in [("PD-HIGH", "productionDate"), ("PD-LOW", "productionDate"), ("LU-HUGE", "lastUpdated"),
                                    ("LU-2^63", "lastUpdated"), ("LU-NEG", "lastUpdated")] {
                #expect(r.stderr.contains("serial \"\(serial)\": field \"\(field)\": "), "\(serial) in \(r.stderr)")
            }
            #expect(!FileManager.default.fileExists(atPath: dir + out))
        }
    }

    /// The import time becomes lastUpdated, so it has lastUpdated's range.
    @Test func anImportTimeOutOfRangeIsAUsageError() throws {
        for now in ["-5", "8640000000000001"] {
            let r = try CLI.run(["convert", Fixtures.path("json/spools.jsonl"), dir + "/never.jsonl", "--now=\(now)"])
            #expect(r.status == 64)
            #expect(r.stderr.contains("--now \(now): out of range"), "\(r.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: dir + "/never.jsonl"))
    }

    @Test func readsStandardInputAndWritesStandardOutput() throws {
        let input = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("json/json-stringify-spools.json")))
        let r = try CLI.run(["convert", "-", "-", "--to", "jsonl", "--now", "0"], stdin: input)
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n")
        #expect(lines.count == 2 && lines[0].hasPrefix(#"{"serial":"JS-1""#))
        #expect(r.stderr.contains("read 2 records from -"), "the report goes to stderr when the spools use stdout")
    }

    @Test func standardOutputWithoutToIsAUsageError() throws {
        let r = try CLI.run(["convert", Fixtures.path("json/spools.jsonl"), "-"])
        #expect(r.status == 64)
        #expect(r.stderr.contains("cannot tell the output format of standard output: name one (") && r.stderr.contains(") with --to FORMAT"))
    }

    @Test func validatePrintsTheReportAndWritesNothing() throws {
        let r = try CLI.run(["validate", Fixtures.path("dexie/webapp-v1-2022.dexie.json"), "--json", "--now", "1000"])
        #expect(r.status == 0)
        let report = try #require(try JSONParser.parse(r.stdout).objectValue)
        #expect(report["migrated"] == .object(["lastUpdated-from-createdAt": .int(1), "lastUpdated-from-import-time": .int(1), "lastUpdated-from-lastScanned": .int(1)]))
        #expect(report["read"] == .int(3))
    }

    @Test func helpListsTheExitCodesAndFormatsListsTheFormats() throws {
        let help = try CLI.run(["--help"])
        #expect(help.stdout.contains("Exit status:") && help.stdout.contains("74  a file could not be read or written"))
        // `--to` offers only the formats that can be written (Spoolman's and OctoPrint's are read only).
        for command in ["convert", "export"] {
            let usage = try CLI.run([command, "--help"]).stdout.replacingOccurrences(of: "\n", with: " ")
            #expect(usage.contains("(values: dexie, json, jsonl, csv, sqlite, zip)"), "\(command): \(usage)")
        }
        let readOnly = try CLI.run(["convert", Fixtures.path("dexie/webapp-v1-2022.dexie.json"), "-", "--to", "spoolman"])
        #expect(readOnly.status == 64 && readOnly.stderr.contains("--to") && readOnly.stdout.isEmpty, "\(readOnly.stderr)")
        let formats = try CLI.run(["formats"])
        #expect(formats.status == 0)
        #expect(formats.stdout.split(separator: "\n").map { $0.split(separator: " ").first.map(String.init) } == ["dexie", "json", "jsonl", "csv", "sqlite", "zip", "spoolman", "octoprint"])
    }

    @Test func demoCreatesItsDataFolderAndConvertsTheSample() throws {
        let data = dir + "/data/nested"
        let r = try CLI.run(["demo"], environment: ["SYNC_DATA_DIR": data])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("data folder: \(data)"))
        #expect(FileManager.default.fileExists(atPath: data + "/inventory.jsonl"))
        let dexie = try #require(try JSONParser.parse(Array(FileManager.default.contents(atPath: data + "/inventory.dexie.json")!)).objectValue)
        #expect(dexie["data"]?.objectValue?["databaseVersion"] == .int(3))
        #expect(r.stdout.contains("history: \(data)/history.git: committed") && r.stdout.contains("(8 added, 0 changed)"))
        let again = try CLI.run(["demo"], environment: ["SYNC_DATA_DIR": data])
        #expect(again.stdout.contains("already holds the sample, no commit"))
    }

    /// The default data folder of `demo` is the user's own: a history holding other spools than the sample's gets
    /// nothing from it (a new user's probe found the sample merged into an inventory, with conflicts).
    @Test func demoLeavesAnInventoryOfTheUsersAlone() throws {
        let data = dir + "/mine"
        let imported = try CLI.run(["import", Fixtures.path("dexie/webapp-v1-2022.dexie.json"), "--data-dir", data, "--now", "2024-06-01T00:00:00Z"])
        #expect(imported.status == 0, "\(imported.stderr)")
        let before = try Command.git(["-C", data + "/history.git", "rev-parse", "main"]).output
        let r = try CLI.run(["demo"], environment: ["SYNC_DATA_DIR": data])
        #expect(r.status == 64)
        #expect(r.stderr.contains("holds an inventory of its own") && r.stderr.contains("--data-dir"), "\(r.stderr)")
        #expect(try Command.git(["-C", data + "/history.git", "rev-parse", "main"]).output == before)
        #expect(!FileManager.default.fileExists(atPath: data + "/filamentdb-sample-export.json"))
        #expect(!FileManager.default.fileExists(atPath: data + "/demo-sync"))
    }
}

@Suite(.serialized) struct HistoryCLITests {
    let data = Fixtures.temporaryDirectory() + "/data"

    @Test func importLogShowAndReplace() throws {
        let input = Fixtures.path("dexie/webapp-v1-2022.dexie.json")
        let first = try CLI.run(["import", input, "--data-dir", data, "--now", "2024-06-01T00:00:00Z"])
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stderr.contains("created \(data)/history.git"))
        #expect(first.stdout.contains("3 added, 0 changed, 0 deleted, 0 removed") && first.stdout.contains("merged into main"))
        let again = try CLI.run(["import", input, "--data-dir", data, "--now", "2024-06-01T00:00:00Z"])
        #expect(again.stdout.contains("nothing changed on devices/import: no commit"))

        let show = try CLI.run(["show", "PM-PLA-GALAXY-0001", "--data-dir", data])
        let spool = try #require(try JSONParser.parse(show.stdout).objectValue)
        #expect(spool["brand"] == .string("Prusament") && show.stdout.hasPrefix("{\n  \"serial\": \"PM-PLA-GALAXY-0001\",\n"))

        // A file with one spool, as the whole inventory.
        let dir = Fixtures.temporaryDirectory()
        try Data(#"[{"serial":"ONLY","brand":"X","lastUpdated":1}]"#.utf8).write(to: URL(fileURLWithPath: dir + "/one.json"))
        let replaced = try CLI.run(["import", dir + "/one.json", "--replace", "--data-dir", data])
        #expect(replaced.stdout.contains("1 added, 0 changed, 0 deleted, 3 removed"))
        let old = try CLI.run(["show", "PM-PLA-GALAXY-0001", "--at", "main~1", "--data-dir", data])
        #expect(old.status == 0 && old.stdout.contains("Prusament"))
        // What the file lacks is a tombstone now, so the deletion travels like any other.
        let gone = try CLI.run(["show", "PM-PLA-GALAXY-0001", "--data-dir", data])
        let tombstone = try JSONParser.parse(gone.stdout).objectValue
        #expect(gone.status == 0 && tombstone?["deleted"] == .bool(true))
        #expect(try CLI.run(["show", "NOT-THERE", "--data-dir", data]).status == 3)

        let log = try CLI.run(["log", "--data-dir", data])
        let lines = log.stdout.split(separator: "\n")
        #expect(lines.count == 3 && lines[0].contains("import one.json: 1 added, 0 changed, 0 deleted, 3 removed"))
        let bySpool = try CLI.run(["log", "--spool", "ONLY", "--data-dir", data])
        #expect(bySpool.stdout.split(separator: "\n").count == 1)
        #expect(try git(["fsck", "--strict"], data + "/history.git") == 0)
    }

    @Test func aDeviceBranchMergedLaterWithAConflict() throws {
        let dir = Fixtures.temporaryDirectory()
        try Data(#"[{"serial":"S","weightRemaining":800,"lastUpdated":100}]"#.utf8).write(to: URL(fileURLWithPath: dir + "/base.json"))
        try Data(#"[{"serial":"S","weightRemaining":500,"lastUpdated":300}]"#.utf8).write(to: URL(fileURLWithPath: dir + "/phone.json"))
        try Data(#"[{"serial":"S","weightRemaining":700,"lastUpdated":200}]"#.utf8).write(to: URL(fileURLWithPath: dir + "/desk.json"))
        #expect(try CLI.run(["import", dir + "/base.json", "--data-dir", data]).status == 0)
        #expect(try CLI.run(["import", dir + "/phone.json", "--device", "phone", "--no-merge", "--data-dir", data]).status == 0)
        #expect(try CLI.run(["import", dir + "/desk.json", "--device", "desk", "--data-dir", data]).status == 0)
        let merge = try CLI.run(["merge", "phone", "--data-dir", data])
        #expect(merge.stdout.contains("1 changed, 1 conflict") && merge.stdout.contains("\"S\" weightRemaining: \"phone\" wins"))
        let show = try CLI.run(["show", "S", "--data-dir", data])
        #expect(try JSONParser.parse(show.stdout).objectValue?["weightRemaining"] == .int(500))
        let byDevice = try CLI.run(["log", "--device", "phone", "--data-dir", data])
        #expect(byDevice.stdout.split(separator: "\n").count == 2)
    }

    func git(_ args: [String], _ dir: String) throws -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["git", "-C", dir] + args
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        return p.terminationStatus
    }
}

/// A JSON input file in a fresh temporary folder.
func write(_ json: String) throws -> String {
    let path = Fixtures.temporaryDirectory() + "/in.json"
    try Data(json.utf8).write(to: URL(fileURLWithPath: path))
    return path
}

@Suite(.serialized) struct HistoryRestoreCLITests {
    let data = Fixtures.temporaryDirectory() + "/data"

    @Test func diffExportRestoreAndDates() throws {
        #expect(try CLI.run(["import", try write(#"[{"serial":"A","weightRemaining":800,"color":"Black","lastUpdated":100},{"serial":"B","lastUpdated":100}]"#), "--data-dir", data]).status == 0)
        #expect(try CLI.run(["import", try write(#"[{"serial":"A","weightRemaining":650,"color":"Black","lastUpdated":200}]"#), "--data-dir", data]).status == 0)

        let diff = try CLI.run(["diff", "--data-dir", data])
        #expect(diff.stdout == "\"A\" weightRemaining: 800 -> 650\n\"A\" lastUpdated: 100 -> 200\n")
        let json = try CLI.run(["diff", "--json", "--data-dir", data])
        #expect(try JSONParser.parse(json.stdout) == .array([.object(["serial": .string("A"), "status": .string("changed"), "fields": .array([
            .object(["field": .string("weightRemaining"), "old": .int(800), "new": .int(650)]),
            .object(["field": .string("lastUpdated"), "old": .int(100), "new": .int(200)]),
        ])])]))

        let all = try CLI.run(["diff", "--all", "--data-dir", data])
        #expect(all.stdout.contains("\"A\" color: \"Black\" (unchanged)") && all.stdout.contains("\"A\" weightRemaining: 800 -> 650"))
        #expect(try CLI.run(["import", try write(#"[{"serial":"B","deleted":true,"lastUpdated":300}]"#), "--data-dir", data]).stdout.contains("0 added, 0 changed, 1 deleted"))
        let dir = Fixtures.temporaryDirectory()
        let export = try CLI.run(["export", dir + "/past.jsonl", "--at", "main~2", "--data-dir", data])
        #expect(export.status == 0, "\(export.stderr)")
        #expect(try String(contentsOfFile: dir + "/past.jsonl", encoding: .utf8).contains(#""weightRemaining":800"#))

        let restore = try CLI.run(["restore", "main~2", "--spool", "A", "--data-dir", data])
        #expect(restore.stdout.contains("restored \"A\" to main~2"))
        #expect(try JSONParser.parse(try CLI.run(["show", "A", "--data-dir", data]).stdout).objectValue?["weightRemaining"] == .int(800))
        // The restore is itself in the history, and undone the same way.
        #expect(try CLI.run(["log", "--data-dir", data]).stdout.split(separator: "\n").first?.contains("restore spool \"A\" to main~2") == true)
        #expect(try CLI.run(["restore", "main~1", "--data-dir", data]).stdout.contains("restored main to main~1"))
        #expect(try JSONParser.parse(try CLI.run(["show", "A", "--data-dir", data]).stdout).objectValue?["weightRemaining"] == .int(650))
        #expect(try CLI.run(["restore", "main", "--data-dir", data]).stdout.contains("no commit"))

        let now = try CLI.run(["show", "A", "--at", "2999-01-01", "--data-dir", data])
        #expect(now.status == 0)
        let early = try CLI.run(["show", "A", "--at", "2000-01-01", "--data-dir", data])
        #expect(early.status == 3 && early.stderr.contains("no commit on main at or before 2000-01-01"))
        let missing = try CLI.run(["diff", "nope", "main", "--data-dir", data])
        #expect(missing.status == 3 && missing.stderr.contains("no revision, date or device \"nope\""))
    }
}

@Suite(.serialized) struct ConflictAndVerifyCLITests {
    let data = Fixtures.temporaryDirectory() + "/data"

    @Test func reviewAndRedecideAConflict() throws {
        #expect(try CLI.run(["import", try write(#"[{"serial":"S","color":"Black","lastUpdated":100}]"#), "--data-dir", data]).status == 0)
        #expect(try CLI.run(["import", try write(#"[{"serial":"S","color":"Red","lastUpdated":300}]"#), "--device", "phone", "--no-merge", "--data-dir", data]).status == 0)
        #expect(try CLI.run(["import", try write(#"[{"serial":"S","color":"Blue","lastUpdated":200}]"#), "--device", "desk", "--data-dir", data]).status == 0)
        #expect(try CLI.run(["merge", "phone", "--data-dir", data]).stdout.contains("1 conflict"))

        // Each device's first file has no known base: its differences from main are decided by last write and
        // recorded, the desk's (Blue at 200 over Black at 100) and then the phone's (Red at 300 over Blue).
        let list = try CLI.run(["conflicts", "--data-dir", data])
        let lines = list.stdout.split(separator: "\n")
        #expect(lines.count == 2 && lines[0].contains(#""S" color: desk won ("Black" on main, "Blue" on desk)"#), "\(list.stdout)")
        let line = try #require(lines.last)
        #expect(line.contains(#""S" color: phone won ("Blue" on main, "Red" on phone)"#))
        let id = String(line.prefix(16))
        #expect(try CLI.run(["conflicts", "--spool", "other", "--data-dir", data]).stdout.isEmpty)

        let show = try CLI.run(["conflicts", "show", String(id.prefix(8)), "--data-dir", data])
        #expect(show.stdout.contains("base:   (absent)") && show.stdout.contains("phone: \"Red\"   <- kept") && show.stdout.contains(#"why: no common base and the two differ; the later write wins: "phone"'s, at 1970-01-01T00:00:00.300Z"#), "\(show.stdout)")

        let resolve = try CLI.run(["conflicts", "resolve", id, "--take", "other", "--data-dir", data])
        #expect(resolve.stdout.contains("resolved \(id)"), "\(resolve.stderr)")
        #expect(try JSONParser.parse(try CLI.run(["show", "S", "--data-dir", data]).stdout).objectValue?["color"] == .string("Blue"))
        #expect(try CLI.run(["conflicts", "resolve", id, "--take", "\"Green\"", "--data-dir", data]).status == 0)
        #expect(try JSONParser.parse(try CLI.run(["show", "S", "--data-dir", data]).stdout).objectValue?["color"] == .string("Green"))
        #expect(try CLI.run(["conflicts", "resolve", "ffffffffffff", "--take", "base", "--data-dir", data]).status == 3)
        #expect(try CLI.run(["conflicts", "resolve", id, "--take", "not json", "--data-dir", data]).status == 64)
        #expect(try CLI.run(["verify", "--data-dir", data]).stdout == "1 spool checked, 0 problems\n")
    }

    /// Stock git's plumbing on the test's history (its own index file), with `input` on standard input.
    func plumbing(_ args: [String], input: String? = nil) throws -> String {
        let repo = data + "/history.git", index = data + "/plumbing-index"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["git", "--git-dir", repo] + args
        p.environment = ProcessInfo.processInfo.environment.merging(["GIT_INDEX_FILE": index, "GIT_AUTHOR_NAME": "x", "GIT_AUTHOR_EMAIL": "x@y", "GIT_COMMITTER_NAME": "x", "GIT_COMMITTER_EMAIL": "x@y"]) { $1 }
        let out = Pipe(), inp = Pipe()
        p.standardOutput = out
        p.standardInput = inp
        try p.run()
        if let input { inp.fileHandleForWriting.write(Data(input.utf8)) }
        try inp.fileHandleForWriting.close()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test func verifyFindsAFileAtTheWrongPath() throws {
        #expect(try CLI.run(["import", try write(#"[{"serial":"A","lastUpdated":1},{"serial":"B","lastUpdated":1}]"#), "--data-dir", data]).status == 0)
        // Plant B's file at A's path, and a stray file, with stock git plumbing.
        _ = try plumbing(["read-tree", "main"])
        let bBlob = try plumbing(["rev-parse", "main:" + SpoolPaths.path(for: "B")])
        _ = try plumbing(["update-index", "--add", "--cacheinfo", "100644," + bBlob + "," + SpoolPaths.path(for: "A")])
        let stray = try plumbing(["hash-object", "-w", "--stdin"], input: "hello")
        _ = try plumbing(["update-index", "--add", "--cacheinfo", "100644," + stray + ",spools/README"])
        let tree = try plumbing(["write-tree"])
        let commit = try plumbing(["commit-tree", tree, "-p", "main", "-m", "damage"])
        _ = try plumbing(["update-ref", "refs/heads/main", commit])

        let verify = try CLI.run(["verify", "--data-dir", data])
        #expect(verify.status == 1)
        #expect(verify.stderr.contains(#"holds serial "B", but the path is that of "A""#))
        #expect(verify.stderr.contains("spools/README: not the path of any serial"))
        #expect(verify.stdout.contains("2 spools checked, 2 problems"))
    }

    /// A tree that is not a well-formed one (made by hand: an entry without the zero byte that ends its name) is
    /// damage every command names, with the damaged history's exit status (65; `diff`, which compares trees in
    /// libgit2, said 74, "a file could not be read"), and `verify` reports it; nothing crashes.
    @Test func aMalformedTreeIsDamageEveryCommandNames() throws {
        #expect(try CLI.run(["import", try write(#"[{"serial":"A","lastUpdated":1},{"serial":"B","lastUpdated":1}]"#), "--data-dir", data]).status == 0)
        let bad = try plumbing(["hash-object", "-t", "tree", "--literally", "-w", "--stdin"], input: "100644 a-name-without-its-end")
        let root = try plumbing(["mktree", "--missing"], input: "040000 tree \(bad)\tspools\n")
        let commit = try plumbing(["commit-tree", root, "-p", "main", "-m", "damage"])
        _ = try plumbing(["update-ref", "refs/heads/main", commit])
        for command in [["show", "A"], ["export", data + "/out.json"], ["diff", "HEAD~1", "HEAD"], ["blame", "A"], ["import", try write(#"[{"serial":"C","lastUpdated":2}]"#)]] {
            let r = try CLI.run(command + ["--data-dir", data])
            #expect(r.status == 65, "\(command): \(r.status) \(r.stderr)")
            #expect(r.stderr.contains(data + "/history.git"), "\(command): \(r.stderr)")
        }
        let verify = try CLI.run(["verify", "--data-dir", data])
        #expect(verify.status == 1 && verify.stderr.contains("spools: cannot read the tree") && verify.stdout.contains("1 problem"), "\(verify.stdout) \(verify.stderr)")
    }

    /// Two more histories made by hand, from an attacker's probe: folders nested deep under a shard folder (6,000 deep,
    /// export, verify and diff walked them recursively and died of a stack overflow; 64 here), and another spool's file at a
    /// spool's path (shown and exported as if it were that spool). Both are damage now.
    @Test func deepFoldersAndAForeignFileAreDamage() throws {
        #expect(try CLI.run(["import", try write(#"[{"serial":"A","lastUpdated":1},{"serial":"B","lastUpdated":1}]"#), "--data-dir", data]).status == 0)
        let aPath = SpoolPaths.path(for: "A"), bPath = SpoolPaths.path(for: "B")
        let shard = String(aPath.dropLast(aPath.split(separator: "/").last!.count + 1))
        var folder = try plumbing(["mktree", "--missing"], input: "100644 blob \(try plumbing(["rev-parse", "main:" + bPath]))\tx.json\n")
        for _ in 0..<64 { folder = try plumbing(["mktree", "--missing"], input: "040000 tree \(folder)\td\n") }
        _ = try plumbing(["read-tree", "main"])
        _ = try plumbing(["update-index", "--add", "--cacheinfo", "040000,\(folder),\(shard)/d"])
        _ = try plumbing(["update-ref", "refs/heads/main", try plumbing(["commit-tree", try plumbing(["write-tree"]), "-p", "main", "-m", "deep"])])
        for command in [["export", data + "/out.json"], ["diff", "HEAD~1", "HEAD"]] {
            let r = try CLI.run(command + ["--data-dir", data])
            #expect(r.status == 65 && r.stderr.contains("folders nested deeper than any spool's path"), "\(command): \(r.status) \(r.stderr)")
        }
        let verify = try CLI.run(["verify", "--data-dir", data])
        #expect(verify.status == 1 && verify.stderr.contains("folders nested deeper than any spool's path"), "\(verify.status) \(verify.stderr)")

        // B's file at A's path, in place of A's.
        _ = try plumbing(["read-tree", "main~1"])
        _ = try plumbing(["update-index", "--add", "--cacheinfo", "100644," + (try plumbing(["rev-parse", "main:" + bPath])) + "," + aPath])
        _ = try plumbing(["update-ref", "refs/heads/main", try plumbing(["commit-tree", try plumbing(["write-tree"]), "-p", "main", "-m", "foreign"])])
        for command in [["show", "A"], ["export", data + "/out2.json"]] {
            let r = try CLI.run(command + ["--data-dir", data])
            #expect(r.status == 65 && r.stderr.contains(#"the file at the path of spool "A""#) && r.stderr.contains(#"holds spool "B""#), "\(command): \(r.status) \(r.stderr)")
        }

        // A shard folder, then `spools` itself, replaced by a file: its spools are not left out without a word.
        let first = String(aPath.split(separator: "/")[1])
        let stray = try plumbing(["hash-object", "-w", "--stdin"], input: "not a folder")
        let shards = try plumbing(["ls-tree", "main~2:spools"]).split(separator: "\n").map { line in
            line.hasSuffix("\t" + first) ? "100644 blob \(stray)\t\(first)" : String(line)
        }
        let withFile = try plumbing(["mktree", "--missing"], input: shards.joined(separator: "\n") + "\n")
        for (root, place) in [("040000 tree \(withFile)\tspools\n", "spools/\(first): not a folder, where spools live"),
                              ("100644 blob \(stray)\tspools\n", "spools: not a folder, where spools live")] {
            let tree = try plumbing(["mktree", "--missing"], input: root)
            _ = try plumbing(["update-ref", "refs/heads/main", try plumbing(["commit-tree", tree, "-p", "main~2", "-m", "file"])])
            for command in [["export", data + "/out3.json"], ["diff", "HEAD~1", "HEAD"], ["show", "A"]] {
                let r = try CLI.run(command + ["--data-dir", data])
                #expect(r.status == 65 && r.stderr.contains(place), "\(place), \(command): \(r.status) \(r.stderr)")
            }
        }
    }

    /// Names git's own checks refuse, written by hand into the folder of a spool: a name holding `/` (read as a
    /// path, `q/<A>.json` looks like a spool's file where there is none), the same name twice, names out of git's
    /// order. `verify` lists each (it passed them: found by an attacker's probe); the history stays readable.
    @Test func verifyListsNamesGitRefuses() throws {
        #expect(try CLI.run(["import", try write(#"[{"serial":"A","lastUpdated":1},{"serial":"B","lastUpdated":1}]"#), "--data-dir", data]).status == 0)
        let aPath = SpoolPaths.path(for: "A")
        let parts = aPath.split(separator: "/").map(String.init)
        let folder = parts.dropLast().joined(separator: "/"), name = parts.last!
        let blob = try plumbing(["rev-parse", "main:" + aPath])
        func raw(_ entries: [(name: String, id: String)]) throws -> String {
            var bytes: [UInt8] = []
            for e in entries { bytes += Array("100644 \(e.name)".utf8) + [0] + (ObjectID(hex: e.id)?.bytes ?? []) }
            let file = Fixtures.temporaryDirectory() + "/tree"
            try Data(bytes).write(to: URL(fileURLWithPath: file))
            return try plumbing(["hash-object", "-t", "tree", "--literally", "-w", file])
        }
        // The folder's tree replaced by `tree`, and every folder above it.
        func commit(_ tree: String, _ message: String) throws {
            var id = tree
            var path = folder.split(separator: "/").map(String.init)
            while let child = path.popLast() {
                let listing = try plumbing(["ls-tree", "main:" + path.joined(separator: "/")]).split(separator: "\n").map { line in
                    line.hasSuffix("\t" + child) ? "040000 tree \(id)\t\(child)" : String(line)
                }
                id = try plumbing(["mktree", "--missing"], input: listing.joined(separator: "\n") + "\n")
            }
            _ = try plumbing(["update-ref", "refs/heads/main", try plumbing(["commit-tree", id, "-p", "main", "-m", message])])
        }
        try commit(try raw([(name, blob), (name, blob), ("q/" + name, blob)]), "twice and a slash")
        var r = try CLI.run(["verify", "--data-dir", data])
        #expect(r.status == 1, "\(r.status) \(r.stderr)")
        #expect(r.stderr.contains("\(folder)/\(name): named twice in its folder"), "\(r.stderr)")
        #expect(r.stderr.contains("\(folder)/\"q/\(name)\": a name git does not allow in a folder"), "\(r.stderr)")
        #expect(try CLI.run(["show", "A", "--data-dir", data]).status == 0)

        try commit(try raw([("z.json", blob), (name, blob)]), "out of order")
        r = try CLI.run(["verify", "--data-dir", data])
        #expect(r.status == 1 && r.stderr.contains("\(folder)/\(name): out of git's order in its folder"), "\(r.status) \(r.stderr)")
    }
}

@Suite(.serialized) struct HistoryFaultTests {
    let data = Fixtures.temporaryDirectory() + "/data"

    @Test func importsRunningAtOnceNeverLoseACommit() throws {
        let dir = Fixtures.temporaryDirectory()
        #expect(try CLI.run(["import", Fixtures.path("json/spools.jsonl"), "--data-dir", data]).status == 0)
        var processes: [Process] = []
        for n in 0..<6 {
            let path = dir + "/d\(n).json"
            try Data("[{\"serial\":\"D\(n)-A\",\"lastUpdated\":\(n)},{\"serial\":\"D\(n)-B\",\"lastUpdated\":\(n)}]".utf8).write(to: URL(fileURLWithPath: path))
            let p = Process()
            p.executableURL = URL(fileURLWithPath: CLI.binary)
            p.arguments = ["import", path, "--device", "device-\(n)", "--data-dir", data]
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            processes.append(p)
        }
        for p in processes { try p.run() }
        for p in processes { p.waitUntilExit() }
        #expect(processes.allSatisfy { $0.terminationStatus == 0 })
        let show = try CLI.run(["export", dir + "/all.jsonl", "--data-dir", data])
        #expect(show.status == 0)
        let serials = try String(contentsOfFile: dir + "/all.jsonl", encoding: .utf8).split(separator: "\n").count
        #expect(serials == 2 + 12)
        let merges = try CLI.run(["log", "--data-dir", data]).stdout.split(separator: "\n").filter { $0.contains("merge \"device-") }
        #expect(merges.count == 6)
    }

    @Test func killedInTheMiddleTheHistoryStaysValid() throws {
        let dir = Fixtures.temporaryDirectory()
        var inventory = "["
        for i in 0..<3000 { inventory += (i > 0 ? "," : "") + "{\"serial\":\"K-\(i)\",\"weightRemaining\":\(i),\"lastUpdated\":1}" }
        try Data((inventory + "]").utf8).write(to: URL(fileURLWithPath: dir + "/big.json"))
        for round in 0..<6 {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: CLI.binary)
            p.arguments = ["import", dir + "/big.json", "--device", "round-\(round)", "--data-dir", data]
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            // Spread over the whole import (about 2.7 s in a debug build): reading, blobs, trees, the ref.
            usleep(UInt32(100_000 + round * 450_000))
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            guard FileManager.default.fileExists(atPath: data + "/history.git/HEAD") else { continue }
            let verify = try CLI.run(["verify", "--data-dir", data])
            #expect(verify.status == 0, "round \(round): \(verify.stderr)")
            let fsck = Process()
            fsck.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            fsck.arguments = ["git", "--git-dir", data + "/history.git", "fsck", "--connectivity-only", "--no-dangling"]
            fsck.standardOutput = FileHandle.nullDevice
            fsck.standardError = FileHandle.nullDevice
            try fsck.run()
            fsck.waitUntilExit()
            #expect(fsck.terminationStatus == 0, "round \(round)")
        }
        // After the kills (a lock a killed writer left goes stale within seconds), an import completes and main
        // holds every spool.
        Thread.sleep(forTimeInterval: InventoryRepository.staleLockAge + 0.5)
        let final = try CLI.run(["import", dir + "/big.json", "--device", "final", "--data-dir", data])
        #expect(final.status == 0, "\(final.stderr)")
        #expect(try CLI.run(["verify", "--data-dir", data]).stdout == "3000 spools checked, 0 problems\n")
    }
}

@Suite(.serialized) struct HistoryServiceCLITests {
    let data = Fixtures.temporaryDirectory() + "/data"

    /// A server's writers in this process and two CLI imports in others, all at once, on one repository.
    @Test func inProcessWritersAndCLIImportsAllLand() async throws {
        let store = try InventoryStore(dataFolder: data)
        let seed = try await store.importSpools([Spool(normalizedFields: ["serial": .string("SEED"), "lastUpdated": .int(1)])], mode: .merge(device: "seed"), source: "seed")
        let dir = Fixtures.temporaryDirectory()
        var processes: [Process] = []
        for n in 0..<2 {
            var rows: [String] = []
            for k in 0..<200 { rows.append("{\"serial\":\"CLI\(n)-\(k)\",\"lastUpdated\":\(k)}") }
            try Data(("[" + rows.joined(separator: ",") + "]").utf8).write(to: URL(fileURLWithPath: dir + "/cli\(n).json"))
            let p = Process()
            p.executableURL = URL(fileURLWithPath: CLI.binary)
            p.arguments = ["import", dir + "/cli\(n).json", "--device", "cli \(n)", "--data-dir", data]
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            processes.append(p)
        }
        for p in processes { try p.run() }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for w in 0..<8 {
                group.addTask {
                    for k in 0..<10 {
                        let s = Spool(normalizedFields: ["serial": .string("W\(w)-\(k)"), "lastUpdated": .int(Int64(k))])
                        _ = try await store.apply(device: "writer \(w)", base: seed.main, changes: [s])
                    }
                }
            }
            try await group.waitForAll()
        }
        for p in processes { p.waitUntilExit() }
        #expect(processes.allSatisfy { $0.terminationStatus == 0 })
        let serials = try await store.spools(at: try await store.head()).map(\.serial)
        let expected = 1 + 2 * 200 + 8 * 10
        #expect(serials.count == expected)
        #expect(try CLI.run(["verify", "--data-dir", data]).status == 0)
    }

    @Test func importSkipInvalidListsTheRejectedAndExits2() throws {
        let r = try CLI.run(["import", Fixtures.path("bad/number-in-text.json"), "--skip-invalid", "--data-dir", data])
        #expect(r.status == 2, "\(r.stderr)")
        #expect(r.stdout.contains("rejected"), "\(r.stdout)")
        #expect(r.stdout.contains("committed"))
        let strict = try CLI.run(["import", Fixtures.path("bad/number-in-text.json"), "--data-dir", data])
        #expect(strict.status == 1)
    }

    @Test func readOnlyCommandsNeverCreateAHistory() throws {
        for args in [["log"], ["show", "X"], ["diff"], ["verify"], ["conflicts"], ["export", data + "/../out.jsonl"], ["gc"], ["merge", "phone"]] {
            let r = try CLI.run(args + ["--data-dir", data])
            #expect(r.status == 3 && r.stderr.contains("holds no history yet; 'import' a file to start one"), "\(args): \(r.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: data))
    }

    @Test func hostileDeviceNamesAndRevisions() throws {
        for (n, device) in ["my phone", "main", "..", "a/b", String(repeating: "🧵", count: 128)].enumerated() {
            let input = try write("[{\"serial\":\"S\",\"weightRemaining\":\(n),\"lastUpdated\":\(n + 1)}]")
            let r = try CLI.run(["import", input, "--device", device, "--data-dir", data])
            #expect(r.status == 0, "\(device): \(r.stderr)")
        }
        #expect(try CLI.run(["import", try write("[]"), "--device", "", "--data-dir", data]).status == 64)
        let tree = try CLI.run(["show", "S", "--at", "main^{tree}", "--data-dir", data])
        #expect(tree.status == 3 && tree.stderr.contains("names no commit (it is a tree)"), "\(tree.stderr)")
        #expect(try CLI.run(["merge", "nope", "--data-dir", data]).status == 3)
        #expect(try CLI.run(["merge", "my phone", "--data-dir", data]).stdout.contains("nothing to merge"))
        #expect(try CLI.run(["log", "--device", "..", "--data-dir", data]).stdout.split(separator: "\n").count == 2)
    }
}

/// Outputs that are not plain files, and conversions killed while writing (issue 10, items 5 and 13).
@Suite(.serialized) struct OutputTargetTests {
    let dir = Fixtures.temporaryDirectory()
    let input = Fixtures.path("json/spools.jsonl")

    func fileType(_ path: String) -> mode_t? {
        var st = stat()
        return lstat(path, &st) == 0 ? st.st_mode & S_IFMT : nil
    }

    /// A symbolic link's target is replaced, whole; the link stays a link, pointing where it pointed.
    @Test func aSymlinkKeepsPointingAtItsReplacedTarget() throws {
        try FileManager.default.createDirectory(atPath: dir + "/real", withIntermediateDirectories: true)
        try Data("old".utf8).write(to: URL(fileURLWithPath: dir + "/real/inv.jsonl"))
        try FileManager.default.createSymbolicLink(atPath: dir + "/link.jsonl", withDestinationPath: "real/inv.jsonl")
        // A link to a file that does not exist yet creates that file.
        try FileManager.default.createSymbolicLink(atPath: dir + "/dangling.sqlite", withDestinationPath: dir + "/real/new.sqlite")
        for out in ["/link.jsonl", "/dangling.sqlite"] {
            let r = try CLI.run(["convert", input, dir + out, "--now", "0"])
            #expect(r.status == 0, "\(r.stderr)")
            #expect(fileType(dir + out) == S_IFLNK, "\(out) is still a link")
        }
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: dir + "/link.jsonl") == "real/inv.jsonl")
        #expect(try String(contentsOfFile: dir + "/real/inv.jsonl", encoding: .utf8).hasPrefix(#"{"serial":"#))
        #expect(fileType(dir + "/real/new.sqlite") == S_IFREG)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/real").sorted() == ["inv.jsonl", "new.sqlite"])
    }

    /// A FIFO is written into, as `cat > fifo` would: the reader gets the output, the FIFO stays.
    @Test(arguments: ["jsonl", "sqlite"]) func aFIFOIsWrittenInPlace(_ format: String) throws {
        let fifo = dir + "/pipe-\(format)"
        #expect(mkfifo(fifo, 0o600) == 0)
        let received = LockedBox(Data())
        let reader = Thread {
            if let h = FileHandle(forReadingAtPath: fifo) { received.value = h.readDataToEndOfFile() }
        }
        reader.start()
        let r = try CLI.run(["convert", input, fifo, "--to", format, "--now", "0"])
        #expect(r.status == 0, "\(r.stderr)")
        // A writer that replaced the FIFO never opened it: give up on the reader after a while.
        for _ in 0..<2000 where !reader.isFinished { usleep(10_000) }
        #expect(reader.isFinished, "nothing was written into the FIFO")
        #expect(fileType(fifo) == S_IFIFO)
        if format == "jsonl" {
            #expect(String(decoding: received.value, as: UTF8.self).hasPrefix(#"{"serial":"#))
        } else {
            #expect(received.value.starts(with: Array("SQLite format 3\u{0}".utf8)))
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".tmp") } == [])
    }

    /// A character device is written in place: the null device swallows the output, the full one says so.
    @Test(.enabled(if: getuid() == 0, "mknod needs root"), arguments: ["jsonl", "sqlite"])
    func aDeviceIsWrittenInPlace(_ format: String) throws {
        // Device nodes of our own (1,3 is /dev/null, 1,7 /dev/full), so the system's are never at risk.
        let null = dir + "/null-\(format)", full = dir + "/full-\(format)"
        #expect(mknod(null, S_IFCHR | 0o666, 0x103) == 0)
        #expect(mknod(full, S_IFCHR | 0o666, 0x107) == 0)
        let ok = try CLI.run(["convert", input, null, "--to", format, "--now", "0"])
        #expect(ok.status == 0, "\(ok.stderr)")
        let failed = try CLI.run(["convert", input, full, "--to", format, "--now", "0"])
        #expect(failed.status == 74)
        #expect(failed.stderr.contains("\(full): cannot write: No space left on device"), "\(failed.stderr)")
        #expect(fileType(null) == S_IFCHR && fileType(full) == S_IFCHR)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".tmp") } == [])
    }

    /// `/dev/stdout` (here a link of our own to what it links to) writes into standard output, whatever that is.
    @Test func aLinkToStandardOutputWritesIntoIt() throws {
        try FileManager.default.createSymbolicLink(atPath: dir + "/stdout", withDestinationPath: "/proc/self/fd/1")
        let r = try CLI.run(["convert", input, dir + "/stdout", "--to", "jsonl", "--now", "0"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.hasPrefix(#"{"serial":"#))
        #expect(fileType(dir + "/stdout") == S_IFLNK)
    }

    /// An inventory big enough that a conversion is still writing when it is killed.
    func bigInput() throws -> String {
        let path = dir + "/big.json"
        var text = "["
        for i in 0..<8000 {
            text += (i > 0 ? ",\n" : "") + #"{"serial":"BIG-\#(i)","brand":"Brand \#(i % 97)","weightRemaining":\#(i % 1000),"notes":"\#(String(repeating: "n", count: 200))","lastUpdated":\#(1_700_000_000_000 + i)}"#
        }
        try Data((text + "]").utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// Whether process `pid` has a file open in `folder` (a temporary file it is writing, named or not).
    func isWriting(_ pid: Int32, in folder: String) -> Bool {
        guard let fds = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd") else { return false }
        return fds.contains { (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\($0)"))?.hasPrefix(folder + "/") == true }
    }

    /// `kill -9` while writing leaves nothing behind: no temporary file beside the target, none in $TMPDIR.
    @Test func killedWhileWritingLeavesNoTemporaryFiles() throws {
        let big = try bigInput()
        let tmp = dir + "/tmpdir"
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        let sqlite = dir + "/whole.sqlite"
        #expect(try CLI.run(["convert", big, sqlite, "--now", "0"]).status == 0)
        let out = dir + "/out"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        var killedWriting: [String: Int] = [:]
        for (source, target, fromStdin) in [(big, "k.sqlite", false), (big, "k.zip", false), (sqlite, "k.jsonl", true)] {
            // Three rounds, and more (up to eight) until the writer was caught writing.
            for round in 0..<8 {
                if round >= 3 && (fromStdin || killedWriting[target, default: 0] >= 1) { break }
                let p = Process()
                p.executableURL = URL(fileURLWithPath: CLI.binary)
                p.arguments = ["convert", fromStdin ? "-" : source, out + "/" + target, "--now", "0"]
                p.environment = ProcessInfo.processInfo.environment.merging(["TMPDIR": tmp]) { $1 }
                p.standardInput = fromStdin ? FileHandle(forReadingAtPath: source) : FileHandle.nullDevice
                p.standardOutput = FileHandle.nullDevice
                p.standardError = FileHandle.nullDevice
                try p.run()
                if fromStdin {
                    // Reading standard input (where a copy of it used to go to $TMPDIR) and then writing.
                    usleep(UInt32(100_000 + round * 300_000))
                } else {
                    // Killed once its output is being written: at once, a little later, later still.
                    // (A `for … where` here went on through its 4,000 turns once the writer was seen, each reading
                    // /proc again: a writer that writes for less than that took was gone before it was killed.)
                    var polls = 0
                    while polls < 4000, p.isRunning, !isWriting(p.processIdentifier, in: out) {
                        usleep(2_000)
                        polls += 1
                    }
                    if p.isRunning && isWriting(p.processIdentifier, in: out) { killedWriting[target, default: 0] += 1 }
                    usleep(UInt32(round % 3) * 60_000)
                }
                kill(p.processIdentifier, SIGKILL)
                p.waitUntilExit()
                let left = try FileManager.default.contentsOfDirectory(atPath: out).filter { $0.hasPrefix(".") }
                #expect(left == [], "\(target), round \(round), left \(left)")
                let leftInTMPDIR = try FileManager.default.contentsOfDirectory(atPath: tmp)
                #expect(leftInTMPDIR == [], "\(target), round \(round), left \(leftInTMPDIR) in TMPDIR")
            }
        }
        // At least one writer was killed with its output open (the ZIP writer, every time). The SQLite writer was
        // caught in 6 of 6 runs of this test on 2026-11-30 (4 with the wait above, 2 with the old one, on a loaded
        // machine), and in none of eight rounds run alone in an earlier session: not required, as it depends on timing.
        #expect(killedWriting.values.reduce(0, +) >= 1, "no writer was killed while writing: \(killedWriting)")
    }

    /// Whether this process may mount a file system (root in most containers, CI's included).
    static let canMount: Bool = {
        let point = Fixtures.temporaryDirectory()
        guard (try? Self.run("/bin/mount", ["-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", point])) == 0 else { return false }
        _ = try? Self.run("/bin/umount", [point])
        return true
    }()

    static func run(_ tool: String, _ arguments: [String]) throws -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tool)
        p.arguments = arguments
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        return p.terminationStatus
    }

    /// Issue 10, item 12: the error said "No such file or directory" (errno read after another call).
    @Test(.enabled(if: OutputTargetTests.canMount, "needs the right to mount a read-only tmpfs"), arguments: ["jsonl", "sqlite", "zip", "csv"])
    func anOutputFolderOnAReadOnlyMountSaysSo(_ format: String) throws {
        let ro = dir + "/ro-\(format)"
        try FileManager.default.createDirectory(atPath: ro, withIntermediateDirectories: true)
        #expect(try Self.run("/bin/mount", ["-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", ro]) == 0)
        defer { _ = try? Self.run("/bin/umount", [ro]) }
        let r = try CLI.run(["convert", input, ro + "/out." + format, "--now", "0"])
        #expect(r.status == 74)
        #expect(r.stderr == "filamentdb: \(ro)/out.\(format): cannot create a file in \(ro): Read-only file system\n")
    }

    /// Issue 10, item 12: a data folder that is a file said "failed to make directory …: directory exists".
    @Test func aDataDirThatIsAFileSaysSo() throws {
        let file = dir + "/not-a-folder"
        try Data("x".utf8).write(to: URL(fileURLWithPath: file))
        for command in [["import", input], ["log"], ["demo"]] {
            let r = try CLI.run(command + ["--data-dir", file])
            #expect(r.status == 74, "\(command)")
            #expect(r.stderr == "filamentdb: \(file): is a file, not a folder: the data folder holds history.git\n", "\(command)")
        }
        #expect(try String(contentsOfFile: file, encoding: .utf8) == "x")
    }

    /// Where a file system cannot make nameless files, a killed writer's named temporary file is removed by
    /// the next write into that folder, once its process is gone; a live process's is left alone.
    @Test func theNextWriteRemovesADeadProcessesTemporaryFile() throws {
        let done = Process()
        done.executableURL = URL(fileURLWithPath: "/bin/true")
        try done.run()
        done.waitUntilExit()
        let dead = done.processIdentifier
        let stale = dir + "/.out.jsonl.\(dead).12345.tmp", live = dir + "/.out.jsonl.\(getpid()).678.tmp"
        let other = dir + "/.other.jsonl.\(dead).1.tmp"
        for f in [stale, live, other] { try Data("partial".utf8).write(to: URL(fileURLWithPath: f)) }
        #expect(try CLI.run(["convert", input, dir + "/out.jsonl", "--now", "0"]).status == 0)
        #expect(!FileManager.default.fileExists(atPath: stale))
        #expect(FileManager.default.fileExists(atPath: live) && FileManager.default.fileExists(atPath: other))
    }
}

/// A value shared with a thread that sets it once.
final class LockedBox<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var _value: T
    init(_ value: T) { _value = value }
    var value: T {
        get { lock.lock(); defer { lock.unlock() }; return _value }
        set { lock.lock(); defer { lock.unlock() }; _value = newValue }
    }
}

/// Issue 8, cases 1 and 2: files from several devices, imported without a known base, never lose a newer edit,
/// and every decision is on record.
@Suite(.serialized) struct FilesWithoutABaseTests {
    let data = Fixtures.temporaryDirectory() + "/data"

    func files() throws -> (start: String, phone: String, laptop: String) {
        let dir = Fixtures.temporaryDirectory()
        let start = dir + "/start.json", phone = dir + "/phone.json", laptop = dir + "/laptop.json"
        try Data(#"[{"serial":"S1","weightRemaining":1000,"lastUpdated":1000},{"serial":"S2","brand":"X","lastUpdated":1000}]"#.utf8).write(to: URL(fileURLWithPath: start))
        try Data(#"[{"serial":"S1","weightRemaining":700,"lastUpdated":3000},{"serial":"S2","brand":"X","notes":"phone note","lastUpdated":3000}]"#.utf8).write(to: URL(fileURLWithPath: phone))
        try Data(#"[{"serial":"S1","weightRemaining":650,"lastUpdated":2000},{"serial":"S2","brand":"X","lastUpdated":1000}]"#.utf8).write(to: URL(fileURLWithPath: laptop))
        return (start, phone, laptop)
    }

    func check(_ laptopArguments: [String]) throws {
        let f = try files()
        #expect(try CLI.run(["import", f.start, "--data-dir", data]).status == 0)
        #expect(try CLI.run(["import", f.phone, "--data-dir", data]).status == 0)
        let laptop = try CLI.run(["import", f.laptop] + laptopArguments + ["--data-dir", data])
        #expect(laptop.status == 0, "\(laptop.stderr)")
        let s1 = try #require(try JSONParser.parse(try CLI.run(["show", "S1", "--data-dir", data]).stdout).objectValue)
        #expect(s1["weightRemaining"] == .int(700) && s1["lastUpdated"] == .int(3000), "\(s1)")
        let s2 = try #require(try JSONParser.parse(try CLI.run(["show", "S2", "--data-dir", data]).stdout).objectValue)
        #expect(s2["notes"] == .string("phone note") && s2["lastUpdated"] == .int(3000), "\(s2)")
        let conflicts = try CLI.run(["conflicts", "--data-dir", data]).stdout
        #expect(conflicts.contains(#""S1" weightRemaining: main won (700 on main, 650 on"#), "\(conflicts)")
        #expect(conflicts.contains(#""S2" notes: main won ("phone note" on main, (absent) on"#), "\(conflicts)")
        #expect(try CLI.run(["verify", "--data-dir", data]).status == 0)
    }

    @Test func anOlderFileOfNoDeviceLosesToTheNewerEdits() throws { try check([]) }

    @Test func aDevicesFirstFileHasNoBaseEither() throws { try check(["--device", "laptop"]) }

    /// Case 3: a deletion made with --replace is not undone by an older file that still holds the spool.
    @Test func aReplacesDeletionStandsAgainstAnOlderFile() throws {
        let f = try files()
        #expect(try CLI.run(["import", f.start, "--data-dir", data]).status == 0)
        let dir = Fixtures.temporaryDirectory()
        try Data(#"[{"serial":"S2","brand":"X","lastUpdated":1000}]"#.utf8).write(to: URL(fileURLWithPath: dir + "/only-s2.json"))
        #expect(try CLI.run(["import", dir + "/only-s2.json", "--replace", "--data-dir", data]).stdout.contains("1 removed"))
        #expect(try CLI.run(["import", f.laptop, "--device", "laptop", "--data-dir", data]).status == 0)
        let s1 = try #require(try JSONParser.parse(try CLI.run(["show", "S1", "--data-dir", data]).stdout).objectValue)
        #expect(s1["deleted"] == .bool(true))
        #expect(try CLI.run(["conflicts", "--spool", "S1", "--data-dir", data]).stdout.contains("\"S1\" deleted: main won"))
    }

    /// The device's second file is merged against its first: a field it did not change leaves main's alone.
    @Test func aDevicesNextFileIsMergedAgainstItsLast() throws {
        let f = try files()
        #expect(try CLI.run(["import", f.start, "--device", "laptop", "--data-dir", data]).status == 0)
        #expect(try CLI.run(["import", f.phone, "--data-dir", data]).status == 0)
        // The laptop's second file: it changed only S1's weight, at 2000; S2 is as the laptop had it.
        let dir = Fixtures.temporaryDirectory()
        try Data(#"[{"serial":"S1","weightRemaining":650,"lastUpdated":2000},{"serial":"S2","brand":"X","lastUpdated":1000}]"#.utf8).write(to: URL(fileURLWithPath: dir + "/next.json"))
        #expect(try CLI.run(["import", dir + "/next.json", "--device", "laptop", "--data-dir", data]).status == 0)
        let s2 = try #require(try JSONParser.parse(try CLI.run(["show", "S2", "--data-dir", data]).stdout).objectValue)
        #expect(s2["notes"] == .string("phone note"))
        let s1 = try #require(try JSONParser.parse(try CLI.run(["show", "S1", "--data-dir", data]).stdout).objectValue)
        #expect(s1["weightRemaining"] == .int(700), "both changed the weight: the later, the phone's, wins")
    }
}

/// Issue 8, cases 4 and 5: edits without a time get the import's; records without a time that did not change
/// keep the stored one.
@Suite(.serialized) struct TimesOfFileEditsTests {
    let data = Fixtures.temporaryDirectory() + "/data"

    @Test func anUnchangedExportWithoutDatesMakesNoNewCommit() throws {
        let input = Fixtures.path("octoprint/spoolmanager-export.csv")
        let first = try CLI.run(["import", input, "--device", "octoprint", "--data-dir", data, "--now", "2024-06-01T00:00:00Z"])
        #expect(first.status == 0 && first.stdout.contains("committed"), "\(first.stderr)")
        // The next import stamps the records with another time: that alone is no change.
        let again = try CLI.run(["import", input, "--device", "octoprint", "--data-dir", data, "--now", "2024-07-01T00:00:00Z"])
        #expect(again.status == 0 && again.stdout.contains("nothing changed on devices/octoprint: no commit"), "\(again.stdout)")
        #expect(again.stdout.contains("without a time in the file, otherwise unchanged: kept the stored time"))
        let plain = try CLI.run(["import", input, "--data-dir", data, "--now", "2024-08-01T00:00:00Z"])
        #expect(plain.stdout.contains("nothing changed"), "\(plain.stdout)")
        #expect(try CLI.run(["log", "--data-dir", data]).stdout.split(separator: "\n").count == 2)
    }

    @Test func aSpreadsheetEditWithoutANewTimeGetsTheImportTime() throws {
        let dir = Fixtures.temporaryDirectory()
        try Data(#"[{"serial":"S","weightRemaining":800,"lastUpdated":1000},{"serial":"T","weightRemaining":500,"lastUpdated":1000}]"#.utf8)
            .write(to: URL(fileURLWithPath: dir + "/start.json"))
        #expect(try CLI.run(["import", dir + "/start.json", "--device", "desk", "--data-dir", data]).status == 0)
        #expect(try CLI.run(["export", dir + "/sheet.csv", "--data-dir", data]).status == 0)
        // The user edits a weight in the spreadsheet and leaves lastUpdated as it was.
        let csv = try String(contentsOfFile: dir + "/sheet.csv", encoding: .utf8)
        try csv.replacingOccurrences(of: ",800,", with: ",650,").write(toFile: dir + "/sheet.csv", atomically: false, encoding: .utf8)
        #expect(csv.contains(",800,"))
        let r = try CLI.run(["import", dir + "/sheet.csv", "--device", "desk", "--data-dir", data])
        #expect(r.stdout.contains("1 spool changed without a new lastUpdated (edited outside the app): given the import time"), "\(r.stdout)")
        let s = try #require(try JSONParser.parse(try CLI.run(["show", "S", "--data-dir", data]).stdout).objectValue)
        #expect(s["weightRemaining"] == .int(650) && (s["lastUpdated"]?.numberValue ?? 0) > 1_700_000_000_000)
        let t = try #require(try JSONParser.parse(try CLI.run(["show", "T", "--data-dir", data]).stdout).objectValue)
        #expect(t["lastUpdated"] == .int(1000))
    }
}

/// Issue 8, case 4: a CSV that lacks a column leaves that field alone; an empty cell still empties it; rows
/// deleted from the file are reported, with what deletes them.
@Suite(.serialized) struct PartialCSVTests {
    let data = Fixtures.temporaryDirectory() + "/data"

    @Test func aMissingColumnLeavesTheFieldAndMissingRowsAreNamed() throws {
        let dir = Fixtures.temporaryDirectory()
        try Data(#"[{"serial":"S","brand":"X","color":"Red","notes":"keep","weightRemaining":800,"lastUpdated":1000},{"serial":"T","brand":"Y","color":"Blue","lastUpdated":1000}]"#.utf8)
            .write(to: URL(fileURLWithPath: dir + "/start.json"))
        #expect(try CLI.run(["import", dir + "/start.json", "--data-dir", data]).status == 0)
        // The user kept three columns, changed a weight, emptied a brand, and deleted T's row.
        try "serial,brand,weightRemaining\nS,,650\n".write(toFile: dir + "/few.csv", atomically: false, encoding: .utf8)
        let r = try CLI.run(["import", dir + "/few.csv", "--data-dir", data])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("1 spool in main is not in this file and stays; --replace deletes what the file lacks"), "\(r.stdout)")
        let s = try #require(try JSONParser.parse(try CLI.run(["show", "S", "--data-dir", data]).stdout).objectValue)
        #expect(s["color"] == .string("Red") && s["notes"] == .string("keep"), "columns the file lacks are left alone: \(s)")
        #expect(s["weightRemaining"] == .int(650) && s["brand"] == nil, "an edited cell and an emptied one: \(s)")
        #expect(try CLI.run(["show", "T", "--data-dir", data]).status == 0)
    }
}

/// Issue 8, reading the history: log -p, --stat, --field, --json, --utc, relative dates, blame.
@Suite(.serialized) struct ReadingTheHistoryTests {
    let data = Fixtures.temporaryDirectory() + "/data"

    func setUp() throws {
        #expect(try CLI.run(["import", try write(#"[{"serial":"A","color":"Black","weightRemaining":800,"lastUpdated":100},{"serial":"B","lastUpdated":100}]"#), "--device", "desk", "--data-dir", data]).status == 0)
        #expect(try CLI.run(["import", try write(#"[{"serial":"A","color":"Black","weightRemaining":650,"lastUpdated":200},{"serial":"B","lastUpdated":100}]"#), "--device", "desk", "--data-dir", data]).status == 0)
        #expect(try CLI.run(["import", try write(#"[{"serial":"A","color":"Red","weightRemaining":800,"lastUpdated":100}]"#), "--device", "phone", "--no-merge", "--data-dir", data]).status == 0)
        #expect(try CLI.run(["import", try write(#"[{"serial":"A","color":"Red","weightRemaining":650,"lastUpdated":300}]"#), "--device", "phone", "--data-dir", data]).status == 0)
    }

    @Test func logShowsChangesCountsFieldsAndJSON() throws {
        try setUp()
        let patch = try CLI.run(["log", "-p", "-n", "1", "--data-dir", data]).stdout
        #expect(patch.contains("merge \"phone\" into main") && patch.contains(#"    "A" color: "Black" -> "Red""#), "\(patch)")
        let stat = try CLI.run(["log", "--stat", "-n", "1", "--data-dir", data]).stdout
        #expect(stat.contains("    1 spool: 0 added, 1 changed, 0 deleted, 0 removed"), "\(stat)")
        // Only commits that changed the field against their first parent: the desk's merge brought a weight into
        // main, the phone's a colour, and neither the other.
        let weights = try CLI.run(["log", "--field", "weightRemaining", "--data-dir", data]).stdout.split(separator: "\n")
        let colors = try CLI.run(["log", "--field", "color", "--data-dir", data]).stdout.split(separator: "\n")
        #expect(weights.contains { $0.contains("merge \"desk\"") } && !weights.contains { $0.contains("merge \"phone\"") }, "\(weights)")
        #expect(colors.contains { $0.contains("merge \"phone\"") } && !colors.contains { $0.contains("merge \"desk\"") }, "\(colors)")
        let json = try #require(try JSONParser.parse(try CLI.run(["log", "--json", "-p", "-n", "1", "--data-dir", data]).stdout).arrayValue)
        #expect(json.count == 1 && json[0].objectValue?["device"] == .string("phone") && json[0].objectValue?["changes"]?.arrayValue?.count == 1)
        let utc = try CLI.run(["log", "--utc", "-n", "1", "--data-dir", data]).stdout
        #expect(utc.contains(" +0000  phone  "), "\(utc)")
        // In the local zone, with its offset (New York: -0500 in winter, -0400 in summer).
        let local = try CLI.run(["log", "-n", "1", "--data-dir", data], environment: ["TZ": "America/New_York"]).stdout
        #expect(local.contains(" -0500  phone  ") || local.contains(" -0400  phone  "), "\(local)")
    }

    @Test func relativeDatesAndClearErrors() throws {
        try setUp()
        let all = try CLI.run(["log", "--data-dir", data]).stdout.split(separator: "\n").count
        let recent = try CLI.run(["log", "--since", "1 hour ago", "--data-dir", data]).stdout.split(separator: "\n").count
        #expect(all > 4 && recent == all)
        #expect(try CLI.run(["log", "--until", "yesterday", "--data-dir", data]).stdout.isEmpty)
        #expect(try CLI.run(["show", "A", "--at", "now", "--data-dir", data]).status == 0)
        let bad = try CLI.run(["log", "--since", "last tuesday-ish", "--data-dir", data])
        #expect(bad.status == 64 && bad.stderr.contains("--since last tuesday-ish: expected an ISO 8601 date"), "\(bad.stderr)")
        #expect(try CLI.run(["show", "A", "--at", "3 fortnights ago", "--data-dir", data]).status == 3)
    }

    @Test func blameNamesWhoSetEachField() throws {
        try setUp()
        let blame = try CLI.run(["blame", "A", "--data-dir", data])
        #expect(blame.status == 0, "\(blame.stderr)")
        let lines = blame.stdout.split(separator: "\n")
        #expect(lines.contains { $0.contains("  phone  color: \"Red\"") }, "\(blame.stdout)")
        #expect(lines.contains { $0.contains("  desk  weightRemaining: 650") }, "\(blame.stdout)")
        #expect(lines.contains { $0.contains("  desk  serial: \"A\"") })
        let json = try #require(try JSONParser.parse(try CLI.run(["blame", "A", "--json", "--data-dir", data]).stdout).arrayValue)
        #expect(json.contains { $0.objectValue?["field"] == .string("color") && $0.objectValue?["device"] == .string("phone") })
        #expect(try CLI.run(["blame", "NOPE", "--data-dir", data]).status == 3)
    }
}

/// Issue 8: --json on every command that reports, and conflicts decided again are marked.
@Suite(.serialized) struct JSONReportsTests {
    let data = Fixtures.temporaryDirectory() + "/data"

    @Test func importConflictsAndVerifySpeakJSON() throws {
        #expect(try CLI.run(["import", try write(#"[{"serial":"S","color":"Black","lastUpdated":100}]"#), "--data-dir", data]).status == 0)
        let r = try CLI.run(["import", try write(#"[{"serial":"S","color":"Blue","lastUpdated":200}]"#), "--device", "desk", "--json", "--data-dir", data])
        let doc = try #require(try JSONParser.parse(r.stdout).objectValue, "\(r.stdout)")
        #expect(doc["changed"] == .int(1) && doc["merge"]?.objectValue?["conflicts"]?.arrayValue?.first?.objectValue?["winner"] == .string("desk"))
        #expect(doc["report"]?.objectValue?["read"] == .int(1))
        let list = try #require(try JSONParser.parse(try CLI.run(["conflicts", "--json", "--data-dir", data]).stdout).arrayValue)
        let conflict = try #require(list.first?.objectValue)
        #expect(conflict["main"] == .string("Black") && conflict["device"] == .string("Blue") && conflict["winner"] == .string("desk") && conflict["redecidedBy"] == nil)
        let id = try #require(conflict["id"]?.stringValue)
        #expect(try CLI.run(["conflicts", "resolve", id, "--take", "other", "--data-dir", data]).status == 0)
        let again = try CLI.run(["conflicts", "--data-dir", data]).stdout
        #expect(again.contains("[decided again in ") && again.contains(" by review]"), "\(again)")
        let relisted = try #require(try JSONParser.parse(try CLI.run(["conflicts", "--json", "--data-dir", data]).stdout).arrayValue)
        #expect(relisted.first?.objectValue?["redecidedBy"] != nil)
        // Deciding it again to the value it has changes nothing.
        #expect(try CLI.run(["conflicts", "resolve", id, "--take", "\"Black\"", "--data-dir", data]).stdout.contains("already holds that value"))
        let verify = try #require(try JSONParser.parse(try CLI.run(["verify", "--json", "--data-dir", data]).stdout).objectValue)
        #expect(verify["spools"] == .int(1) && verify["problems"] == .array([]))
    }
}

/// Issue 8: the README's walk-throughs, run as a user would, each in a new folder.
@Suite(.serialized) struct ReadmeWalkthroughTests {
    /// The blocks after `<!-- walkthrough: NAME -->`, with the text each must print (`# expect: TEXT`).
    static func walkthroughs() throws -> [(name: String, script: String, expect: String)] {
        let readme = try String(contentsOfFile: Fixtures.repositoryRoot.appendingPathComponent("README.md").path, encoding: .utf8)
        var out: [(String, String, String)] = []
        for part in readme.components(separatedBy: "<!-- walkthrough: ").dropFirst() {
            let name = String(part.prefix { $0 != " " && $0 != "-" && $0 != "\n" }.isEmpty ? "" : part[..<part.range(of: " -->")!.lowerBound])
            guard let start = part.range(of: "```sh\n"), let end = part.range(of: "\n```", range: start.upperBound..<part.endIndex) else { continue }
            let script = String(part[start.upperBound..<end.lowerBound])
            let expect = script.split(separator: "\n").last { $0.hasPrefix("# expect: ") }.map { String($0.dropFirst("# expect: ".count)) } ?? ""
            out.append((name, script, expect))
        }
        return out
    }

    @Test func everyWalkthroughRuns() throws {
        let all = try Self.walkthroughs()
        #expect(all.map(\.name) == ["migrate", "back up and restore", "two devices"])
        for w in all {
            let dir = Fixtures.temporaryDirectory()
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/bin/sh")
            p.arguments = ["-ec", w.script]
            p.currentDirectoryURL = URL(fileURLWithPath: dir)
            var env = ProcessInfo.processInfo.environment
            env["PATH"] = URL(fileURLWithPath: CLI.binary).deletingLastPathComponent().path + ":" + (env["PATH"] ?? "/usr/bin:/bin")
            env["SYNC_DATA_DIR"] = nil
            p.environment = env
            let out = Pipe(), err = Pipe()
            p.standardOutput = out
            p.standardError = err
            try p.run()
            let stdout = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            #expect(p.terminationStatus == 0, "\(w.name): \(stderr)")
            #expect(!w.expect.isEmpty && stdout.contains(w.expect), "\(w.name): expected \(w.expect) in\n\(stdout)\n\(stderr)")
        }
    }
}

/// Issue 8: progress of long history operations, as a percent of spools, on standard error.
@Suite(.serialized) struct HistoryProgressTests {
    let data = Fixtures.temporaryDirectory() + "/data"

    @Test func importExportAndRestoreSayHowFarTheyAre() throws {
        var rows: [String] = []
        for i in 0..<5000 { rows.append("{\"serial\":\"P-\(i)\",\"weightRemaining\":\(i % 1000),\"lastUpdated\":\(1000 + i)}") }
        let input = try write("[" + rows.joined(separator: ",") + "]")
        let env = ["FILAMENTDB_PROGRESS": "1"]
        let r = try CLI.run(["import", input, "--data-dir", data], environment: env)
        #expect(r.status == 0 && r.stderr.contains("importing: 0% (0 of 5000 spools)") && r.stderr.contains("importing: 100% (5000 of 5000 spools)"), "\(r.stderr)")
        let dir = Fixtures.temporaryDirectory()
        let e = try CLI.run(["export", dir + "/all.jsonl", "--data-dir", data], environment: env)
        #expect(e.stderr.contains("reading the history: 100% (5000 of 5000 spools)"), "\(e.stderr)")
        #expect(try CLI.run(["import", try write("[]"), "--replace", "--data-dir", data]).status == 0)
        let back = try CLI.run(["restore", "main~1", "--data-dir", data], environment: env)
        #expect(back.stderr.contains("restoring: 100% (5000 of 5000 spools)") && back.stdout.contains("restored main"), "\(back.stderr)")
        // Without a terminal and without the variable, nothing is said.
        #expect(!(try CLI.run(["export", dir + "/again.jsonl", "--data-dir", data]).stderr.contains("%")))
    }
}
