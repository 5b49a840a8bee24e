// filamentdb's history next to the stock git command doing the same work on the same data, in one run, at
// several inventory sizes. The paths a user runs, as whole processes (the built `filamentdb` binary):
//   - the first import of an inventory, against `git fast-import` of the same files (time, bytes on disk);
//   - re-importing an unchanged export, against converting it;
//   - importing a full export in which 10 spools changed, against `git add -A && git commit` on the same files;
//   - importing a file of 10 changed spools from a device.
// And the library calls a server makes, in process: a 10-spool apply against the whole inventory (its own base,
// path lookups only), a diff of two commits 10 spools apart, one spool's history across many commits, and a
// merge of two devices that each changed 1,000 spools, 100 of them both.
// Every figure is a median of --runs runs; ratios are stock git's time over ours (above 1: we are faster).

import Foundation
import SpoolHistory
import SpoolModel

var sizes = [1_000, 10_000, 100_000]
var commitCount = 2_000
var runs = 3
var cli = ""
/// Only these measures (their numbers below), when given: the rest are skipped.
var only: Set<Int>? = nil
var args = CommandLine.arguments.dropFirst()
while let a = args.popFirst() {
    switch a {
    case "--sizes": sizes = (args.popFirst() ?? "").split(separator: ",").compactMap { Int($0) }
    case "--commits": commitCount = Int(args.popFirst() ?? "") ?? commitCount
    case "--runs": runs = max(1, Int(args.popFirst() ?? "") ?? runs)
    case "--filamentdb": cli = args.popFirst() ?? ""
    case "--only": only = Set((args.popFirst() ?? "").split(separator: ",").compactMap { Int($0) })
    default:
        FileHandle.standardError.write(Data("usage: HistoryBenchmark --filamentdb PATH [--sizes 1000,10000,100000] [--commits 2000] [--runs 3] [--only 1,3] (or use Benchmarks/run-history)\n".utf8))
        exit(64)
    }
}
if cli.isEmpty {
    FileHandle.standardError.write(Data("--filamentdb PATH is required (Benchmarks/run-history passes the release build)\n".utf8))
    exit(64)
}

/// Measure 1 (the first import) always runs: the others start from its history.
@MainActor func want(_ measure: Int) -> Bool { only?.contains(measure) ?? true }

let work = FileManager.default.temporaryDirectory.appendingPathComponent("filamentdb-history-benchmark").path
let start: Int64 = 1_700_000_000

func spool(_ i: Int, version: Int) -> Spool {
    Spool(normalizedFields: [
        "serial": .string("SPOOL-\(i)"), "id": .int(Int64(i)), "brand": .string(["Prusament", "eSun", "Polymaker"][i % 3]),
        "type": .string("PLA"), "color": .string("Color \(i % 50)"), "weightTotal": .int(1000),
        "weightRemaining": .int(Int64(1000 - (i + version * 7) % 1000)), "diameter": .double(1.75),
        "lastUpdated": .int(1_700_000_000_000 + Int64(version) * 1000), "notes": .string("Spool \(i), version \(version)"),
    ])
}

func seconds(_ body: () throws -> Void) rethrows -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    try body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}

func seconds(_ body: () async throws -> Void) async rethrows -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    try await body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}

func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }
func percentile(_ xs: [Double], _ p: Double) -> Double { xs.sorted()[min(xs.count - 1, Int(Double(xs.count) * p))] }

/// Runs a command to its end; its time, and whether it exited 0.
@discardableResult
func run(_ args: [String], in dir: String? = nil, stdin: String? = nil) -> Double {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = args
    if let dir { p.currentDirectoryURL = URL(fileURLWithPath: dir) }
    p.standardOutput = FileHandle.nullDevice
    let errors = Pipe()
    p.standardError = errors
    if let stdin { p.standardInput = FileHandle(forReadingAtPath: stdin) }
    p.environment = ProcessInfo.processInfo.environment.merging([
        "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "b@b", "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "b@b",
    ]) { $1 }
    let t = seconds {
        try? p.run()
        p.waitUntilExit()
    }
    let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    if p.terminationStatus != 0 {
        FileHandle.standardError.write(Data("command failed (\(p.terminationStatus)): \(args.joined(separator: " "))\n\(message)".utf8))
        exit(1)
    }
    return t
}

func bytes(_ dir: String) -> Int {
    var total = 0
    if let e = FileManager.default.enumerator(atPath: dir) {
        while let f = e.nextObject() as? String {
            total += (try? FileManager.default.attributesOfItem(atPath: dir + "/" + f)[.size] as? Int) ?? 0
        }
    }
    return total
}

func files(_ dir: String) -> Int {
    var n = 0
    if let e = FileManager.default.enumerator(atPath: dir) {
        while let f = e.nextObject() as? String {
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: dir + "/" + f, isDirectory: &isDir), !isDir.boolValue { n += 1 }
        }
    }
    return n
}

