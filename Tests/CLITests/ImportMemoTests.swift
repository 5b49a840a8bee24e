import Foundation
import SpoolModel
import SpoolTestSupport
import Testing

/// A device's next full export is read only where it differs from its last one (the import memo): every
/// outcome must be the one reading the whole file gives. Each file goes into two histories, one keeping its
/// memo and one whose memo is removed before every import, and the two must agree on every count and tree.
@Suite(.serialized) struct ImportMemoTests {
    let dir = Fixtures.temporaryDirectory()

    /// A full export as JSON Lines: record `i` at version `versions[i]`, shaped so that every kind of record
    /// is there: migration rules (a null field, `deleted: 1`, a time from `createdAt`), a tombstone, an unknown
    /// field with a typeson value, a record stamped with the import's time (never memoised), and one whose
    /// content changes without a new `lastUpdated` (restamped: its stored file is not the file's record).
    func export(_ count: Int, versions: [Int: Int] = [:], edits: [Int: String] = [:], extra: [String] = []) -> String {
        var lines: [String] = []
        for i in 0..<count {
            let v = versions[i] ?? 0
            var fields = [#""serial":"S-\#(i)""#, #""brand":"Brand \#(i % 7)""#, #""weightRemaining":\#(1000 - v * 10 - i % 100)"#]
            switch i % 10 {
            case 1: fields += [#""lastUpdated":\#(1_700_000_000_000 + v)"#, #""color":null"#]
            case 2: fields += [#""lastUpdated":\#(1_700_000_000_000 + v)"#, #""deleted":1"#]
            case 3: fields += [#""createdAt":\#(1_600_000_000_000 + v)"#]
            case 4: fields += [#""lastUpdated":\#(1_700_000_000_000 + v)"#, #""bought":\#(1_704_067_200_000 + i)"#, #""$types":{"bought":"date"}"#]
            // Far ahead, like AHEAD below: an edit without a new lastUpdated is restamped to that time plus one in
            // both histories alike (a restamp takes the import's wall-clock second, which two imports may not share).
            case 8: fields += [#""lastUpdated":\#(4_000_000_000_000 + v)"#]
            default: fields += [#""lastUpdated":\#(1_700_000_000_000 + v)"#]
            }
            if let edit = edits[i] { fields.append(edit) }
            lines.append("{" + fields.joined(separator: ",") + "}")
        }
        // Never memoised: stamped with the import's time (fixed by --now, so both histories agree).
        lines.append(#"{"serial":"NO-TIME","brand":"X"}"#)
        // Its lastUpdated lies far ahead, so a restamp gives it that time plus one, in both histories alike.
        lines.append(#"{"serial":"AHEAD","brand":"\#(versions[-1].map { "v\($0)" } ?? "v0")","lastUpdated":4000000000000}"#)
        return (lines + extra).joined(separator: "\n") + "\n"
    }

    struct Outcome {
        var counts: [String]
        var knownNote: Bool
    }

    func importFile(_ text: String, into data: String, forgetMemo: Bool) throws -> Outcome {
        let path = dir + "/export-\(UUID().uuidString).jsonl"
        try text.write(toFile: path, atomically: false, encoding: .utf8)
        if forgetMemo { try? FileManager.default.removeItem(atPath: data + "/history.git/filamentdb-import-memo") }
        let r = try CLI.run(["import", path, "--device", "laptop", "--json", "--now", "2024-06-01T00:00:00Z", "--data-dir", data])
        #expect(r.status == 0, "\(r.stderr)")
        let d = try #require(try JSONParser.parse(r.stdout).objectValue)
        let report = d["report"]?.objectValue ?? [:]
        let merge = d["merge"]?.objectValue ?? [:]
        let counts = ["added", "changed", "deleted", "removed", "restamped", "keptTimes"].map { "\($0)=\(d[$0]?.jsonText ?? "-")" }
            + ["read", "live", "tombstones", "migrated", "renamed", "rejected", "warnings"].map { "report.\($0)=\(report[$0]?.jsonText ?? "-")" }
            + ["merge.changed=\(merge["changed"]?.jsonText ?? "-")", "merge.conflicts=\(merge["conflicts"]?.arrayValue?.count ?? 0)"]
        let notes = report["notes"]?.arrayValue?.compactMap(\.stringValue) ?? []
        return Outcome(counts: counts, knownNote: notes.contains { $0.contains("not read again") })
    }

    /// The spools of main and the device's whole tree. (main's `conflicts/` records hold the time they were
    /// decided, a wall-clock second: two histories written a second apart differ there; their number is compared
    /// with the counts.)
    func trees(_ data: String) throws -> [String] {
        try ["main:spools", "devices/laptop^{tree}"].map { try git(["rev-parse", $0], data + "/history.git").output }
    }

    func git(_ args: [String], _ repo: String) throws -> (status: Int32, output: String) {
        try Command.run("/usr/bin/env", ["git", "--git-dir", repo] + args)
    }

    @Test func aDevicesNextExportGivesWhatReadingItWholeGives() throws {
        let kept = dir + "/kept", whole = dir + "/whole"
        let files = [
            export(300),
            // Five records changed, one line gone, two new records, one restamped (same lastUpdated, new content).
            export(300, versions: [5: 1, 17: 1, 42: 1, 99: 1, 250: 2, -1: 1], extra: [#"{"serial":"NEW-1","lastUpdated":1700000000500}"#, #"{"serial":"NEW-2","lastUpdated":1700000000600,"deleted":true}"#])
                .replacingOccurrences(of: #"{"serial":"S-7","#, with: #"{"serial":"S-7b","#),
            // The same again: nothing changes, every record known but the import-time one and the restamped one.
            export(300, versions: [5: 1, 17: 1, 42: 1, 99: 1, 250: 2, -1: 1], extra: [#"{"serial":"NEW-1","lastUpdated":1700000000500}"#, #"{"serial":"NEW-2","lastUpdated":1700000000600,"deleted":true}"#])
                .replacingOccurrences(of: #"{"serial":"S-7","#, with: #"{"serial":"S-7b","#),
            // A record that changed without a new lastUpdated, and tombstones coming and going.
            export(300, versions: [5: 1, 17: 1, 42: 1, 99: 1, 250: 2, 12: 3, -1: 1], edits: [8: #""notes":"edited in a spreadsheet""#]),
        ]
        var used: [Bool] = []
        for (n, file) in files.enumerated() {
            let a = try importFile(file, into: kept, forgetMemo: false)
            let b = try importFile(file, into: whole, forgetMemo: true)
            #expect(a.counts == b.counts, "file \(n)")
            #expect(try trees(kept) == trees(whole), "file \(n)")
            #expect(!b.knownNote)
            used.append(a.knownNote)
        }
        // The first file has no memo to use; each later one was read only where it changed.
        #expect(used == [false, true, true, true])
        #expect(try git(["fsck", "--strict"], kept + "/history.git").status == 0)
    }

    @Test func aMemoIsUsedOnlyWhereItStillHolds() throws {
        let data = dir + "/data"
        _ = try importFile(export(100), into: data, forgetMemo: false)
        // The same record twice: the serial is shared, which only reading the whole file resolves (a rename).
        let doubled = export(100) + #"{"serial":"S-3","brand":"Brand 3","weightRemaining":997,"createdAt":1600000000000}"# + "\n"
        let twice = try importFile(doubled, into: data, forgetMemo: false)
        #expect(!twice.knownNote)
        #expect(twice.counts.contains { $0.hasPrefix("report.renamed=") && $0 != "report.renamed=[]" })
        // Another writer moved the device's branch: the memo describes a head that is gone.
        _ = try importFile(export(100), into: data, forgetMemo: false)
        let other = try CLI.run(["import", try write(#"[{"serial":"S-1","brand":"Elsewhere","lastUpdated":1800000000000}]"#), "--device", "laptop",
                                 "--no-merge", "--data-dir", data])
        #expect(other.status == 0, "\(other.stderr)")
        let moved = try importFile(export(100), into: data, forgetMemo: false)
        #expect(!moved.knownNote)
        // A torn memo is ignored, and the next import writes a whole one again.
        let memoFolder = data + "/history.git/filamentdb-import-memo"
        let name = try #require(try FileManager.default.contentsOfDirectory(atPath: memoFolder).first { !$0.hasPrefix(".") })
        let bytes = try Data(contentsOf: URL(fileURLWithPath: memoFolder + "/" + name))
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: memoFolder + "/" + name))
        #expect(try !importFile(export(100), into: data, forgetMemo: false).knownNote)
        #expect(try importFile(export(100, versions: [4: 9]), into: data, forgetMemo: false).knownNote)
        // Another format of the same records is read whole.
        let array = "[" + export(100, versions: [4: 9]).split(separator: "\n").joined(separator: ",\n") + "]"
        let path = dir + "/as-array.json"
        try array.write(toFile: path, atomically: false, encoding: .utf8)
        let r = try CLI.run(["import", path, "--device", "laptop", "--json", "--data-dir", data])
        #expect(r.status == 0 && !r.stdout.contains("not read again"), "\(r.stderr)")
    }

    /// A file whose records are not stretches of it (CSV) leaves no memo, and removes the one a JSON Lines file
    /// left: the next import would otherwise read the whole file once more only to find the memo of no use.
    @Test func aFileWithNothingToRememberLeavesNoMemo() throws {
        let data = dir + "/csv-data"
        _ = try importFile(export(20), into: data, forgetMemo: false)
        let memoFolder = data + "/history.git/filamentdb-import-memo"
        let memos = { (try? FileManager.default.contentsOfDirectory(atPath: memoFolder).filter { !$0.hasPrefix(".") }) ?? [] }
        #expect(memos().count == 1)
        let csv = dir + "/inventory.csv"
        try "serial,brand,lastUpdated\nS-1,Elsewhere,1800000000000\nS-2,Brand 2,1800000000000\n".write(toFile: csv, atomically: false, encoding: .utf8)
        for _ in 0..<2 {
            let r = try CLI.run(["import", csv, "--device", "laptop", "--data-dir", data])
            #expect(r.status == 0, "\(r.stderr)")
            #expect(memos().isEmpty)
        }
    }

    /// A memo that cannot be written (here its folder's name is taken by a file; in life, a full disk) is said,
    /// in the output and in `--json`, not left out without a word: the import itself is in the history.
    @Test func aMemoThatCannotBeWrittenIsSaid() throws {
        let data = dir + "/unwritable-data"
        _ = try importFile(export(5), into: data, forgetMemo: false)
        let memoFolder = data + "/history.git/filamentdb-import-memo"
        try FileManager.default.removeItem(atPath: memoFolder)
        try "not a folder".write(toFile: memoFolder, atomically: false, encoding: .utf8)
        let path = dir + "/next.jsonl"
        try export(6, versions: [0: 1]).write(toFile: path, atomically: false, encoding: .utf8)
        let r = try CLI.run(["import", path, "--device", "laptop", "--data-dir", data])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("committed"), "\(r.stdout)")
        #expect(r.stderr.contains("filamentdb: warning: the import is in the history, but the memo of this device's file could not be written (Not a directory): its next file is read whole"), "\(r.stderr)")
        let json = try CLI.run(["import", path, "--device", "laptop", "--json", "--data-dir", data])
        #expect(json.status == 0, "\(json.stderr)")
        let d = try #require(try JSONParser.parse(json.stdout).objectValue)
        #expect(d["memoNotKept"] == .string("Not a directory"), "\(json.stdout)")
        // With room again, the memo is written and nothing is said.
        try FileManager.default.removeItem(atPath: memoFolder)
        let again = try CLI.run(["import", path, "--device", "laptop", "--data-dir", data])
        #expect(again.status == 0 && !again.stderr.contains("warning"), "\(again.stderr)")
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: memoFolder)) ?? []).count == 1)
    }

    func write(_ text: String) throws -> String {
        let path = dir + "/file-\(UUID().uuidString).json"
        try text.write(toFile: path, atomically: false, encoding: .utf8)
        return path
    }
}
