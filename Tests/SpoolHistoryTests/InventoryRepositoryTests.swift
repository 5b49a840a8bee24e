import Foundation
import SpoolHistory
import SpoolModel
import SpoolTestSupport
import Testing

/// Runs the stock git command in `dir`.
func git(_ args: [String], in dir: String, input: String? = nil) throws -> (status: Int32, output: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = ["git", "-C", dir] + args
    let pipe = Pipe()
    p.standardOutput = pipe
    p.standardError = pipe
    let stdin = Pipe()
    p.standardInput = stdin
    try p.run()
    stdin.fileHandleForWriting.write(Data((input ?? "").utf8))
    try stdin.fileHandleForWriting.close()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: data, as: UTF8.self))
}

func spool(_ serial: String, _ fields: [String: JSONValue] = [:]) -> Spool {
    Spool(normalizedFields: fields.merging(["serial": .string(serial), "lastUpdated": .int(1_700_000_000_000)]) { a, _ in a })
}

let author = Signature(device: "device-a", time: 1_700_000_000)

extension InventoryRepository {
    /// Tests write spools by serial; `nil` removes one.
    func commit(_ reference: String = InventoryRepository.mainReference, changes: [String: Spool?], author: Signature, message: String) throws -> ObjectID? {
        try commit(reference, changes: changes.sorted { utf8Ordered($0.key, $1.key) }.map { ($0.key, $0.value) }, author: author, message: message)
    }

    static func openOrCreate(_ folder: String) throws -> (repository: InventoryRepository, created: Bool) { try open(folder, create: true) }

    func serials(at commit: ObjectID?) throws -> Set<String> { Set(try files(at: commit).keys.map(\.string)) }
}

@Suite struct InventoryRepositoryTests {
    let dir = Fixtures.temporaryDirectory() + "/history"

    @Test func commitsReadBackAndStockGitIsHappy() throws {
        let (repo, created) = try InventoryRepository.openOrCreate(dir)
        #expect(created)
        let spools = [spool("PRU-1", ["brand": .string("Prusament")]), spool("esun-2", ["brand": .string("eSun"), "bought": .typed("date", .int(5))]), spool("a/b")]
        let first = try #require(try repo.commit(changes: Dictionary(uniqueKeysWithValues: spools.map { ($0.serial, $0) }), author: author, message: "import: 3 added"))
        #expect(try repo.head() == first)
        #expect(try repo.serials(at: first) == ["PRU-1", "esun-2", "a/b"])
        #expect(try repo.spool("esun-2", at: first)?.fields == spools[1].fields)
        #expect(try repo.spool("missing", at: first) == nil)

        #expect(try git(["fsck", "--strict", "--no-dangling"], in: dir).status == 0)
        let log = try git(["log", "-p", "--format=%an %s", "main"], in: dir).output
        #expect(log.contains("device-a import: 3 added"))
        #expect(log.contains("+  \"brand\": \"eSun\","))
        let show = try git(["show", "main:" + SpoolPaths.path(for: "PRU-1")], in: dir).output
        #expect(show == String(decoding: spools[0].canonicalJSON, as: UTF8.self))
        #expect(try InventoryRepository.openOrCreate(dir).created == false)
    }

    @Test func anUnchangedInventoryMakesNoCommit() throws {
        let repo = try InventoryRepository.openOrCreate(dir).repository
        let a = spool("A")
        let first = try repo.commit(changes: ["A": a], author: author, message: "add")
        #expect(try repo.commit(changes: ["A": a], author: author, message: "again") == nil)
        #expect(try repo.head() == first)
    }

