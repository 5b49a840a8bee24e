import Foundation
@testable import SpoolHistory
import SpoolModel
import SpoolTestSupport
import Testing

/// Group commit: records appended without a flush are durable once the flusher says so, a flush covers every
/// record written before it, and a flush that fails fails its waiters and every append after it.
@Suite struct JournalFlusherTests {
    func object(_ text: String) -> PackWriter.Object {
        let bytes = Array(text.utf8)
        return PackWriter.Object(id: GitRepository.blobID(bytes), type: 3, bytes: bytes)
    }

    /// Makes the journal's descriptor name a pipe, which cannot be flushed: a disk that fails.
    func failFlushes(of journal: Journal) {
        var pipeEnds: [Int32] = [0, 0]
        #expect(pipe(&pipeEnds) == 0)
        #expect(dup2(pipeEnds[0], journal.fd) == journal.fd)
        close(pipeEnds[0])
        close(pipeEnds[1])
    }

    @Test func recordsWrittenWithoutAFlushAreAnsweredOnceFlushedAndReadBack() async throws {
        let dir = Fixtures.temporaryDirectory()
        let journal = try Journal(repository: dir)
        var offsets: [Int] = []
        for i in 0..<20 {
            offsets.append(try journal.append(objects: [object("record \(i)")], moves: [], flush: false))
        }
        #expect(offsets == offsets.sorted() && Set(offsets).count == 20)
        #expect(journal.flusher.pending)
        // Waiting for each, concurrently: one or a few flushes answer them all.
        let flusher = journal.flusher
        try await withThrowingTaskGroup(of: Void.self) { group in
            for offset in offsets.shuffled() { group.addTask { try await flusher.waitUntilDurable(offset) } }
            try await group.waitForAll()
        }
        #expect(!journal.flusher.pending)
        // An offset already flushed is answered at once; the records read back whole, in order.
        try await journal.flusher.waitUntilDurable(offsets[3])
        #expect(try journal.read().map { $0.objects.map(\.bytes) } == (0..<20).map { [Array("record \($0)".utf8)] })
    }

    @Test func aFailedFlushFailsItsWaitersAndEveryLaterAppend() async throws {
        let dir = Fixtures.temporaryDirectory()
        let journal = try Journal(repository: dir)
        let offset = try journal.append(objects: [object("not flushed")], moves: [], flush: false)
        failFlushes(of: journal)
        let flusher = journal.flusher
        await #expect(throws: HistoryError.self) { try await flusher.waitUntilDurable(offset) }
        #expect(flusher.failure != nil)
        // Every later wait and append fails too: what the file holds is not known to be on disk.
        await #expect(throws: HistoryError.self) { try await flusher.waitUntilDurable(offset) }
        #expect(throws: HistoryError.self) { try journal.append(objects: [object("after")], moves: [], flush: true) }
    }

    /// A request alone starts its record's flush as soon as the record is written (`start()`), before anyone waits
    /// for it: the flush runs while the request finishes its work, and covers the record without a waiter.
    @Test func aFlushStartedAtOnceNeedsNoWaiter() async throws {
        let dir = Fixtures.temporaryDirectory()
        let journal = try Journal(repository: dir)
        let offset = try journal.append(objects: [object("flushed aside")], moves: [], flush: false)
        #expect(journal.flusher.pending)
        // Without a start, nothing flushes a record nobody waits for.
        try await Task.sleep(nanoseconds: 50_000_000)
        #expect(journal.flusher.pending)
        journal.flusher.start()
        let deadline = Date().addingTimeInterval(60)
        while journal.flusher.pending, Date() < deadline { try await Task.sleep(nanoseconds: 1_000_000) }
        #expect(!journal.flusher.pending)
        // The waiter that comes after is answered at once.
        try await journal.flusher.waitUntilDurable(offset)
        // A start while a failure stands flushes nothing, and the failure stays.
        let later = try journal.append(objects: [object("not flushed")], moves: [], flush: false)
        failFlushes(of: journal)
        journal.flusher.start()
        await #expect(throws: HistoryError.self) { try await journal.flusher.waitUntilDurable(later) }
        journal.flusher.start()
        #expect(journal.flusher.failure != nil)
    }

    /// A thread of the writer's own (the one that writes packs) waits for a record to be flushed before the
    /// pack of its objects reaches the disk: it returns once a flush covers the record, and fails with the flush.
    @Test func aThreadWaitsForItsRecordToBeFlushed() throws {
        let dir = Fixtures.temporaryDirectory()
        let journal = try Journal(repository: dir)
        let offset = try journal.append(objects: [object("waited for")], moves: [], flush: false)
        #expect(journal.flusher.pending)
        try journal.flusher.waitUntilDurableBlocking(offset)
        #expect(!journal.flusher.pending)
        // Already flushed: at once.
        try journal.flusher.waitUntilDurableBlocking(offset)
        // A flush that fails fails the wait.
        let later = try journal.append(objects: [object("never flushed")], moves: [], flush: false)
        failFlushes(of: journal)
        #expect(throws: HistoryError.self) { try journal.flusher.waitUntilDurableBlocking(later) }
    }
}
