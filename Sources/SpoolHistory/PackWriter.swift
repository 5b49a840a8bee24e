internal import CGit2
internal import CGit2Shim
import Foundation
import SpoolModel

/// Writes objects to the repository as one pack and its index, in git's pack format (version 2): each object
/// compressed on its own, a blob as a delta of a similar one where that is smaller, on every core; the index written alongside; both fsynced, then renamed
/// into `objects/pack`, the index last, so a reader sees the whole pack or none of it.
///
/// Why not libgit2's packbuilder and indexer: for an inventory's first import the packbuilder spends most of
/// its time searching for the best delta among ten candidates for every object, and the
/// indexer then inflates and hashes every object again to build an index this writer already knows
/// (measured in `Benchmarks/run-history`). The format is git's documented one; every test checks the result
/// with `git fsck --strict`.
package enum PackWriter {
    struct Object {
        var id: ObjectID
        var type: UInt8
        var bytes: [UInt8]
    }

    /// One blob in ``deltaSpan`` is stored whole; the others as a delta against it (a chain of one: reading any
    /// object costs at most one delta).
    static let deltaSpan = 50

    /// One object as a pack holds it: compressed, whole or as a delta of an earlier entry of the same pack.
    struct Entry {
        var id: ObjectID
        var type: UInt8
        /// The size of what the payload inflates to (the object, or its delta).
        var size: Int
        var payload: [UInt8]
        /// The entry (by its place in the pack) this one is a delta of.
        var base: Int?
        /// The CRC-32 of the entry as the pack holds it (header and payload), once worked out: a whole object's
        /// does not depend on where it is, so a combination of packs copies it (a delta's names its base's place).
        var crc: UInt32? = nil

        init(id: ObjectID, type: UInt8, size: Int, payload: [UInt8], base: Int?) {
            (self.id, self.type, self.size, self.payload, self.base) = (id, type, size, payload, base)
            if base == nil {
                var header: [UInt8] = []
                PackWriter.appendHeader(type: type, size: size, to: &header)
                let head = header.withUnsafeBufferPointer { UInt32(crc32(0, $0.baseAddress, uInt($0.count))) }
                crc = payload.withUnsafeBufferPointer { UInt32(crc32(uLong(head), $0.baseAddress, uInt($0.count))) }
            }
        }
    }

    /// Writes `objects` (ids unique) as a pack in `folder` (`objects/pack`). Returns the pack's name.
    /// `durable: false` leaves flushing to the caller (a ``Journal`` holds the objects until a checkpoint).
    @discardableResult
    static func write(_ objects: [Object], to folder: String, durable: Bool = true) throws(HistoryError) -> String {
        try write(entries: try compress(objects, durable: durable), to: folder, durable: durable)
    }

    /// Each object's entry, compressed on every core (`parallel`) or on this thread: the object itself, or its
    /// delta when smaller.
    static func compress(_ objects: [Object], durable: Bool = true, parallel: Bool = true) throws(HistoryError) -> [Entry] {
        // Which blob each blob is a delta of: the last blob stored whole before it.
        var bases = [Int?](repeating: nil, count: objects.count)
        var lastWhole: Int?
        var blobs = 0
        for (i, o) in objects.enumerated() where o.type == 3 {
            if blobs % deltaSpan == 0 { lastWhole = i } else { bases[i] = lastWhole }
            blobs += 1
        }
        // A journaled writer's packs are small and short-lived (combined, then repacked when the server is idle):
        // compressed fast, and trees not at all. A tree is mostly object ids, which do not compress: deflating
        // one saved a quarter of its size, and it was 8.5% of the sync server's CPU in a run of 1,500 delta
        // syncs (perf), on the cores the requests wanted.
        let level = durable ? Z_DEFAULT_COMPRESSION : Z_BEST_SPEED
        func part(_ range: Range<Int>) -> [Entry?] {
            // One compressor per core for the small objects (see FixedDeflate); zlib for the large ones.
            var compressor = FixedDeflate()
            func compress(_ bytes: [UInt8]) -> [UInt8]? {
                bytes.count <= FixedDeflate.largest ? compressor.compress(bytes) : deflate(bytes, level: level)
            }
            return range.map { i in
                let o = objects[i]
                if let b = bases[i] {
                    let delta = LineDelta.encode(from: objects[b].bytes, to: o.bytes)
                    if delta.count < o.bytes.count * 3 / 4, let z = compress(delta) { return Entry(id: o.id, type: o.type, size: delta.count, payload: z, base: b) }
                }
                if !durable, o.type == 2 { return Entry(id: o.id, type: o.type, size: o.bytes.count, payload: stored(o.bytes), base: nil) }
                return compress(o.bytes).map { Entry(id: o.id, type: o.type, size: o.bytes.count, payload: $0, base: nil) }
            }
        }
        let parts = parallel ? Parallel.map(objects.count, part) : [part(0..<objects.count)]
        var entries: [Entry] = []
        entries.reserveCapacity(objects.count)
        for part in parts {
            for entry in part {
                guard let entry else { throw HistoryError(.git, "zlib could not compress an object", path: "") }
                entries.append(entry)
            }
        }
        return entries
    }

    /// Writes `entries` (ids unique, each delta after its base) as a pack in `folder`. Returns the pack's name.
    ///
    /// The pack is assembled, hashed and written in parts of about ``partBytes``, with `pause` called after each
    /// (a writer's background thread waits there while a request is being served: ``WriterActivity``). A part
    /// stays in the processor's cache from its assembling to its write: the whole pack is never held in memory.
    @discardableResult
    static func write(entries: [Entry], to folder: String, durable: Bool = true, pause: () -> Void = {}) throws(HistoryError) -> String {
        let file = try TemporaryFile(in: folder)
        var offsets: [UInt64] = []
        var crcs: [UInt32] = []
        offsets.reserveCapacity(entries.count)
        crcs.reserveCapacity(entries.count)
        let packSum: [UInt8]
        do throws(HistoryError) {
            let hash = try SHA1Stream()
            var part: [UInt8] = Array("PACK".utf8)
            part.reserveCapacity(partBytes + (1 << 16))
            Journal.put(UInt32(2), &part)
            Journal.put(UInt32(entries.count), &part)
            var before = 0
            for entry in entries {
                let start = part.count
                let offset = UInt64(before + start)
                appendHeader(type: entry.base == nil ? entry.type : 6, size: entry.size, to: &part)
                if let b = entry.base { part += distance(offset - offsets[b]) }
                part += entry.payload
                offsets.append(offset)
                if entry.base == nil, let crc = entry.crc {
                    crcs.append(crc)
                } else {
                    crcs.append(part.withUnsafeBufferPointer { UInt32(crc32(0, $0.baseAddress! + start, uInt($0.count - start))) })
                }
                if part.count >= partBytes {
                    hash.add(part)
                    try file.write(part)
                    before += part.count
                    part.removeAll(keepingCapacity: true)
                    pause()
                }
            }
            hash.add(part)
            packSum = hash.end()
            part += packSum
            try file.write(part)
        } catch {
            file.discard()
            throw error
        }
        pause()

        // The index: a fan-out by first byte, the ids in order, their CRCs, their offsets, both checksums.
        // Sorted by the ids' first 16 bytes as two big-endian integers, then the rest.
        let keys = entries.map(\.id.ordered)
        let order = entries.indices.sorted { keys[$0] < keys[$1] }
        var index: [UInt8] = [0xFF, 0x74, 0x4F, 0x63]
        index.reserveCapacity(8 + 1024 + entries.count * 28 + 40)
        Journal.put(UInt32(2), &index)
        var fanout = [UInt32](repeating: 0, count: 256)
        for e in entries { fanout[Int(e.id.firstByte)] += 1 }
        var running: UInt32 = 0
        for i in 0..<256 {
            running += fanout[i]
            Journal.put(running, &index)
        }
        for i in order { entries[i].id.append(to: &index) }
        for i in order { Journal.put(crcs[i], &index) }
        var large: [UInt64] = []
        for i in order {
            if offsets[i] < 0x8000_0000 {
                Journal.put(UInt32(offsets[i]), &index)
            } else {
                Journal.put(UInt32(0x8000_0000) | UInt32(large.count), &index)
                large.append(offsets[i])
            }
        }
        for o in large {
            Journal.put(UInt32(o >> 32), &index)
            Journal.put(UInt32(o & 0xFFFF_FFFF), &index)
        }
        index += packSum
        index += sha1(index)

        let name = "pack-" + ObjectID(bytes: packSum).hex
        let packPath = folder + "/" + name + ".pack", indexPath = folder + "/" + name + ".idx"
        if FileManager.default.fileExists(atPath: indexPath) {
            file.discard()
            return name
        }
        try file.finish(as: packPath, flush: durable)
        try durablyWrite(index, to: indexPath, in: folder, flush: durable)
        if durable { try syncFolder(folder) }
        return name
    }

    /// The size of the parts ``write(entries:to:durable:pause:)`` writes a pack in: well inside a core's cache
    /// (2 MB here); a 2.8 MB pack took 9 ms to assemble, hash and write (traced), so about 0.8 ms a part.
    static let partBytes = 256 << 10

    /// A new file in a folder, written in parts, then renamed into place (or removed).
    /// Folders whose pack writes fail as on a full disk: what tests make happen (a full file system cannot be
    /// had in every test run).
    package final class FailingFolders: @unchecked Sendable {
        private let lock = NSLock()
        private var folders = Set<String>()
        package func fail(_ folder: String, _ on: Bool) { lock.withLock { if on { folders.insert(folder) } else { folders.remove(folder) } } }
        func fails(_ folder: String) -> Bool { lock.withLock { !folders.isEmpty && folders.contains(folder) } }
    }
    package static let failingFolders = FailingFolders()

    /// A pack being written, under a temporary name in its folder. Errors name the folder: the file is removed.
    private struct TemporaryFile {
        let path: String
        let folder: String
        let fd: Int32

        init(in folder: String) throws(HistoryError) {
            self.folder = folder
            path = folder + "/tmp_pack_filamentdb_\(getpid())_\(UInt32.random(in: 0...UInt32.max))"
            if PackWriter.failingFolders.fails(folder) {
                throw HistoryError(.io, "cannot write a pack file: No space left on device (made to fail)", path: folder)
            }
            fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o444)
            guard fd >= 0 else { throw HistoryError(.io, "cannot create a pack file: \(String(cString: strerror(errno)))", path: folder) }
        }

        /// Appends `bytes` (on failure, the caller discards the file).
        func write(_ bytes: [UInt8]) throws(HistoryError) {
            var written = 0
            var failure: String?
            bytes.withUnsafeBytes { raw in
                while written < raw.count {
                    let n = Glibc.write(fd, raw.baseAddress! + written, raw.count - written)
                    if n < 0 {
                        if errno == EINTR { continue }
                        failure = String(cString: strerror(errno))
                        return
                    }
                    written += n
                }
            }
            if let failure { throw HistoryError(.io, "cannot write a pack file: \(failure)", path: folder) }
        }

        /// Flushes it (unless `flush` is false), closes it and renames it to `destination`; on failure removes it.
        func finish(as destination: String, flush: Bool) throws(HistoryError) {
            var failure: String?
            if flush, fsync(fd) != 0 { failure = String(cString: strerror(errno)) }
            close(fd)
            if failure == nil, rename(path, destination) != 0 { failure = String(cString: strerror(errno)) }
            if let failure {
                unlink(path)
                throw HistoryError(.io, "cannot write a pack file: \(failure)", path: destination)
            }
        }

        func discard() {
            close(fd)
            unlink(path)
        }
    }

    /// A SHA-1 over bytes handed in parts (OpenSSL's libcrypto, through the shim).
    private final class SHA1Stream {
        private var state: UnsafeMutableRawPointer?

        init() throws(HistoryError) {
            state = filamentdb_sha1_begin()
            guard state != nil else { throw HistoryError(.io, "no memory to hash a pack", path: "") }
        }

        func add(_ bytes: [UInt8]) {
            bytes.withUnsafeBufferPointer { filamentdb_sha1_add(state, $0.baseAddress, $0.count) }
        }

        func end() -> [UInt8] {
            var digest = [UInt8](repeating: 0, count: 20)
            digest.withUnsafeMutableBufferPointer { filamentdb_sha1_end(state, $0.baseAddress) }
            state = nil
            return digest
        }

        deinit {
            if let state {
                var digest = [UInt8](repeating: 0, count: 20)
                filamentdb_sha1_end(state, &digest)
            }
        }
    }

    /// An entry's header, appended to `out`: its type and the size of what follows once inflated.
    static func appendHeader(type: UInt8, size: Int, to out: inout [UInt8]) {
        var size = size
        var byte = UInt8(type << 4) | UInt8(size & 0x0F)
        size >>= 4
        while size > 0 {
            out.append(byte | 0x80)
            byte = UInt8(size & 0x7F)
            size >>= 7
        }
        out.append(byte)
    }

    /// How far back a delta's base starts, as git encodes it for an offset delta.
    static func distance(_ d: UInt64) -> [UInt8] {
        var d = d
        var out = [UInt8(d & 0x7F)]
        d >>= 7
        while d > 0 {
            d -= 1
            out.insert(0x80 | UInt8(d & 0x7F), at: 0)
            d >>= 7
        }
        return out
    }

    /// `bytes` compressed as a zlib stream; `nil` only if zlib fails, which it does not on memory it sized.
    static func deflate(_ bytes: [UInt8], level: Int32 = Z_DEFAULT_COMPRESSION) -> [UInt8]? {
        var bound = compressBound(uLong(bytes.count))
        var out = [UInt8](repeating: 0, count: Int(bound))
        let rc = out.withUnsafeMutableBufferPointer { buffer in
            bytes.withUnsafeBufferPointer { compress2(buffer.baseAddress, &bound, $0.baseAddress, uLong($0.count), level) }
        }
        guard rc == Z_OK else { return nil }
        out.removeLast(out.count - Int(bound))
        return out
    }

    /// `bytes` as a zlib stream of stored (uncompressed) deflate blocks (RFC 1951, 3.2.4): a copy and a checksum.
    /// zlib writes the same at level 0, but sets up a compressor each call: 52 µs for an 800-byte tree against
    /// 0.25 µs here (measured in C on this machine).
    static func stored(_ bytes: [UInt8]) -> [UInt8] {
        let blocks = max(1, (bytes.count + 65_534) / 65_535)
        return [UInt8](unsafeUninitializedCapacity: 2 + blocks * 5 + bytes.count + 4) { out, initialized in
            var at = 0
            func put(_ b: UInt8) {
                out[at] = b
                at += 1
            }
            put(0x78)
            put(0x01)
            bytes.withUnsafeBufferPointer { input in
                var start = 0
                repeat {
                    let length = min(65_535, input.count - start)
                    put(start + length == input.count ? 1 : 0)  // the final block or not; stored (type 00)
                    put(UInt8(length & 0xFF))
                    put(UInt8(length >> 8))
                    put(UInt8(~length & 0xFF))
                    put(UInt8((~length >> 8) & 0xFF))
                    if length > 0 { (out.baseAddress! + at).update(from: input.baseAddress! + start, count: length) }
                    at += length
                    start += length
                } while start < input.count
                let checksum = UInt32(adler32(1, input.baseAddress, uInt(input.count)))
                put(UInt8(checksum >> 24))
                put(UInt8((checksum >> 16) & 0xFF))
                put(UInt8((checksum >> 8) & 0xFF))
                put(UInt8(checksum & 0xFF))
            }
            initialized = at
        }
    }

    static func sha1(_ bytes: [UInt8]) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: 20)
        bytes.withUnsafeBufferPointer { input in
            digest.withUnsafeMutableBufferPointer { filamentdb_sha1(input.baseAddress, input.count, $0.baseAddress) }
        }
        return digest
    }


    /// Writes `bytes` to a new temporary file in `folder`, fsyncs it (unless `flush` is false) and renames it
    /// to `path`.
    static func durablyWrite(_ bytes: [UInt8], to path: String, in folder: String, flush: Bool = true) throws(HistoryError) {
        let file = try TemporaryFile(in: folder)
        do throws(HistoryError) {
            try file.write(bytes)
        } catch {
            file.discard()
            throw error
        }
        try file.finish(as: path, flush: flush)
    }

    static func syncFolder(_ folder: String) throws(HistoryError) {
        let fd = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw HistoryError(.io, "cannot open the pack folder: \(String(cString: strerror(errno)))", path: folder) }
        defer { close(fd) }
        if fsync(fd) != 0 { throw HistoryError(.io, "cannot flush the pack folder: \(String(cString: strerror(errno)))", path: folder) }
    }
}