    @Test func aChangeRewritesOnlyTheTreesOnItsPath() throws {
        let repo = try InventoryRepository.openOrCreate(dir).repository
        var changes: [String: Spool?] = [:]
        for i in 0..<500 { changes["SPOOL-\(i)"] = spool("SPOOL-\(i)") }
        let before = try #require(try repo.commit(changes: changes, author: author, message: "500"))
        let after = try #require(try repo.commit(changes: ["SPOOL-7": spool("SPOOL-7", ["weightRemaining": .int(5)])], author: author, message: "one"))
        let changed = try git(["diff-tree", "-r", "-t", "--name-only", before.hex, after.hex], in: dir).output.split(separator: "\n")
        // The spools folder, three shard folders and the one file: nothing else was rewritten.
        #expect(changed.count == 5)
        #expect(changed.last.map(String.init) == SpoolPaths.path(for: "SPOOL-7"))
        #expect(try git(["fsck", "--strict", "--no-dangling"], in: dir).status == 0)
    }

    @Test func removingTheLastSpoolOfAFolderRemovesTheFolder() throws {
        let repo = try InventoryRepository.openOrCreate(dir).repository
        func folder(_ serial: String) -> String { SpoolPaths.path(for: serial).split(separator: "/").prefix(2).joined(separator: "/") }
        // A second spool in another top-level shard, so each has folders of its own.
        let other = try #require((0..<100).map { "B\($0)" }.first { folder($0) != folder("A") })
        _ = try repo.commit(changes: ["A": spool("A"), other: spool(other)], author: author, message: "two")
        let c = try #require(try repo.commit(changes: ["A": nil], author: author, message: "remove A"))
        #expect(try repo.serials(at: c) == [other])
        // Exactly the folders on the remaining spool's path, and its file.
        let listed = Set(try git(["ls-tree", "-r", "-t", "--name-only", c.hex], in: dir).output.split(separator: "\n").map(String.init))
        let parts = SpoolPaths.path(for: other).split(separator: "/")
        #expect(listed == Set((1...parts.count).map { parts.prefix($0).joined(separator: "/") }))
        let last = try #require(try repo.commit(changes: [other: nil], author: author, message: "remove the other"))
        #expect(try git(["ls-tree", "-r", "-t", "--name-only", last.hex], in: dir).output.isEmpty)
        #expect(try git(["fsck", "--strict", "--no-dangling"], in: dir).status == 0)
    }

    @Test func hostileSerialsRoundTrip() throws {
        let repo = try InventoryRepository.openOrCreate(dir).repository
        let serials = ["", "../x", "a/b", String(repeating: "long-", count: 60), "🧵", "Case", "case", ".git", "%", "+"]
        let c = try #require(try repo.commit(changes: Dictionary(uniqueKeysWithValues: serials.map { ($0, spool($0)) }), author: author, message: "hostile"))
        #expect(Set(try repo.files(at: c).keys) == Set(serials.map(ExactString.init)))
        for s in serials { #expect(try repo.spool(s, at: c)?.serial == s) }
        #expect(try git(["fsck", "--strict", "--no-dangling"], in: dir).status == 0)
    }

    @Test func twoWritersNeverLoseACommit() throws {
        let a = try InventoryRepository.openOrCreate(dir).repository
        let b = try InventoryRepository(GitRepository.open(dir))
        let first = try #require(try a.commit(changes: ["A": spool("A")], author: author, message: "a"))
        let second = try #require(try b.commit(changes: ["B": spool("B")], author: author, message: "b"))
        #expect(try a.git.readCommit(second).parents == [first])
        #expect(try a.serials(at: try a.head()) == ["A", "B"])
        // A stale compare-and-swap is refused.
        do {
            try a.git.updateReference("refs/heads/main", to: first, expecting: first, message: "stale")
            Issue.record("moved main from a stale value")
        } catch let error as HistoryError {
            #expect(error.code == .contention)
        }
        #expect(try a.head() == second)
    }

    @Test func aFolderOfOtherFilesOrSomeoneElsesRepositoryIsRefused() throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try Data("my notes".utf8).write(to: URL(fileURLWithPath: dir + "/notes.txt"))
        do {
            _ = try InventoryRepository.openOrCreate(dir)
            Issue.record("made a repository among other files")
        } catch let error as HistoryError {
            #expect(error.code == .folderNotEmpty && error.message.contains("is not empty and is not a filamentdb history"))
        }
        #expect(!FileManager.default.fileExists(atPath: dir + "/.git"))
        // A git repository of something else.
        #expect(try git(["init", "-q", "-b", "main"], in: dir).status == 0)
        #expect(try git(["add", "notes.txt"], in: dir).status == 0)
        #expect(try git(["-c", "user.name=x", "-c", "user.email=x@y", "commit", "-q", "-m", "notes"], in: dir).status == 0)
        do {
            _ = try InventoryRepository.openOrCreate(dir)
            Issue.record("took someone else's repository")
        } catch let error as HistoryError {
            #expect(error.code == .foreignRepository && error.message.contains("not filamentdb's history (its main branch holds notes.txt)"))
        }
    }
}

