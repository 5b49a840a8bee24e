import Foundation
import SpoolHistory
import SpoolTestSupport
import Testing

/// A folder of the history is written from its old bytes and the names that change
/// (`GitRepository.editTree`): the tree must be the one stock git makes of the same entries, for names whose
/// order is tricky in git (a folder's name sorts as if it ended in `/`, so `a/` comes after `a.json` and `a-b`).
@Suite struct TreeEditTests {
    @Test func anEditedTreeIsTheTreeGitMakesOfItsEntries() throws {
        let dir = Fixtures.temporaryDirectory() + "/history.git"
        let repo = try InventoryRepository.openOrCreate(dir).repository
        let git = repo.git
        let names = ["a", "a.json", "a-b", "a0", "ab", "a~", "b", "B", "é", "z", "0", "a.b.c"]
        let blobs = try ["x", "y"].map { try git.writeBlob(Array($0.utf8)) }
        let folder = try git.writeTree([TreeEntry(name: "f", id: blobs[0], kind: .blob)])
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next(_ n: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(n))
        }
        func entry(_ name: String) -> TreeEntry {
            next(2) == 0 ? TreeEntry(name: name, id: blobs[next(2)], kind: .blob) : TreeEntry(name: name, id: folder, kind: .tree)
        }
        /// What stock git makes of `entries` (it sorts them itself).
        func mktree(_ entries: [TreeEntry]) throws -> ObjectID? {
            guard !entries.isEmpty else { return nil }
            let lines = entries.map { "\($0.kind == .tree ? "040000 tree" : "100644 blob") \($0.id.hex)\t\($0.name)\n" }.joined()
            let made = try SpoolHistoryTests.git(["mktree", "--missing"], in: dir, input: lines)
            #expect(made.status == 0, "\(made.output)")
            return ObjectID(hex: made.output.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        var checked = 0
        for _ in 0..<120 {
            var entries: [String: TreeEntry] = [:]
            for name in names where next(3) == 0 { entries[name] = entry(name) }
            let tree = try git.editTree(nil, entries.values.map { GitRepository.TreeEdit(name: Array($0.name.utf8), kind: $0.kind, id: $0.id) })
            #expect(tree == (try mktree(Array(entries.values))))
            // A few edits: set, replace (of either kind) or remove a name, the later edit of a name counting.
            var edits: [GitRepository.TreeEdit] = []
            for _ in 0..<(1 + next(4)) {
                let name = names[next(names.count)]
                if next(3) == 0 {
                    edits.append(GitRepository.TreeEdit(name: Array(name.utf8), kind: .blob, id: nil))
                    entries[name] = nil
                } else {
                    let e = entry(name)
                    edits.append(GitRepository.TreeEdit(name: Array(name.utf8), kind: e.kind, id: e.id))
                    entries[name] = e
                }
            }
            #expect(try git.editTree(tree, edits) == (try mktree(Array(entries.values))))
            checked += 1
        }
        #expect(checked == 120)
    }

    /// Trees are read as their bytes (`GitRepository.treeBytes`), not through libgit2's parser: a tree object that
    /// is not a well-formed one (a hand-made history, a damaged object) is damage the reader names, never a
    /// crash or a wrong answer.
    @Test func aTreeThatIsNotWellFormedIsDamage() throws {
        let dir = Fixtures.temporaryDirectory() + "/history.git"
        let repo = try InventoryRepository.openOrCreate(dir).repository
        let git = repo.git
        let id20 = String(repeating: "x", count: 20)
        let bad = ["100644 a-name-without-its-nul", "100644 a\u{0}short", " a\u{0}" + id20, "100644 \u{0}" + id20, "100644", "100644 a\u{0}" + id20 + "4", "10064x a\u{0}" + id20, "1006440 a\u{0}" + id20, "400000 a\u{0}" + id20]
        for bytes in bad {
            let made = try SpoolHistoryTests.git(["hash-object", "-t", "tree", "--literally", "-w", "--stdin"], in: dir, input: bytes)
            #expect(made.status == 0, "\(made.output)")
            let tree = try #require(ObjectID(hex: made.output.trimmingCharacters(in: .whitespacesAndNewlines)))
            for read in [{ _ = try git.readTree(tree) }, { _ = try git.entry("a", in: tree) }, { _ = try repo.objectID(at: ["a", "b"], in: tree) },
                         { _ = try git.editTree(tree, [GitRepository.TreeEdit(name: Array("b".utf8), kind: .blob, id: nil)]) }] as [() throws -> Void] {
                #expect(throws: HistoryError.self, "\(bytes.debugDescription)") { try read() }
                do { try read() } catch let error as HistoryError { #expect(error.code == .damagedObject, "\(error)") }
            }
        }
        // A well-formed tree of the same names reads back.
        let blob = try git.writeBlob(Array("x".utf8))
        let good = try git.writeTree([TreeEntry(name: "a", id: blob, kind: .blob)])
        #expect(try git.readTree(good) == [TreeEntry(name: "a", id: blob, kind: .blob)])
        #expect(try git.entry("a", in: good)?.id == blob)
        #expect(try repo.objectID(at: ["a"], in: good) == blob)
        #expect(try repo.objectID(at: ["a", "b"], in: good) == nil, "a file on the way is no folder")
    }

    /// An edit copies the entries it leaves alone as they are: a link (120000) or a submodule (160000) beside a
    /// spool's file stays one (written back as a plain file, its tree named a commit as a blob, which fsck refuses).
    @Test func anEditKeepsTheModesOfWhatItLeavesAlone() throws {
        let dir = Fixtures.temporaryDirectory() + "/history.git"
        let repo = try InventoryRepository.openOrCreate(dir).repository
        let git = repo.git
        let blob = try git.writeBlob(Array("target".utf8))
        try git.flushObjects()
        let commit = try SpoolHistoryTests.git(["commit-tree", "4b825dc642cb6eb9a060e54bf8d69288fbee4904", "-m", "x"], in: dir).output.trimmingCharacters(in: .whitespacesAndNewlines)
        let listing = "120000 blob \(blob.hex)\tlink\n160000 commit \(commit)\tmodule\n100755 blob \(blob.hex)\trun\n"
        let made = try SpoolHistoryTests.git(["mktree", "--missing"], in: dir, input: listing)
        let tree = try #require(ObjectID(hex: made.output.trimmingCharacters(in: .whitespacesAndNewlines)))
        let edited = try #require(try git.editTree(tree, [GitRepository.TreeEdit(name: Array("new.json".utf8), kind: .blob, id: blob)]))
        try git.flushObjects()
        let lines = try SpoolHistoryTests.git(["ls-tree", edited.hex], in: dir).output.split(separator: "\n").map(String.init)
        #expect(lines == ["120000 blob \(blob.hex)\tlink", "160000 commit \(commit)\tmodule", "100644 blob \(blob.hex)\tnew.json",
                          "100755 blob \(blob.hex)\trun"], "\(lines)")
    }
}