func writeJSONL(_ spools: [Spool], to path: String) {
    var out: [UInt8] = []
    for s in spools { out += s.compactJSON + [0x0A] }
    _ = FileManager.default.createFile(atPath: path, contents: Data(out))
}

/// A `git fast-import` stream of the spools at their history paths, one commit.
func writeFastImport(_ spools: [Spool], to path: String) {
    var out: [UInt8] = []
    for (k, s) in spools.enumerated() {
        out += Array("blob\nmark :\(k + 1)\ndata \(s.canonicalJSON.count)\n".utf8) + s.canonicalJSON + [0x0A]
    }
    out += Array("commit refs/heads/main\ncommitter bench <b@b> 1700000000 +0000\ndata 7\nimport\n".utf8)
    for (k, s) in spools.enumerated() { out += Array("M 100644 :\(k + 1) \(SpoolPaths.path(for: s.serial))\n".utf8) }
    out += Array("done\n".utf8)
    _ = FileManager.default.createFile(atPath: path, contents: Data(out))
}

func ms(_ s: Double) -> String { s >= 10 ? String(format: "%.2f s", s) : String(format: "%.1f ms", s * 1000) }
func kb(_ b: Int) -> String { b >= 10 << 20 ? String(format: "%.1f MB", Double(b) / 1e6) : "\(b / 1024) KB" }
func ratio(_ theirs: Double, _ ours: Double) -> String { String(format: "%.2fx", theirs / ours) }
func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
func say(_ text: String) { FileHandle.standardOutput.write(Data((text + "\n").utf8)) }
func row(_ cells: [String]) { say(zip(cells, [9, 52, 18, 26, 9]).map { pad($0, $1) }.joined()) }
func note(_ text: String) { FileHandle.standardError.write(Data((text + "\n").utf8)) }

/// An fsync of a small file on this disk, the floor under any durable commit.
func fsyncFloor() -> Double {
    let path = work + "/fsync-probe"
    let fd = open(path, O_CREAT | O_WRONLY, 0o644)
    defer { close(fd); unlink(path) }
    var times: [Double] = []
    for _ in 0..<20 {
        _ = write(fd, "x", 1)
        times.append(seconds { fsync(fd) })
    }
    return median(times)
}

