// filamentdb's history (libgit2) next to the stock git command doing the same work on the same data, in one
// run, at several inventory sizes: committing 10 changed spools, the bytes that commit adds, a diff of two
// commits 10 spools apart, one spool's history across many commits, and a merge of two branches that each
// changed 1,000 spools, 100 of them both.

import Foundation
import SpoolHistory
import SpoolModel

var sizes = [1_000, 10_000, 100_000]
var commitCount = 10_000
var args = CommandLine.arguments.dropFirst()
while let a = args.popFirst() {
    switch a {
    case "--sizes": sizes = (args.popFirst() ?? "").split(separator: ",").compactMap { Int($0) }
    case "--commits": commitCount = Int(args.popFirst() ?? "") ?? commitCount
    default:
        FileHandle.standardError.write(Data("usage: HistoryBenchmark [--sizes 1000,10000,100000] [--commits 10000]\n".utf8))
        exit(64)
    }
}

let work = FileManager.default.temporaryDirectory.appendingPathComponent("filamentdb-history-benchmark").path
let author = InventoryRepository.Signature(name: "bench", email: "bench@filamentdb.invalid", time: 1_700_000_000)

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

func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }

@discardableResult
func run(_ args: [String], in dir: String? = nil) -> Double {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = args
    if let dir { p.currentDirectoryURL = URL(fileURLWithPath: dir) }
    p.standardOutput = FileHandle.nullDevice
    p.standardError = FileHandle.nullDevice
    p.environment = ProcessInfo.processInfo.environment.merging(["GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "b@b", "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "b@b"]) { $1 }
    return seconds {
        try? p.run()
        p.waitUntilExit()
    }
}

func objectBytes(_ dir: String) -> Int {
    var total = 0
    if let e = FileManager.default.enumerator(atPath: dir) {
        while let f = e.nextObject() as? String {
            total += (try? FileManager.default.attributesOfItem(atPath: dir + "/" + f)[.size] as? Int) ?? 0
        }
    }
    return total
}

func ms(_ s: Double) -> String { String(format: "%.1f ms", s * 1000) }
func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
func row(_ cells: [String]) { print(zip(cells, [10, 44, 14, 14, 10, 12]).map { pad($0, $1) }.joined()) }

try? FileManager.default.removeItem(atPath: work)
row(["spools", "measure", "filamentdb", "stock git", "ratio", "goal"])
for n in sizes {
    let dir = "\(work)/\(n)"
    let repo = try InventoryRepository.openOrCreate(dir + "/history.git").repository
    var all: [String: Spool?] = [:]
    for i in 0..<n { all["SPOOL-\(i)"] = spool(i, version: 0) }
    let setup = try seconds { _ = try repo.commit(changes: all, author: author, message: "import \(n)") }
    all = [:]
    FileHandle.standardError.write(Data("[\(n)] initial commit of \(n) spools: \(ms(setup)); checking out a stock git working tree…\n".utf8))
    let wt = dir + "/worktree"
    run(["git", "clone", "-q", dir + "/history.git", wt])

    // 1. Commit 10 changed spools; the bytes it adds.
    var ours: [Double] = [], theirs: [Double] = [], oursBytes: [Int] = [], theirsBytes: [Int] = []
    var commits: [ObjectID] = []
    for round in 1...5 {
        let changed = (0..<10).map { ($0 * 7919 + round * 104_729) % n }
        let changes = Dictionary(uniqueKeysWithValues: changed.map { ("SPOOL-\($0)", Optional(spool($0, version: round))) })
        let before = objectBytes(dir + "/history.git/objects")
        var commit: ObjectID?
        ours.append(try seconds { commit = try repo.commit(changes: changes, author: author, message: "10 spools") })
        oursBytes.append(objectBytes(dir + "/history.git/objects") - before)
        commits.append(commit!)
        for i in changed {
            try Data(spool(i, version: round).canonicalJSON).write(to: URL(fileURLWithPath: wt + "/" + SpoolPaths.path(for: "SPOOL-\(i)")))
        }
        let gitBefore = objectBytes(wt + "/.git/objects")
        theirs.append(run(["git", "add", "-A"], in: wt) + run(["git", "commit", "-q", "-m", "10 spools"], in: wt))
        theirsBytes.append(objectBytes(wt + "/.git/objects") - gitBefore)
    }
    row(["\(n)", "commit 10 changed spools (median of 5)", ms(median(ours)), ms(median(theirs)), String(format: "%.0fx", median(theirs) / median(ours)), "< 50 ms, 10x"])
    row(["\(n)", "bytes the commit adds to the object store", "\(oursBytes.sorted()[2] / 1024) KB", "\(theirsBytes.sorted()[2] / 1024) KB", "", "< 20 KB"])

    // 2. A diff between two commits 10 spools apart.
    var diffs: [Double] = [], gitDiffs: [Double] = []
    var fields = 0
    for k in 1..<commits.count {
        diffs.append(try seconds { fields = try repo.diff(from: commits[k - 1], to: commits[k]).count })
        gitDiffs.append(run(["git", "--git-dir", dir + "/history.git", "diff", "--stat", commits[k - 1].hex, commits[k].hex]))
    }
    row(["\(n)", "diff of commits 10 spools apart (\(fields) fields)", ms(median(diffs)), ms(median(gitDiffs)), String(format: "%.0fx", median(gitDiffs) / median(diffs)), "< 20 ms"])

    // 3. One spool's history across many commits (the watched spool changes in every 100th).
    FileHandle.standardError.write(Data("[\(n)] making \(commitCount) commits…\n".utf8))
    let watched = "SPOOL-\(n / 2)"
    for c in 0..<commitCount {
        let i = c % 100 == 0 ? n / 2 : (c * 7919) % n
        _ = try repo.commit(changes: ["SPOOL-\(i)": spool(i, version: 10 + c)], author: author, message: "edit \(c)")
    }
    var found = 0
    let history = try seconds { found = try repo.history(of: watched).count }
    let gitLog = run(["git", "--git-dir", dir + "/history.git", "log", "--format=%H", "main", "--", SpoolPaths.path(for: watched)])
    row(["\(n)", "history of one spool, \(commitCount) commits (\(found) hits)", ms(history), ms(gitLog), String(format: "%.1fx", gitLog / history), "< 500 ms"])

    // 4. Merge two branches that each changed 1,000 spools, 100 of them both.
    let base = try repo.head()!
    try repo.createBranch("a", at: base)
    try repo.createBranch("b", at: base)
    // Two windows of m spools overlapping by a tenth (m is smaller than 1,000 only when the inventory is too).
    let m = min(1000, n * 10 / 19)
    var a: [String: Spool?] = [:], b: [String: Spool?] = [:]
    for k in 0..<m {
        a["SPOOL-\(k)"] = spool(k, version: 50_000)
        let j = m - m / 10 + k
        b["SPOOL-\(j)"] = spool(j, version: 60_000)
    }
    _ = try repo.commit(branch: "a", changes: a, author: author, message: "a")
    _ = try repo.commit(branch: "b", changes: b, author: author, message: "b")
    _ = try repo.merge("a", author: author)
    var conflicts = 0
    let merge = try seconds { conflicts = try repo.merge("b", author: author).conflicts.count }
    row(["\(n)", "merge 2 × \(m) spools, \(m / 10) both (\(conflicts) field conflicts)", ms(merge), "no field merge", "", "< 1 s"])
}
