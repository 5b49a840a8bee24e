import Foundation
import SpoolHistory
import SpoolModel
import SpoolTestSupport
import Testing

@Suite struct DeviceBranchTests {
    /// What a sync request's `deviceId` may be: any 1-128 characters.
    static let hostile = [
        "my phone", "main", "..", ".", "a/b", "a//b", "/lead", "trail/", "x.lock", "devices/x", "@", "@{1}", "a..b", "HEAD",
        "Laptop", "laptop", "🧵 spool room", "é", "e\u{301}", "\u{212A}", "K", "tab\there", "line\nbreak", "<angle>",
        "~^:?*[\\", String(repeating: "é", count: 128), String(repeating: "🧵", count: 128), String(repeating: "x", count: 128),
        String(repeating: "a", count: 201), String(repeating: "a", count: 200) + "b",
    ]

    @Test func everyNameRoundTripsAndNoTwoCollide() throws {
        var seen: [String: String] = [:]
        for name in Self.hostile {
            let reference = try DeviceBranch.reference(for: name)
            #expect(reference.hasPrefix("refs/heads/devices/"))
            #expect(DeviceBranch.device(ofReference: reference).map { Array($0.utf8) } == Array(name.utf8), "\(name)")
            #expect(seen[reference] == nil, "\(name) and \(seen[reference] ?? "") share \(reference)")
            seen[reference] = name
        }
        #expect(DeviceBranch.device(ofReference: "refs/heads/main") == nil)
        #expect(DeviceBranch.device(ofReference: "refs/heads/devices/UPPER") == nil)
        #expect(throws: HistoryError.self) { try DeviceBranch.reference(for: "") }
        #expect(throws: HistoryError.self) { try DeviceBranch.reference(for: String(repeating: "🧵", count: 129)) }
    }

    @Test func stockGitAcceptsEveryBranch() async throws {
        let dir = Fixtures.temporaryDirectory() + "/history.git"
        let store = try InventoryStore(path: dir, clock: .fixed(1_700_000_000))
        for (n, name) in Self.hostile.enumerated() {
            let reference = try DeviceBranch.reference(for: name)
            #expect(try git(["check-ref-format", reference], in: dir).status == 0, "\(reference)")
            _ = try await store.importSpools([spool("S\(n)")], mode: .merge(device: name), source: "test")
        }
        // The device's edits went to its own branch and were merged: none wrote onto main directly.
        let main = try #require(try await store.head())
        var next: ObjectID? = main
        while let id = next {
            let commit = try await store.readCommit(id)
            next = commit.parents.first
            #expect(commit.summary.hasPrefix(next == nil ? "import" : "merge"), "\(commit.summary)")
        }
        let branches = try git(["branch", "-a", "--format=%(refname)"], in: dir).output.split(separator: "\n").map(String.init)
        #expect(Set(branches) == Set(try Self.hostile.map(DeviceBranch.reference(for:))).union(["refs/heads/main"]))
        #expect(Set(try await store.devices().map { Array($0.utf8) }) == Set(Self.hostile.map { Array($0.utf8) }))
        #expect(try await store.spools(at: main).count == Self.hostile.count)
        #expect(try git(["fsck", "--strict", "--no-dangling"], in: dir).status == 0)
        // The exact name is on record in each commit, whatever git's author field could hold.
        let log = try await store.log(LogQuery(device: "line\nbreak"))
        #expect(log.count == 2 && log.allSatisfy { $0.device == "line\nbreak" })
    }

    @Test func anOldDeviceBranchMovesIntoTheNamespace() async throws {
        let dir = Fixtures.temporaryDirectory() + "/history.git"
        // A history written before device branches had their own namespace: refs/heads/phone.
        let (repo, _) = try InventoryRepository.openOrCreate(dir)
        let old = try #require(try repo.commit("refs/heads/phone", changes: ["P": spool("P")], author: author, message: "import old"))
        let store = try InventoryStore(path: dir, clock: .fixed(1_700_000_000))
        let merged = try await store.merge(device: "phone")
        #expect(merged.changed == ["P"])
        #expect(try await store.head(device: "phone") == old)
        #expect(try git(["branch", "--format=%(refname)"], in: dir).output.split(separator: "\n") == ["refs/heads/devices/phone", "refs/heads/main"])
    }
}
