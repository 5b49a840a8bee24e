import Foundation
@testable import SpoolHistory
import SpoolModel
import SpoolTestSupport
import Testing

func spool(_ serial: String, at time: Int64, _ fields: [String: JSONValue] = [:]) -> Spool {
    Spool(normalizedFields: fields.merging(["serial": .string(serial), "lastUpdated": .int(time)]) { a, _ in a })
}

/// A store in a new temporary folder whose clock moves one second per reading.
func newStore(at start: Int64 = 1_700_000_000) throws -> (InventoryStore, String) {
    let dir = Fixtures.temporaryDirectory() + "/data"
    let clock = Counter(start)
    return (try InventoryStore(dataFolder: dir, clock: HistoryClock { clock.next() }), DataFolder.historyPath(in: dir))
}

final class Counter: @unchecked Sendable {
    private var value: Int64
    private let lock = NSLock()
    init(_ start: Int64) { value = start }
    func next() -> Int64 { lock.withLock { value += 1; return value } }
}

@Suite struct InventoryStoreTests {
    @Test func theDataFolderComesFromTheFlagThenTheEnvironment() throws {
        #expect(DataFolder.resolve("/x", environment: ["SYNC_DATA_DIR": "/y"]) == "/x")
        #expect(DataFolder.resolve(nil, environment: ["SYNC_DATA_DIR": "/y", "XDG_DATA_HOME": "/z"]) == "/y")
        #expect(DataFolder.resolve(nil, environment: ["XDG_DATA_HOME": "/z"]) == "/z/filamentdb")
        #expect(DataFolder.resolve("", environment: ["HOME": "/home/u"]) == "/home/u/.local/share/filamentdb")
        #expect(DataFolder.historyPath(in: "/d") == "/d/history.git")
        // A data folder that is a file, and a history.git that is a file, are named as such.
        let dir = Fixtures.temporaryDirectory()
        FileManager.default.createFile(atPath: dir + "/file", contents: Data("x".utf8))
        #expect(throws: HistoryError.self) { try InventoryStore(dataFolder: dir + "/file") }
        FileManager.default.createFile(atPath: dir + "/history.git", contents: Data("x".utf8))
        do {
            _ = try InventoryStore(dataFolder: dir)
            Issue.record("opened a file as a history")
        } catch {
            #expect(error.code == .folderNotEmpty && error.message.contains("is a file"))
        }
    }

    @Test func readingDoesNotCreateAHistory() throws {
        let dir = Fixtures.temporaryDirectory() + "/data"
        do {
            _ = try InventoryStore(dataFolder: dir, create: false)
            Issue.record("opened a history that is not there")
        } catch {
            #expect(error.code == .noHistory)
        }
        #expect(!FileManager.default.fileExists(atPath: dir + "/history.git"))
    }