@Suite struct ForeignBranchTests {
    /// Someone else's repository whose only branch is not called main is refused too.
    @Test func aForeignRepositoryOnAnyBranchIsRefused() throws {
        let dir = Fixtures.temporaryDirectory() + "/other"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try Data("notes".utf8).write(to: URL(fileURLWithPath: dir + "/notes.txt"))
        #expect(try git(["init", "-q", "-b", "master", "--bare", dir + "/repo.git"], in: dir).status == 0)
        #expect(try git(["--git-dir", dir + "/repo.git", "--work-tree", dir, "add", "notes.txt"], in: dir).status == 0)
        #expect(try git(["--git-dir", dir + "/repo.git", "--work-tree", dir, "-c", "user.name=x", "-c", "user.email=x@y", "commit", "-q", "-m", "notes"], in: dir).status == 0)
        do {
            _ = try InventoryStore(path: dir + "/repo.git")
            Issue.record("took someone else's repository")
        } catch {
            #expect(error.code == .foreignRepository && error.message.contains("refs/heads/master branch holds notes.txt"), "\(error)")
        }
    }
}

@Suite struct RepositoryPathTests {
    @Test func nestedFoldersAndDoubledSlashesAreCreated() throws {
        let base = Fixtures.temporaryDirectory()
        let (repo, created) = try InventoryRepository.openOrCreate(base + "//a/./b//history.git")
        #expect(created)
        #expect(FileManager.default.fileExists(atPath: base + "/a/b/history.git/HEAD"))
        #expect(try InventoryRepository.openOrCreate(base + "/a/b/history.git").created == false)
        _ = repo
    }
}

@Suite struct LockedReferenceTests {
    @Test func aStaleLockIsNamedWithWhatToDo() async throws {
        let dir = Fixtures.temporaryDirectory() + "/history.git"
        let store = try InventoryStore(path: dir, clock: .fixed(1_700_000_000))
        _ = try await store.commit([("A", spool("A"))], device: "a", message: "a")
        // What a writer killed while moving main leaves behind.
        try Data().write(to: URL(fileURLWithPath: dir + "/refs/heads/main.lock"))
        // Held by a live writer: fresh for as long as the retries last, however slow the machine.
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: 3600)], ofItemAtPath: dir + "/refs/heads/main.lock")
        let packs = try FileManager.default.contentsOfDirectory(atPath: dir + "/objects/pack").count
        do {
            _ = try await store.commit([("B", spool("B"))], device: "a", message: "b")
            Issue.record("committed through a lock")
        } catch {
            #expect(error.code == .contention)
            #expect(error.message.contains("refs/heads/main.lock exists") && error.message.contains("remove that file"))
        }
        // Sixteen lost attempts wrote nothing to disk: each saw the lock before its objects left memory.
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/objects/pack").count == packs)
        // Once it is older than any live writer would hold it, the next writer removes it and goes on.
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: -60)], ofItemAtPath: dir + "/refs/heads/main.lock")
        #expect(try await store.commit([("B", spool("B"))], device: "a", message: "b") != nil)
        #expect(!FileManager.default.fileExists(atPath: dir + "/refs/heads/main.lock"))
    }
}
