import Foundation
@testable import SpoolHistory
import SpoolModel
import SpoolTestSupport
import Testing

/// A sync request's journal record is written before its commits are built (``InventoryRepository/recordSync``,
/// then ``InventoryRepository/buildSync(_:)``): a build that fails then leaves the journal holding a request that
/// memory does not, and the journal is failed as a failed flush fails it.
@Suite struct SyncBuildFailureTests {
    @Test func aBuildThatFailsAfterItsRecordFailsTheJournal() throws {
        let repo = try InventoryRepository.openOrCreate(Fixtures.temporaryDirectory() + "/history").repository
        let start = try #require(try repo.commit(changes: ["A": spool("A")], author: author, message: "start"))
        try repo.openJournal()
        let journal = try #require(repo.git.journal)
        var prepared = try repo.prepareSync(device: "phone", base: start, files: InventoryRepository.files([("B", spool("B"))]),
                                            message: "sync", author: author, adjust: nil, spools: [:])
        #expect(prepared.builds.count == 2)
        // The device's commit on a tree no object database holds: its build fails as a damaged object's would.
        prepared.builds[0].base = .object(GitRepository.blobID(Array("no such tree".utf8)))
        try repo.recordSync(&prepared, ids: [], serialsOfIDs: [])
        #expect(journal.flusher.failure == nil)
        #expect(throws: HistoryError.self) { try repo.buildSync(&prepared) }
        #expect(journal.flusher.failure?.contains("could not be built after its journal record was written") == true)
        // The next request is refused before anything of it is applied: the journal holds what memory does not.
        repo.git.discardObjects()
        var next = try repo.prepareSync(device: "laptop", base: start, files: InventoryRepository.files([("C", spool("C"))]),
                                        message: "sync", author: author, adjust: nil, spools: [:])
        #expect(throws: HistoryError.self) { try repo.recordSync(&next, ids: [], serialsOfIDs: []) }
        #expect(try repo.head() == start)
    }
}