try? FileManager.default.removeItem(atPath: work)
try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
say("filamentdb: \(cli)")
say("one fsync on this disk: \(ms(fsyncFloor())) (median of 20)")
row(["spools", "measure", "filamentdb", "stock git / baseline", "ratio"])
for n in sizes {
    let dir = "\(work)/\(n)"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    let inventory = (0..<n).map { spool($0, version: 0) }
    writeJSONL(inventory, to: dir + "/export.jsonl")
    writeFastImport(inventory, to: dir + "/fast-import.stream")

    // 1. The first import, as a user runs it, against git fast-import of the same files.
    note("[\(n)] first import…")
    var ours: [Double] = [], theirs: [Double] = []
    var ourBytes = 0, ourFiles = 0, theirBytes = 0
    for r in 0..<runs {
        let data = "\(dir)/first-\(r)"
        ours.append(run([cli, "import", dir + "/export.jsonl", "--device", "laptop", "--data-dir", data]))
        ourBytes = bytes(data + "/history.git/objects")
        ourFiles = files(data + "/history.git/objects")
        let bare = "\(dir)/fast-\(r).git"
        run(["git", "init", "-q", "--bare", "-b", "main", bare])
        theirs.append(run(["git", "--git-dir", bare, "fast-import", "--quiet"], stdin: dir + "/fast-import.stream"))
        theirBytes = bytes(bare + "/objects")
        if r > 0 {
            try? FileManager.default.removeItem(atPath: data)
            try? FileManager.default.removeItem(atPath: bare)
        }
    }
    row(["\(n)", "first import (CLI) vs git fast-import", ms(median(ours)), ms(median(theirs)), ratio(median(theirs), median(ours))])
    row(["\(n)", "  bytes on disk (files)", "\(kb(ourBytes)) (\(ourFiles))", kb(theirBytes), String(format: "%.2fx", Double(theirBytes) / Double(ourBytes))])

    let data = "\(dir)/first-0"
    if want(2) {
        // 2. Re-importing the unchanged export, against converting it.
        ours = []; theirs = []
        for _ in 0..<runs {
            ours.append(run([cli, "import", dir + "/export.jsonl", "--device", "laptop", "--data-dir", data]))
            theirs.append(run([cli, "convert", dir + "/export.jsonl", dir + "/converted.jsonl"]))
        }
        row(["\(n)", "re-import an unchanged export vs convert it", ms(median(ours)), ms(median(theirs)), ratio(median(theirs), median(ours))])

    }
    if want(3) {
        // 3. A full export with 10 changed spools, against git add -A && git commit on the same files.
        note("[\(n)] full exports with 10 changes…")
        let wt = dir + "/worktree"
        run(["git", "clone", "-q", dir + "/fast-0.git", wt])
        var current = inventory
        ours = []; theirs = []
        for round in 1...max(3, runs) {
            for k in 0..<10 {
                let i = (k * 7919 + round * 104_729) % n
                current[i] = spool(i, version: round)
                try Data(current[i].canonicalJSON).write(to: URL(fileURLWithPath: wt + "/" + SpoolPaths.path(for: current[i].serial)))
            }
            writeJSONL(current, to: dir + "/changed.jsonl")
            ours.append(run([cli, "import", dir + "/changed.jsonl", "--device", "laptop", "--data-dir", data]))
            theirs.append(run(["git", "add", "-A"], in: wt) + run(["git", "commit", "-q", "-m", "10 spools"], in: wt))
        }
        row(["\(n)", "import a full export, 10 changed vs add -A && commit", ms(median(ours)), ms(median(theirs)), ratio(median(theirs), median(ours))])

    }
    if want(4) {
        // 4. A device's file of 10 changed spools, as a user runs it.
        ours = []
        for round in 10..<(10 + max(5, runs)) {
            let ten = (0..<10).map { k in spool((k * 104_729 + round * 7919) % n, version: round) }
            writeJSONL(ten, to: dir + "/ten.jsonl")
            ours.append(run([cli, "import", dir + "/ten.jsonl", "--device", "phone", "--data-dir", data]))
        }
        row(["\(n)", "import a file of 10 changed spools (CLI)", ms(median(ours)), "", ""])

    }
    if [5, 6, 7, 8].contains(where: want) {
        // 5. The server's path, in process: apply 10 changed spools against the device's base.
        let store = try InventoryStore(dataFolder: data, clock: HistoryClock { Int64(Date().timeIntervalSince1970) })
        var applies: [Double] = []
        var base = try await store.head()
        for round in 100..<130 {
            let ten = (0..<10).map { k in spool((k * 7919 + round * 104_729) % n, version: round) }
            var result: ImportResult?
            applies.append(try await seconds { result = try await store.apply(device: "device-\(round % 3)", base: base, changes: ten) })
            base = result?.main
        }
        row(["\(n)", "apply 10 spools at a base (library, p50 / p99)", "\(ms(median(applies))) / \(ms(percentile(applies, 0.99)))", "", ""])

        // 6. A diff between two commits 10 spools apart.
        // main's first-parent line: each merge brought in one device's 10 spools.
        var heads: [ObjectID] = []
        var next = try await store.head()
        while let id = next, heads.count < 6 {
            heads.append(id)
            next = try await store.readCommit(id).parents.first
        }
        var diffs: [Double] = [], gitDiffs: [Double] = []
        var fields = 0
        for k in 1..<heads.count {
            diffs.append(try await seconds { fields = try await store.diff(from: heads[k], to: heads[k - 1]).flatMap(\.fields).count })
            gitDiffs.append(run(["git", "--git-dir", data + "/history.git", "diff", "--stat", heads[k].hex, heads[k - 1].hex]))
        }
        row(["\(n)", "diff of commits 10 spools apart (\(fields) fields)", ms(median(diffs)), ms(median(gitDiffs)), ratio(median(gitDiffs), median(diffs))])

        // 7. One spool's history across many commits (the watched spool changes in every 100th).
        note("[\(n)] making \(commitCount) commits…")
        let watched = "SPOOL-\(n / 2)"
        for c in 0..<commitCount {
            let i = c % 100 == 0 ? n / 2 : (c * 7919) % n
            _ = try await store.commit([("SPOOL-\(i)", spool(i, version: 10_000 + c))], device: "editor", message: "edit \(c)")
        }
        var found = 0
        let history = try await seconds { found = try await store.log(LogQuery(spool: watched)).count }
        let gitLog = run(["git", "--git-dir", data + "/history.git", "log", "--first-parent", "--format=%H", "main", "--", SpoolPaths.path(for: watched)])
        row(["\(n)", "history of one spool, \(commitCount) commits (\(found) hits)", ms(history), ms(gitLog), ratio(gitLog, history)])

        // 8. Two devices that each changed m spools since the same base, m/10 of them both.
        let m = min(1000, n * 10 / 19)
        let mergeBase = try await store.head()
        let a = (0..<m).map { spool($0, version: 50_000) }
        let b = (0..<m).map { spool(m - m / 10 + $0, version: 60_000) }
        _ = try await store.apply(device: "merge-a", base: mergeBase, changes: a)
        var conflicts = 0
        let merge = try await seconds { conflicts = try await store.apply(device: "merge-b", base: mergeBase, changes: b).merge?.conflicts.count ?? 0 }
        row(["\(n)", "apply+merge \(m) spools, \(m / 10) changed both (\(conflicts) conflicts)", ms(merge), "no field merge", ""])

    }
    for r in 0..<runs { try? FileManager.default.removeItem(atPath: "\(dir)/fast-\(r).git") }
    try? FileManager.default.removeItem(atPath: dir + "/worktree")
}
