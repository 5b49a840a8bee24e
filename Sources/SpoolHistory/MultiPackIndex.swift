internal import CGit2
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The history's `objects/pack/multi-pack-index` (git's own answer to many packs, which libgit2 and git both read):
/// one sorted index of the objects of many packs, so that a lookup is one binary search, not one in each pack's
/// index.
///
/// Why: a server whose history grew past what a collection can rewrite while no request comes (a repack that gives
/// way to every request, ``InventoryStore/collectGarbageIfDue()``) keeps every pack its combining leaves
/// (``GitRepository/combineBytes``). A history of 4.5 million objects in 574 packs, after about 30,000 syncs on
/// this machine, answered the first 300 delta syncs after a start at a p50 of 3.3-4.6 ms (7% of the server's CPU
/// in libgit2's binary searches of the packs' indexes), against 1.0-1.1 ms with an index of its packs, and the
/// 1,000 after them at 1.5-1.7 against 1.1.
///
/// Written while the server is idle, once there are ``from`` packs and ``again`` more than the index lists, on a
/// thread of its own at idle priority (libgit2's writer: 2.8 s for those 4.5 million objects, 0.13 s for the
/// 450,000 of a 100,000-spool upload). It lists only packs that stay: not those the compressor may still combine,
/// nor those it combined and that wait to be removed (``BackgroundCompressor/settledPacks(in:)``). A collection,
/// which removes every pack, removes the index first (``removing(_:)``), and an index written meanwhile is not
/// put in place. Written as a pack is (``PackWriter/durablyWrite(_:to:in:flush:)``), the folder flushed. Nothing depends on
/// it: without it (or with it gone), every pack is searched as before.
package final class MultiPackIndex: @unchecked Sendable {
    static let fileName = "multi-pack-index"
    /// From how many packs an index is written.
    package static let from = 32
    /// How many packs more than the index lists make it written again.
    package static let again = 16

    let folder: String
    private let lock = NSLock()
    /// Counts the collections that removed the index (an index of packs listed before one is not put in place).
    private var generation = 0
    /// How many packs the folder held when the index on disk was listed (0: none, or one of an earlier process,
    /// not known). Compared with the folder's count, not with the packs the index lists: those it leaves out (the
    /// compressor's recent and leaving ones, up to a few dozen) made every idle moment under load write it again
    /// (every 15-20 s, 3 s each, on a history of 4.5 million objects: found by an attacker's pass).
    private var counted = 0
    private var writing = false
    /// Whether an index was put in place since ``takeWritten()``.
    private var written = false
    private let thread = IdleThread(name: "filamentdb.pack-index")

    init(folder: String) { self.folder = folder }

    /// Whether `packs` packs call for an index (none is being written).
    func due(packs: Int) -> Bool {
        lock.withLock { !writing && packs >= Self.from && packs - counted >= Self.again }
    }

    /// Writes an index of `packs` (names without extension; `inFolder` packs were there when they were listed) on
    /// the index's thread, and puts it in place unless a collection removed the index meanwhile.
    func write(_ packs: [String], inFolder: Int) {
        let start: Int? = lock.withLock {
            guard !writing else { return nil }
            writing = true
            return generation
        }
        guard let start else { return }
        thread.async { [self] in
            let bytes = Self.build(folder: folder, packs: packs)
            lock.withLock {
                defer { writing = false }
                // (A pack another process's collection removed meanwhile: not put in place.)
                guard let bytes, generation == start,
                      packs.allSatisfy({ access(folder + "/" + $0 + ".pack", F_OK) == 0 }), put(bytes) else { return }
                counted = inFolder
                written = true
            }
        }
    }

    /// Whether an index was put in place since the last call (libgit2 reads it once the database is refreshed).
    func takeWritten() -> Bool {
        lock.withLock {
            defer { written = false }
            return written
        }
    }

    /// Runs `body`, which removes packs any index may list, with the index removed first: a reader never finds an
    /// index that names a pack that is gone, and none written meanwhile is put in place.
    func removing<T>(_ body: () throws -> T) rethrows -> T {
        try lock.withLock {
            generation += 1
            unlink(folder + "/" + Self.fileName)
            counted = 0
            return try body()
        }
    }

    /// Ends after the block being run (tests wait for an index this way).
    func waitForWriting() { thread.sync {} }

    /// The index of `packs`, as libgit2 writes it (`nil`: it could not, a pack gone meanwhile among others).
    private static func build(folder: String, packs: [String]) -> [UInt8]? {
        var writer: OpaquePointer?
        guard git_midx_writer_new(&writer, folder) == 0 else { return nil }
        defer { git_midx_writer_free(writer) }
        for name in packs {
            // Absolute: libgit2 resolves a relative one against the folder again.
            guard git_midx_writer_add(writer, folder + "/" + name + ".idx") == 0 else { return nil }
        }
        var buffer = git_buf()
        guard git_midx_writer_dump(&buffer, writer) == 0 else { return nil }
        defer { git_buf_dispose(&buffer) }
        guard let base = buffer.ptr else { return nil }
        return Array(UnsafeRawBufferPointer(start: base, count: buffer.size))
    }

    /// Writes `bytes` as a pack's files are written (a temporary file, flushed, renamed), then flushes the folder.
    private func put(_ bytes: [UInt8]) -> Bool {
        do throws(HistoryError) {
            try PackWriter.durablyWrite(bytes, to: folder + "/" + Self.fileName, in: folder)
            try PackWriter.syncFolder(folder)
            return true
        } catch {
            return false
        }
    }
}