    @Test func commitsCarryTheClocksTimeAndTheDevice() async throws {
        let dir = Fixtures.temporaryDirectory() + "/data"
        let store = try InventoryStore(dataFolder: dir, clock: .fixed(1_234_567_890))
        let result = try await store.importSpools([spool("A", at: 5)], mode: .merge(device: "shelf scanner"), source: "a.json")
        let commit = try await store.readCommit(try #require(result.commit))
        #expect(commit.time == 1_234_567_890 && commit.device == "shelf scanner" && commit.authorName == "shelf scanner")
        #expect(commit.trailer("Filamentdb-Source") == "a.json")
    }

    @Test func eachImportModeLandsWhereItSays() async throws {
        let (store, path) = try newStore()
        let first = try await store.importSpools([spool("A", at: 1), spool("B", at: 1)], mode: .merge(device: "laptop"), source: "one")
        #expect(first.added == 2 && first.merge?.changed == ["A", "B"] && first.main == first.merge?.commit)
        // Only on the device's branch.
        let waiting = try await store.importSpools([spool("A", at: 2, ["notes": .string("phone")])], mode: .deviceOnly(device: "phone"), source: "two")
        #expect(waiting.changed == 1 && waiting.merge == nil)
        #expect(try await store.spool("A")?["notes"] == nil)
        #expect(try await store.spool("A", at: try await store.head(device: "phone"))?["notes"] == .string("phone"))
        let merged = try await store.merge(device: "phone")
        #expect(merged.changed == ["A"])
        #expect(try await store.spool("A")?["notes"] == .string("phone"))
        // A replace: main is exactly the file.
        let replaced = try await store.importSpools([spool("C", at: 3)], mode: .replace(device: "restore-test"), source: "three")
        #expect(replaced.added == 1 && replaced.removed == 2 && replaced.merge == nil)
        // What the file lacks became tombstones at the import's time.
        let after = try await store.spools(at: try await store.head())
        #expect(after.filter { !$0.isDeleted }.map(\.serial) == ["C"] && after.filter(\.isDeleted).map(\.serial) == ["A", "B"])
        // Nothing new: no commit.
        #expect(try await store.importSpools([spool("C", at: 3)], mode: .replace(device: "x"), source: "again").commit == nil)
        #expect(try git(["fsck", "--strict", "--no-dangling"], in: path).status == 0)
    }

    @Test func applyTakesAnExplicitBaseAndOnlyTheChanges() async throws {
        let (store, path) = try newStore()
        var inventory: [Spool] = []
        for i in 0..<200 { inventory.append(spool("S-\(i)", at: 1, ["weightRemaining": .int(1000)])) }
        let start = try #require(try await store.importSpools(inventory, mode: .merge(device: "seed"), source: "seed").main)
        // The phone saw `start`, then changed S-1; meanwhile the laptop changed S-2 and S-1's notes.
        let laptop = try await store.apply(device: "laptop", base: start, changes: [spool("S-2", at: 5, ["weightRemaining": .int(10)]),
                                                                                   spool("S-1", at: 5, ["weightRemaining": .int(1000), "notes": .string("laptop")])])
        #expect(laptop.changed == 2 && laptop.merge?.conflicts.isEmpty == true)
        let phone = try await store.apply(device: "phone", base: start, changes: [spool("S-1", at: 7, ["weightRemaining": .int(400)])])
        #expect(phone.changed == 1)
        // Field by field against the phone's base: the laptop's note stays, the phone's weight lands; the time
        // alone is no conflict, both changed lastUpdated and the later one wins.
        let s1 = try #require(try await store.spool("S-1"))
        #expect(s1["weightRemaining"] == .int(400) && s1["notes"] == .string("laptop"))
        #expect(try await store.spool("S-2")?["weightRemaining"] == .int(10))
        // The device's commit sits on its base; the delta from the phone's base names exactly what changed.
        let phoneCommit = try await store.readCommit(try #require(phone.commit))
        #expect(phoneCommit.parents == [start])
        #expect(Set(try await store.changedSerials(from: start, to: try #require(phone.main))) == ["S-1", "S-2"])
        // The same request again changes nothing.
        let again = try await store.apply(device: "phone", base: start, changes: [spool("S-1", at: 7, ["weightRemaining": .int(400)])])
        #expect(again.main == phone.main)
        // A base that is not a state of main is refused.
        let foreign = try #require(try await store.importSpools([spool("S-9", at: 9)], mode: .deviceOnly(device: "stray"), source: "x").commit)
        do {
            _ = try await store.apply(device: "phone", base: foreign, changes: [spool("S-3", at: 9)])
            Issue.record("applied against a base main never had")
        } catch {
            #expect(error.code == .noSuchRevision)
        }
        // A device that saw nothing yet: its spools meet main's by last write.
        let fresh = try await store.apply(device: "tablet", base: nil, changes: [spool("S-4", at: 0, ["weightRemaining": .int(1)])])
        #expect(fresh.merge?.conflicts.map(\.field).contains("weightRemaining") == true)
        #expect(try await store.spool("S-4")?["weightRemaining"] == .int(1000))
        #expect(try git(["fsck", "--strict", "--no-dangling"], in: path).status == 0)
    }

    /// Each serial once: a later copy in the same call replaces an earlier one, and the count says so.
    @Test func aSerialGivenTwiceKeepsTheLastAndCountsTheOther() async throws {
        let (store, _) = try newStore()
        let r = try await store.importSpools([spool("S", at: 1, ["color": .string("Red")]), spool("T", at: 1), spool("S", at: 2, ["color": .string("Blue")])],
                                             mode: .merge(device: "d"), source: "dup")
        #expect(r.added == 2 && r.superseded == 1)
        #expect(try await store.spool("S")?["color"] == .string("Blue"))
        let head = try await store.head()
        let a = try await store.apply(device: "e", base: head, changes: [spool("T", at: 5, ["notes": .string("x")]), spool("T", at: 6, ["notes": .string("y")])])
        #expect(a.superseded == 1 && a.changed == 1)
        #expect(try await store.spool("T")?["notes"] == .string("y"))
    }

    @Test func applyReadsOnlyThePathsOfItsChanges() async throws {
        let (store, _) = try newStore()
        var inventory: [Spool] = []
        for i in 0..<3000 { inventory.append(spool("S-\(i)", at: 1)) }
        let start = try #require(try await store.importSpools(inventory, mode: .merge(device: "seed"), source: "seed").main)
        // Reading the whole inventory's trees takes thousands of reads (4,096 shard folders); the apply of one
        // spool reads the few trees on its path in the base, the device's commit and main.
        let before = try await store.withRepository { $0.git.treeReads }
        _ = try await store.apply(device: "phone", base: start, changes: [spool("S-7", at: 9, ["notes": .string("x")])])
        let reads = try await store.withRepository { $0.git.treeReads } - before
        // What one walk of the same inventory reads, for comparison.
        let walk = try await store.withRepository { repository in
            let start = repository.git.treeReads
            _ = try repository.files(at: repository.head())
            return repository.git.treeReads - start
        }
        #expect(reads < 60 && walk > 1_000 && reads * 20 < walk, "apply read \(reads) trees, a walk \(walk)")
        #expect(try await store.spool("S-7")?["notes"] == .string("x"))
        // The merge and the device commit wrote the path of S-7 and nothing else.
        let head = try #require(try await store.head())
        #expect(try await store.changedSerials(from: start, to: head) == ["S-7"])
    }

    @Test func diffRestoreAndOneSpoolsHistory() async throws {
        let (store, path) = try newStore()
        let first = try await store.importSpools([spool("A", at: 1, ["weightRemaining": .int(800)]), spool("B", at: 1)], mode: .merge(device: "d"), source: "1")
        let one = try #require(first.main)
        let two = try #require(try await store.importSpools([spool("A", at: 2, ["weightRemaining": .int(650)]), spool("C", at: 2)], mode: .merge(device: "d"), source: "2").main)
        let three = try #require(try await store.importSpools([spool("B", at: 3, ["deleted": .bool(true)])], mode: .merge(device: "d"), source: "3").main)
        let diff = try await store.diff(from: one, to: three)
        #expect(diff.map(\.serial) == ["A", "B", "C"])
        #expect(diff.map(\.status) == [.changed, .deleted, .added])
        #expect(diff[0].fields.map(\.field) == ["weightRemaining", "lastUpdated"])
        #expect(diff[0].json == .object(["serial": .string("A"), "status": .string("changed"), "fields": .array([
            .object(["field": .string("weightRemaining"), "old": .int(800), "new": .int(650)]),
            .object(["field": .string("lastUpdated"), "old": .int(1), "new": .int(2)])])]))
        // One spool's history lists the commits of main's first-parent line that changed it, newest first: the
        // merge of the second import, and the first import itself (main's first merge has it as first parent).
        let history = try await store.log(LogQuery(spool: "A"))
        #expect(history.map(\.id) == [two, first.commit])
        #expect(try await store.log(LogQuery(spool: "A", limit: 1)).map(\.id) == [two])
        // Restore one spool, then everything; each is a commit, and restoring to what is changes nothing.
        let single = try #require(try await store.restore(to: one, serial: "A", label: "one"))
        #expect(try await store.spool("A")?["weightRemaining"] == .int(800))
        #expect(try await store.spool("C") != nil)
        #expect(try await store.readCommit(single).trailer("Filamentdb-Restore") == one.hex)
        _ = try #require(try await store.restore(to: one, label: "one"))
        #expect(try await store.spools(at: try await store.head()).map(\.serial) == ["A", "B"])
        #expect(try await store.restore(to: one, label: "one") == nil)
        #expect(try await store.diff(from: one, to: try await store.head()).isEmpty)
        #expect(try git(["fsck", "--strict", "--no-dangling"], in: path).status == 0)
    }

    @Test func theLogFiltersByDeviceTimeAndCount() async throws {
        let (store, _) = try newStore(at: 1_700_000_000)
        for n in 0..<5 {
            _ = try await store.importSpools([spool("S\(n)", at: Int64(n))], mode: .merge(device: n % 2 == 0 ? "even" : "odd"), source: "\(n)")
        }
        let all = try await store.log()
        #expect(all.count == 10)
        #expect(try await store.log(LogQuery(device: "odd")).count == 4)
        #expect(try await store.log(LogQuery(limit: 3)).count == 3)
        let middle = all[4].time * 1000
        #expect(try await store.log(LogQuery(since: middle)).count == 6)
        #expect(try await store.log(LogQuery(until: middle)).count == 6)
        #expect(try await store.log(LogQuery(branchOfDevice: "odd")).allSatisfy { $0.time <= all[0].time })
        do {
            _ = try await store.log(LogQuery(branchOfDevice: "nobody"))
            Issue.record("read a branch that is not there")
        } catch {
            #expect(error.code == .noSuchBranch)
        }
    }

    @Test func revisionsDatesAndDevicesName() async throws {
        let (store, _) = try newStore(at: 1_700_000_000)
        let r = try await store.importSpools([spool("A", at: 1)], mode: .merge(device: "my phone"), source: "1")
        #expect(try await store.commit(named: "main") == r.main)
        #expect(try await store.commit(named: "my phone") == r.commit)
        #expect(try await store.commit(named: "2999-01-01") == r.main)
        #expect(try await store.commit(named: r.main!.hex) == r.main)
        for (text, code) in [("2000-01-01", HistoryError.Code.noSuchRevision), ("nope", .noSuchRevision), ("main^{tree}", .noSuchRevision), ("main~9", .noSuchRevision)] {
            do {
                _ = try await store.commit(named: text)
                Issue.record("\(text) named a commit")
            } catch {
                #expect(error.code == code, "\(text): \(error)")
            }
        }
    }

    @Test func conflictsAreListedFoundByPrefixAndDecidedAgain() async throws {
        let (store, path) = try newStore()
        let start = try #require(try await store.importSpools([spool("S", at: 100, ["color": .string("Black"), "weightRemaining": .int(800)])], mode: .merge(device: "seed"), source: "0").main)
        _ = try await store.apply(device: "phone", base: start, changes: [spool("S", at: 300, ["color": .string("Red"), "weightRemaining": .int(500)])])
        let desk = try await store.apply(device: "desk", base: start, changes: [spool("S", at: 200, ["color": .string("Blue"), "weightRemaining": .int(700)])])
        let decided = try #require(desk.merge?.conflicts)
        #expect(decided.contains { $0.field == "color" } && decided.contains { $0.field == "weightRemaining" })
        let records = try await store.conflicts()
        #expect(records.count == decided.count && records.count >= 2)
        let color = try #require(records.first { $0.field == "color" })
        #expect(color.kept == .string("Red") && color.other == .string("Blue") && color.theirsBranch == "desk" && color.base == .string("Black"))
        // By prefix; a prefix too short or shared is refused with what it could be.
        #expect(try await store.conflict(String(color.id.prefix(6))).id == color.id)
        do {
            _ = try await store.conflict("")
            Issue.record("an empty id named a conflict")
        } catch {
            #expect(error.code == .noSuchConflict)
        }
        let shared = records.map(\.id).reduce(records[0].id) { a, b in String(zip(a, b).prefix { $0 == $1 }.map(\.0)) }
        if shared.count >= InventoryRepository.minimumConflictPrefix {
            do {
                _ = try await store.conflict(shared)
                Issue.record("an ambiguous prefix named one conflict")
            } catch {
                #expect(error.code == .ambiguous && error.candidates.count == records.count)
            }
        }
        // Decide again: the other value, as a new commit with a later time; deciding it again changes nothing.
        let resolved = try #require(try await store.resolve(conflict: color.id, with: .other))
        let s = try #require(try await store.spool("S", at: resolved))
        #expect(s["color"] == .string("Blue") && (s.lastUpdated ?? 0) > 300)
        #expect(try await store.resolve(conflict: color.id, with: .other) == nil)
        #expect(try await store.resolve(conflict: color.id, with: .value(.string("Green"))) != nil)
        #expect(try await store.spool("S")?["color"] == .string("Green"))
        do {
            _ = try await store.resolve(conflict: "ffffffff", with: .base)
            Issue.record("resolved a conflict that is not there")
        } catch {
            #expect(error.code == .noSuchConflict)
        }
        #expect(try await store.verify().problems.isEmpty)
        #expect(try git(["fsck", "--strict", "--no-dangling"], in: path).status == 0)
    }

    @Test func verifyFindsDamage() async throws {
        let (store, path) = try newStore()
        _ = try await store.importSpools([spool("A", at: 1)], mode: .replace(device: "d"), source: "1")
        #expect(try await store.verify().spools == 1)
        // A spool file at the path of another serial, planted with stock git.
        let blob = try git(["hash-object", "-w", "--stdin"], in: path, input: String(decoding: spool("B", at: 1).canonicalJSON, as: UTF8.self)).output.trimmingCharacters(in: .whitespacesAndNewlines)
        let tree = try git(["mktree"], in: path, input: "100644 blob \(blob)\t\(SpoolPaths.path(for: "A").split(separator: "/").last!)\n").output
        _ = tree
        let damaged = try InventoryRepository.openOrCreate(path).repository
        let planted = try #require(try damaged.commit(changes: ["A": nil], author: author, message: "x"))
        _ = planted
        let wrong = try damaged.git.writeBlob(spool("B", at: 1).canonicalJSON)
        let root = try damaged.rootTree(try damaged.tree(of: try damaged.head()), [(SpoolPaths.path(for: "A").split(separator: "/").map(String.init)[...], wrong)])
        let commit = try damaged.git.writeCommit(tree: root, parents: [try #require(try damaged.head())], authorName: "x", authorEmail: "x@y", time: 1, message: "damage")
        try damaged.git.flushObjects()
        try damaged.moveBranch(InventoryRepository.mainReference, to: commit, from: try damaged.head(), message: "damage")
        let result = try await store.verify()
        #expect(result.problems.count == 1 && result.problems[0].message.contains("holds serial \"B\""))
    }

    /// Serials that Swift's `String` calls equal but whose bytes differ are two spools, in every path of the history.
    @Test func serialsAreBytes() async throws {
        let (store, path) = try newStore()
        let pairs = [("caf\u{E9}", "cafe\u{301}"), ("\u{212A}1", "K1")]
        var spools: [Spool] = []
        for (n, (a, b)) in pairs.enumerated() {
            #expect(a == b && Array(a.utf8) != Array(b.utf8))
            spools += [spool(a, at: 1, ["notes": .string("first \(n)")]), spool(b, at: 1, ["notes": .string("second \(n)")])]
        }
        // Through a file import (both comparisons: along paths, and one walk for a large file) and an apply.
        let small = try await store.importSpools(spools, mode: .merge(device: "d"), source: "s")
        #expect(small.added == 4)
        let filler = (0..<InventoryRepository.pathLookupLimit).map { spool("F\($0)", at: 1) }
        let large = try await store.importSpools(filler + spools.map { var s = $0; s["weightRemaining"] = .int(5); return s }, mode: .merge(device: "d"), source: "l")
        #expect(large.changed == 4 && large.added == filler.count)
        let head = try #require(try await store.head())
        for (n, (a, b)) in pairs.enumerated() {
            #expect(try await store.spool(a)?["notes"] == .string("first \(n)"))
            #expect(try await store.spool(b)?["notes"] == .string("second \(n)"))
            #expect(try await store.log(LogQuery(spool: b)).count == 2)
        }
        let all = try await store.spools(at: head)
        #expect(all.count == filler.count + 4)
        #expect(try await store.verify().problems.isEmpty)
        _ = try await store.apply(device: "e", base: head, changes: [spool(pairs[0].1, at: 9, ["notes": .string("edited")])])
        #expect(try await store.spool(pairs[0].0)?["notes"] == .string("first 0"))
        #expect(try await store.spool(pairs[0].1)?["notes"] == .string("edited"))
        #expect(try git(["fsck", "--strict", "--no-dangling"], in: path).status == 0)
    }

    @Test func eightWritersInOneProcessAllLand() async throws {
        let (store, path) = try newStore()
        let start = try #require(try await store.importSpools([spool("BASE", at: 1)], mode: .merge(device: "seed"), source: "seed").main)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for w in 0..<8 {
                group.addTask {
                    for n in 0..<5 {
                        _ = try await store.apply(device: "writer-\(w)", base: start, changes: [spool("W\(w)-\(n)", at: Int64(n))])
                    }
                }
            }
            try await group.waitForAll()
        }
        let serials = try await store.spools(at: try await store.head()).map(\.serial)
        #expect(serials.count == 1 + 8 * 5)
        #expect(try git(["fsck", "--strict", "--no-dangling"], in: path).status == 0)
    }

    /// Two owners of the same repository (as two processes are) importing for the same device at once: the
    /// device's branch moves only from where each import started, so neither loses the other's spools.
    @Test func twoOwnersOfOneDeviceLoseNothing() async throws {
        let (first, path) = try newStore()
        let second = try InventoryStore(path: path)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (w, store) in [first, second].enumerated() {
                group.addTask {
                    for k in 0..<15 {
                        _ = try await store.importSpools([spool("W\(w)-\(k)", at: Int64(k))], mode: .deviceOnly(device: "shared"), source: "\(w)-\(k)")
                    }
                }
            }
            try await group.waitForAll()
        }
        let onBranch = try await first.spools(at: try await first.head(device: "shared")).map(\.serial)
        #expect(onBranch.count == 30)
        #expect(try git(["fsck", "--strict", "--no-dangling"], in: path).status == 0)
    }

    @Test func garbageIsCollected() async throws {
        let (store, path) = try newStore()
        for n in 0..<6 { _ = try await store.importSpools([spool("S\(n)", at: Int64(n))], mode: .merge(device: "d"), source: "\(n)") }
        // An object no branch reaches, as a failed writer would leave.
        let orphan = try await store.withRepository { repository in
            let id = try repository.git.writeBlob(Array("orphan".utf8))
            try repository.git.flushObjects()
            return id
        }
        #expect(try git(["cat-file", "-e", orphan.hex], in: path).status == 0)
        // What stopped writers leave: a temporary pack of a process that is gone, an old one of libgit2's, and
        // a young one of libgit2's (perhaps a writer still at work: kept).
        let leftovers = [path + "/objects/pack/tmp_pack_filamentdb_999999_1", path + "/objects/tmp_object_git2_old", path + "/objects/tmp_object_git2_new"]
        for f in leftovers { FileManager.default.createFile(atPath: f, contents: Data("x".utf8)) }
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: -3600)], ofItemAtPath: leftovers[1])
        // Within the grace period a young pack stays; with none, everything is rewritten.
        let young = try await store.collectGarbage()
        #expect(young.after == young.before + 1, "\(young)")
        #expect(!FileManager.default.fileExists(atPath: leftovers[0]) && !FileManager.default.fileExists(atPath: leftovers[1]))
        #expect(FileManager.default.fileExists(atPath: leftovers[2]))
        let (before, after) = try await store.collectGarbage(grace: 0)
        #expect(before >= 2 && after == 1, "\(before) packs, then \(after)")
        #expect(try git(["count-objects", "-v"], in: path).output.contains("count: 0"))
        #expect(try git(["fsck", "--strict", "--no-dangling"], in: path).status == 0)
        #expect(try git(["cat-file", "-e", orphan.hex], in: path).status != 0)
        #expect(try await store.spools(at: try await store.head()).count == 6)
    }
}