#if canImport(Glibc)
import Glibc
#endif

/// git's delta format, made line by line: canonical spool files have one field per line, so a spool is mostly
/// the lines of another (field names, brand, type, diameter) and a few of its own.
enum LineDelta {
    /// Instructions that make `target` from `source`: copies of `source`'s lines, and the rest inserted.
    /// Spool files have a dozen lines, so lines are matched by a scan, not a table.
    static func encode(from source: [UInt8], to target: [UInt8]) -> [UInt8] {
        source.withUnsafeBufferPointer { src in
            target.withUnsafeBufferPointer { dst in encode(src, dst) }
        }
    }

    static func encode(_ src: UnsafeBufferPointer<UInt8>, _ dst: UnsafeBufferPointer<UInt8>) -> [UInt8] {
        // The source's lines, and where each one's field name ends (its first `:`).
        var lines: [(range: Range<Int>, colon: Int)] = []
        var start = 0
        for k in 0..<src.count where src[k] == 0x0A || k == src.count - 1 {
            var colon = start
            while colon <= k, src[colon] != 0x3A { colon += 1 }
            lines.append((start..<(k + 1), colon))
            start = k + 1
        }
        func same(_ a: Int, _ b: Int, _ n: Int) -> Bool { memcmp(src.baseAddress! + a, dst.baseAddress! + b, n) == 0 }

        var w = Writer(dst: dst, out: varint(src.count) + varint(dst.count))
        w.out.reserveCapacity(dst.count / 2)
        start = 0
        while start < dst.count {
            var end = start
            while end < dst.count, dst[end] != 0x0A { end += 1 }
            end = min(end + 1, dst.count)
            let length = end - start
            var colon = start
            while colon < end, dst[colon] != 0x3A { colon += 1 }
            if length >= 0xFF_FFFF {
                // Longer than one copy can say.
                w.flushCopy()
                w.insert(start..<end)
            } else if length > 4, let whole = lines.first(where: { $0.range.count == length && same($0.range.lowerBound, start, length) }) {
                w.copy(whole.range.lowerBound, length)
            } else if colon < end, let other = lines.first(where: { $0.colon - $0.range.lowerBound == colon - start && same($0.range.lowerBound, start, colon - start) }) {
                // The same field with another value: its common start and end copied, the rest inserted.
                let old = other.range
                let longest = min(old.count, length)
                var prefix = 0
                while prefix < longest, src[old.lowerBound + prefix] == dst[start + prefix] { prefix += 1 }
                var suffix = 0
                while suffix < longest - prefix, src[old.upperBound - 1 - suffix] == dst[end - 1 - suffix] { suffix += 1 }
                if suffix < 4 { suffix = 0 }
                w.copy(old.lowerBound, prefix)
                w.flushCopy()
                w.insert((start + prefix)..<(end - suffix))
                w.copy(old.upperBound - suffix, suffix)
            } else {
                w.flushCopy()
                w.insert(start..<end)
            }
            start = end
        }
        w.flushCopy()
        w.flushInsert()
        return w.out
    }

