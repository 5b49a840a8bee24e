import Foundation
import SpoolHistory
import SpoolModel
import SpoolTestSupport
import Testing

@Suite struct InventoryMergeTests {
    let dir = Fixtures.temporaryDirectory() + "/history"

    func setUp() throws -> (InventoryRepository, ObjectID) {
        let repo = try InventoryRepository.openOrCreate(dir).repository
        let start = try #require(try repo.commit(changes: [
            "A": spool("A", ["color": .string("Black"), "weightRemaining": .int(800)]),
            "B": spool("B", ["brand": .string("Prusament")]),
        ], author: author, message: "start"))
        try repo.git.updateReference(try repo.deviceReference("device-a"), to: start, expecting: nil, message: "branch")
        return (repo, start)
    }

    func edited(_ s: Spool, _ changes: [String: JSONValue?], at time: Int64) -> Spool {
        var f = s.fields
        for (k, v) in changes { f[k] = v }
        f["lastUpdated"] = .int(time)
        return Spool(normalizedFields: f)
    }

    @Test func changesOnBothBranchesAreBothKept() throws {
        let (repo, start) = try setUp()
        let a = try #require(try repo.spool("A", at: start)), b = try #require(try repo.spool("B", at: start))
        _ = try repo.commit(try repo.deviceReference("device-a"), changes: ["A": edited(a, ["color": .string("Red")], at: 1_700_000_100_000)], author: author, message: "device edit")
        _ = try repo.commit(changes: ["B": edited(b, ["brand": .string("eSun")], at: 1_700_000_200_000)], author: author, message: "main edit")
        let outcome = try repo.merge(device: "device-a", author: author)
        let merge = try #require(outcome.commit)
        #expect(outcome.changed == ["A"] && outcome.conflicts.isEmpty)
        #expect(try repo.spool("A", at: merge)?["color"] == .string("Red"))
        #expect(try repo.spool("B", at: merge)?["brand"] == .string("eSun"))
        #expect(try repo.git.readCommit(merge).parents.count == 2)
        #expect(try repo.git.readCommit(merge).message.contains("Filamentdb-Merge: \"device-a\""))
        // Merging again changes nothing.
        #expect(try repo.merge(device: "device-a", author: author).commit == nil)
        #expect(try git(["fsck", "--strict", "--no-dangling"], in: dir).status == 0)
    }

    @Test func aFieldChangedOnBothIsDecidedAndRecorded() throws {
        let (repo, start) = try setUp()
        let a = try #require(try repo.spool("A", at: start))
        _ = try repo.commit(changes: ["A": edited(a, ["weightRemaining": .int(700)], at: 1_700_000_100_000)], author: author, message: "main")
        _ = try repo.commit(try repo.deviceReference("device-a"), changes: ["A": edited(a, ["weightRemaining": .int(650)], at: 1_700_000_300_000)], author: author, message: "device")
        let outcome = try repo.merge(device: "device-a", author: author)
        let merge = try #require(outcome.commit)
        let conflict = try #require(outcome.conflicts.first)
        #expect(conflict.field == "weightRemaining" && conflict.winner == .theirs)
        #expect(try repo.spool("A", at: merge)?["weightRemaining"] == .int(650))
        let record = try git(["show", "\(merge.hex):conflicts/\(conflict.id).json"], in: dir)
        #expect(record.status == 0)
        let o = try #require(try JSONParser.parse(record.output).objectValue)
        #expect(o["base"] == .int(800) && o["ours"]?.objectValue?["value"] == .int(700) && o["theirs"]?.objectValue?["value"] == .int(650))
        #expect(o["winner"] == .string("theirs") && o["serial"] == .string("A"))
        #expect(try git(["fsck", "--strict", "--no-dangling"], in: dir).status == 0)
    }

    @Test func aLaterDeletionOnTheDeviceWins() throws {
        let (repo, start) = try setUp()
        let b = try #require(try repo.spool("B", at: start))
        _ = try repo.commit(changes: ["B": edited(b, ["notes": .string("edited")], at: 1_700_000_100_000)], author: author, message: "main")
        _ = try repo.commit(try repo.deviceReference("device-a"), changes: ["B": edited(b, ["deleted": .bool(true)], at: 1_700_000_200_000)], author: author, message: "device deletes")
        let outcome = try repo.merge(device: "device-a", author: author)
        #expect(try repo.spool("B", at: outcome.commit)?.isDeleted == true)
        #expect(outcome.conflicts.map(\.field) == ["deleted"])
        // The record says what the deletion overruled.
        #expect(outcome.conflicts.first?.reason.hasSuffix("(the edit set notes)") == true, "\(outcome.conflicts)")
    }

    @Test func theFirstMergeIntoAnEmptyMainTakesEverything() throws {
        let repo = try InventoryRepository.openOrCreate(dir).repository
        let device = try #require(try repo.commit(try repo.deviceReference("device-b"), changes: ["X": spool("X"), "Y": spool("Y")], author: author, message: "device"))
        let outcome = try repo.merge(device: "device-b", author: author)
        #expect(try repo.serials(at: try repo.head()) == ["X", "Y"])
        #expect(try repo.git.readCommit(try #require(outcome.commit)).parents == [device])
    }

    @Test func theTreeDiffNamesExactlyTheChangedSerials() throws {
        let repo = try InventoryRepository.openOrCreate(dir).repository
        var changes: [String: Spool?] = [:]
        for i in 0..<300 { changes["S-\(i)"] = spool("S-\(i)") }
        let a = try repo.commit(changes: changes, author: author, message: "300")
        let b = try repo.commit(changes: ["S-3": spool("S-3", ["brand": .string("X")]), "S-200": nil, "NEW": spool("NEW")], author: author, message: "3")
        #expect(Set(try repo.changedSerials(from: a, to: b)) == ["S-3", "S-200", "NEW"])
        #expect(try repo.changedSerials(from: b, to: b).isEmpty)
        #expect(try repo.changedSerials(from: nil, to: a).count == 300)
    }
}
