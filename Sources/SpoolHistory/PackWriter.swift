internal import CGit2
import Foundation
import SpoolModel

/// Writes objects to the repository as one pack and its index, in git's pack format (version 2): each object
/// compressed on its own (no deltas), on every core; the index written alongside; both fsynced, then renamed
/// into `objects/pack`, the index last, so a reader sees the whole pack or none of it.
///
/// Why not libgit2's packbuilder and indexer: for an inventory's first import the packbuilder spends most of
/// its time searching for deltas between spools that share little, hashing with collision detection, and the
/// indexer then inflates and hashes every object again to build an index this writer already knows
/// (measured in `Benchmarks/run-history`). The format is git's documented one; every test checks the result
/// with `git fsck --strict`.
enum PackWriter {
    struct Object {
        var id: ObjectID
        var type: UInt8
        var bytes: [UInt8]
    }

    /// Writes `objects` (ids unique) as a pack in `folder` (`objects/pack`). Returns the pack's name.
    @discardableResult
    static func write(_ objects: [Object], to folder: String) throws(HistoryError) -> String {
        // Each object's entry: its type and size, then its bytes compressed; and the entry's CRC-32.
        let parts = Parallel.map(objects.count) { range -> [(entry: [UInt8], crc: UInt32)?] in
            range.map { i in entry(objects[i]) }
        }
        var entries: [(entry: [UInt8], crc: UInt32)] = []
        entries.reserveCapacity(objects.count)
        for part in parts {
            for e in part {
                guard let e else { throw HistoryError(.git, "zlib could not compress an object", path: folder) }
                entries.append(e)
            }
        }
        var pack: [UInt8] = Array("PACK".utf8) + bigEndian(UInt32(2)) + bigEndian(UInt32(objects.count))
        pack.reserveCapacity(entries.reduce(32) { $0 + $1.entry.count })
        var offsets: [UInt64] = []
        offsets.reserveCapacity(objects.count)
        for e in entries {
            offsets.append(UInt64(pack.count))
            pack += e.entry
        }
        let packSum = sha1(pack)
        pack += packSum

        // The index: a fan-out by first byte, the ids in order, their CRCs, their offsets, both checksums.
        let order = objects.indices.sorted { objects[$0].id.bytes.lexicographicallyPrecedes(objects[$1].id.bytes) }
        var index: [UInt8] = [0xFF, 0x74, 0x4F, 0x63] + bigEndian(UInt32(2))
        var fanout = [UInt32](repeating: 0, count: 256)
        for o in objects { fanout[Int(o.id.bytes[0])] += 1 }
        var running: UInt32 = 0
        for i in 0..<256 {
            running += fanout[i]
            index += bigEndian(running)
        }
        for i in order { index += objects[i].id.bytes }
        for i in order { index += bigEndian(entries[i].crc) }
        var large: [UInt64] = []
        for i in order {
            if offsets[i] < 0x8000_0000 {
                index += bigEndian(UInt32(offsets[i]))
            } else {
                index += bigEndian(UInt32(0x8000_0000) | UInt32(large.count))
                large.append(offsets[i])
            }
        }
        for o in large { index += bigEndian(UInt32(o >> 32)) + bigEndian(UInt32(o & 0xFFFF_FFFF)) }
        index += packSum
        index += sha1(index)

        let name = "pack-" + ObjectID(bytes: packSum).hex
        let packPath = folder + "/" + name + ".pack", indexPath = folder + "/" + name + ".idx"
        if FileManager.default.fileExists(atPath: indexPath) { return name }
        try durablyWrite(pack, to: packPath, in: folder)
        try durablyWrite(index, to: indexPath, in: folder)
        try syncFolder(folder)
        return name
    }

    /// An object's pack entry and its CRC-32; `nil` only if zlib fails, which it does not on memory it sized.
    static func entry(_ object: Object) -> (entry: [UInt8], crc: UInt32)? {
        var header: [UInt8] = []
        var size = object.bytes.count
        var byte = UInt8(object.type << 4) | UInt8(size & 0x0F)
        size >>= 4
        while size > 0 {
            header.append(byte | 0x80)
            byte = UInt8(size & 0x7F)
            size >>= 7
        }
        header.append(byte)
        var bound = compressBound(uLong(object.bytes.count))
        var out = header + [UInt8](repeating: 0, count: Int(bound))
        let rc = out.withUnsafeMutableBufferPointer { buffer in
            object.bytes.withUnsafeBufferPointer { source in
                compress2(buffer.baseAddress! + header.count, &bound, source.baseAddress, uLong(source.count), Z_DEFAULT_COMPRESSION)
            }
        }
        guard rc == Z_OK else { return nil }
        out.removeLast(out.count - header.count - Int(bound))
        let crc = out.withUnsafeBufferPointer { UInt32(crc32(0, $0.baseAddress, uInt($0.count))) }
        return (out, crc)
    }

    static func sha1(_ bytes: [UInt8]) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: 20)
        _ = bytes.withUnsafeBufferPointer { input in
            digest.withUnsafeMutableBufferPointer { mbedtls_sha1_ret(input.baseAddress, input.count, $0.baseAddress) }
        }
        return digest
    }

    static func bigEndian(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)] }

    /// Writes `bytes` to a new temporary file in `folder`, fsyncs it and renames it to `path`.
    static func durablyWrite(_ bytes: [UInt8], to path: String, in folder: String) throws(HistoryError) {
        let temporary = folder + "/tmp_pack_filamentdb_\(getpid())_\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o444)
        guard fd >= 0 else { throw HistoryError(.io, "cannot create a pack file: \(String(cString: strerror(errno)))", path: temporary) }
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
        if failure == nil, fsync(fd) != 0 { failure = String(cString: strerror(errno)) }
        close(fd)
        if failure == nil, rename(temporary, path) != 0 { failure = String(cString: strerror(errno)) }
        if let failure {
            unlink(temporary)
            throw HistoryError(.io, "cannot write a pack file: \(failure)", path: path)
        }
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
