import Foundation
import SpoolHistory
import SpoolModel
import SpoolTestSupport
import Testing

/// A sync request reads each branch from the disk once (``GitRepository/keepingReferences(_:)``), and again
/// after this handle moves one.
@Suite struct KeptReferencesTests {
    @Test func aBranchIsReadOnceUntilThisHandleMovesOne() throws {
        let dir = Fixtures.temporaryDirectory() + "/history.git"
        let (repo, _) = try InventoryRepository.openOrCreate(dir)
        let first = try #require(try repo.commit(changes: ["A": spool("A")], author: author, message: "one"))
        let second = try #require(try repo.commit(changes: ["B": spool("B")], author: author, message: "two"))
        let file = dir + "/" + InventoryRepository.mainReference
        #expect(try String(contentsOfFile: file, encoding: .utf8) == second.hex + "\n")

        try repo.syncTransaction { () throws(HistoryError) in
            #expect(try repo.head() == second)
            // Another process moves main (as `git update-ref` would): this request keeps what it read...
            try! (first.hex + "\n").write(toFile: file, atomically: true, encoding: .utf8)
            #expect(try repo.head() == second)
            // ...until this handle moves a branch itself: then every branch is read again.
            try repo.git.updateReference("refs/heads/other", to: first, expecting: nil, message: "test")
            #expect(try repo.head() == first)
            #expect(try repo.head("refs/heads/other") == first)
        }
        // The next request reads the disk.
        try (second.hex + "\n").write(toFile: file, atomically: true, encoding: .utf8)
        try repo.syncTransaction { () throws(HistoryError) in #expect(try repo.head() == second) }
        // Outside a request, every read goes to the disk.
        try (first.hex + "\n").write(toFile: file, atomically: true, encoding: .utf8)
        #expect(try repo.head() == first)
    }
}