extension InventoryStoreTests {
    /// A garbage collection gives way when asked (a sync server's request, or its SIGTERM: a repack of a large
    /// history held both up for 50 s): it stops, whichever phase it is in, and leaves the history as it was.
    @Test(arguments: [0, 1, 3])
    func aGarbageCollectionGivesWay(afterQuestions: Int) async throws {
        let (store, path) = try newStore()
        for n in 0..<4 { _ = try await store.importSpools([spool("S\(n)", at: Int64(n))], mode: .merge(device: "d"), source: "\(n)") }
        let packs = { () throws -> Set<String> in Set(try FileManager.default.contentsOfDirectory(atPath: path + "/objects/pack")) }
        let before = try packs()
        let asked = QuestionCount()
        await #expect(throws: HistoryError.self) {
            try await store.collectGarbage(grace: 0, givingWay: { asked.next() >= afterQuestions })
        }
        #expect(asked.value > afterQuestions, "asked \(asked.value) times")
        // Nothing changed: no pack removed or added, nothing temporary left behind.
        #expect(try packs() == before)
        #expect(try git(["fsck", "--strict", "--no-dangling"], in: path).status == 0)
        #expect(try await store.spools(at: try await store.head()).count == 4)
        // Not asked to give way, it collects.
        let (_, after) = try await store.collectGarbage(grace: 0, givingWay: { false })
        #expect(after == 1)
    }
}

/// `serve --cache-mb` sets the budget of libgit2's object cache for the process (restored after).
@Suite struct ObjectCacheBudgetTests {
    @Test func theBudgetIsSetForTheProcess() {
        #expect(GitRepository.cacheBytes == GitRepository.defaultCacheBytes)
        GitRepository.cacheBytes = 48 << 20
        #expect(GitRepository.cacheBytes == 48 << 20)
        GitRepository.cacheBytes = GitRepository.defaultCacheBytes
        #expect(GitRepository.cacheBytes == GitRepository.defaultCacheBytes)
    }
}