    /// The delta's instructions as they are made: a copy is held until the next one shows whether they join,
    /// inserted bytes until a copy follows them.
    private struct Writer {
        let dst: UnsafeBufferPointer<UInt8>
        var out: [UInt8]
        var pending: (offset: Int, count: Int)?
        var insertStart = 0, insertEnd = 0

        init(dst: UnsafeBufferPointer<UInt8>, out: [UInt8]) {
            self.dst = dst
            self.out = out
        }

        mutating func flushCopy() {
            guard let c = pending else { return }
            var op: UInt8 = 0x80
            let at = out.count
            out.append(0)
            for k in 0..<4 where (c.offset >> (8 * k)) & 0xFF != 0 {
                op |= 1 << k
                out.append(UInt8((c.offset >> (8 * k)) & 0xFF))
            }
            for k in 0..<3 where (c.count >> (8 * k)) & 0xFF != 0 {
                op |= 1 << (4 + k)
                out.append(UInt8((c.count >> (8 * k)) & 0xFF))
            }
            out[at] = op
            pending = nil
        }

        mutating func flushInsert() {
            var from = insertStart
            while from < insertEnd {
                let n = min(127, insertEnd - from)
                out.append(UInt8(n))
                out += UnsafeBufferPointer(rebasing: dst[from..<(from + n)])
                from += n
            }
            insertStart = insertEnd
        }

        /// Adds target bytes `range` as inserted, right after what is inserted already.
        mutating func insert(_ range: Range<Int>) {
            if insertStart == insertEnd { insertStart = range.lowerBound }
            insertEnd = range.upperBound
        }

        mutating func copy(_ offset: Int, _ count: Int) {
            guard count > 0 else { return }
            flushInsert()
            if let c = pending, c.offset + c.count == offset, c.count + count < 0xFF_FFFF {
                pending = (c.offset, c.count + count)
            } else {
                flushCopy()
                pending = (offset, count)
            }
        }
    }

    static func varint(_ v: Int) -> [UInt8] {
        var v = v
        var out: [UInt8] = []
        repeat {
            var b = UInt8(v & 0x7F)
            v >>= 7
            if v > 0 { b |= 0x80 }
            out.append(b)
        } while v > 0
        return out
    }
}
