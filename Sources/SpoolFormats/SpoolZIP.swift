internal import CSystemZlib
import Foundation
import SpoolModel

/// The web app's backup: a ZIP of one JSON file per spool, named `{type}-{brand}-{color}-{serial}.json`
/// with everything but ASCII letters and digits stripped from each part.
///
/// Written names are made collision-free (`-2`, `-3`… before `.json`, compared without case) because two
/// serials can strip to the same name. Each file is the spool's canonical JSON. Reading refuses entries
/// whose path could leave the folder they are extracted to (`..`, absolute paths, links) and stops at a size
/// limit per entry and in all, counted on the bytes actually inflated, not on what the header claims; the
/// writer refuses what the reader would refuse. Every offset and size in the archive is checked against the
/// file before it is used, and every entry's CRC-32 against its data.
///
/// The container is our own code over zlib (``ZIPContainer``): ZIPFoundation 0.9.20 traps on offsets past the
/// end of an archive in memory, loops forever on a deflate stream cut short on Linux, does not check the CRC
/// when extracting to a closure, and rewrites the whole central directory for every entry it adds.
public enum SpoolZIP {
    /// No spool file comes near this; a larger entry is refused, by the reader and by the writer.
    public static let maxEntryBytes = 16 << 20
    /// The most inflated bytes read from one archive, and written to one.
    public static let maxTotalBytes = 1 << 30
    /// The longest entry name before its `-N.json` (ASCII, so bytes): names stay valid file names when the
    /// archive is unpacked, whatever the length of a spool's type, brand or colour.
    static let maxStemLength = 200

    static func isZIP(_ bytes: [UInt8]) -> Bool {
        bytes.starts(with: [0x50, 0x4B, 0x03, 0x04]) || bytes.starts(with: [0x50, 0x4B, 0x05, 0x06])
    }

    static func stripped(_ s: String?) -> String {
        String((s ?? "").unicodeScalars.filter { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0)) }.map(Character.init))
    }

    /// The entry names for `spools`, in order, distinct even on a case-insensitive file system.
    public static func entryNames(_ spools: [Spool]) -> [String] {
        var taken = Set<String>()
        return spools.map { uniqueName(stem(for: $0), taken: &taken) }
    }

    static func stem(for spool: Spool) -> String {
        let parts = ["type", "brand", "color"].map { stripped(spool[$0]?.stringValue) } + [stripped(spool.serial)]
        return parts.allSatisfy(\.isEmpty) ? "spool" : String(parts.joined(separator: "-").prefix(maxStemLength))
    }

    static func uniqueName(_ stem: String, taken: inout Set<String>) -> String {
        var name = stem + ".json"
        var n = 2
        while !taken.insert(name.lowercased()).inserted {
            name = "\(stem)-\(n).json"
            n += 1
        }
        return name
    }

    // MARK: writing

    /// Streams the archive to `sink`: each entry is written once, and the central directory at the end.
    /// Spools are encoded and compressed on all cores, a batch at a time.
    static func write(_ spools: [StoredSpool], to sink: ByteSink) throws(ConversionError) {
        let output = sink.path ?? "(zip)"
        var writer = ZIPContainer.Writer()
        var taken = Set<String>()
        var total = 0
        let batch = 4096
        for start in stride(from: 0, to: spools.count, by: batch) {
            let end = min(start + batch, spools.count)
            let parts = Parallel.map(end - start) { range in
                range.map { i -> (stem: String, serial: String, file: ZIPContainer.CompressedFile) in
                    let spool = spools[start + i].spool()
                    // The spool's own time, so the same inventory always gives the same archive.
                    let file = ZIPContainer.CompressedFile(content: spool.canonicalJSON, modified: spool.lastUpdated ?? 0,
                                                           maxBytes: maxEntryBytes)
                    return (stem(for: spool), spool.serial, file)
                }
            }
            for (stem, serial, file) in parts.joined() {
                total += file.size
                if file.size > maxEntryBytes || total > maxTotalBytes {
                    let (what, limit) = file.size > maxEntryBytes ? ("its file in the ZIP would be \(file.size) bytes", maxEntryBytes)
                        : ("the ZIP's files would add up to more than \(maxTotalBytes) bytes at this spool", maxTotalBytes)
                    throw .unsupported(file: output, reason: "\(serialPhraseText(serial)): \(what), over the limit of \(limit) bytes that filamentdb reads back from a ZIP (larger archives are refused as possible zip bombs); write this inventory as JSON Lines, SQLite, CSV or a Dexie export")
                }
                try sink.append(writer.add(name: uniqueName(stem, taken: &taken), file))
            }
        }
        try sink.append(writer.finish())
    }

    // MARK: reading

    static func isSafe(_ path: String) -> Bool {
        if path.isEmpty || path.hasPrefix("/") || path.hasPrefix("\\") { return false }
        if path.count >= 2, path.dropFirst().first == ":" { return false }
        let parts = path.split(whereSeparator: { $0 == "/" || $0 == "\\" })
        return !parts.contains("..")
    }

    static func read(_ bytes: [UInt8], file: String) throws(ConversionError) -> InventoryInput {
        let entries: [ZIPContainer.Entry]
        do {
            entries = try ZIPContainer.entries(bytes).sorted { $0.path < $1.path }
        } catch {
            throw .notAnInventory(file: file, reason: error.entry.map { "entry \"\($0)\": \(error.message)" } ?? "not a readable ZIP archive: \(error.message)")
        }
        return InventoryInput { input, body throws(ConversionError) in
            try readEntries(bytes, entries, file: file, input: input, body)
        }
    }

    static func readEntries(_ bytes: [UInt8], _ entries: [ZIPContainer.Entry], file: String, input: InventoryInput, _ body: (RawRecord) -> Void) throws(ConversionError) {
        var rows = 0
        var skipped: [String] = []
        var total = 0
        for entry in entries {
            let path = entry.path
            guard isSafe(path) else {
                throw .notAnInventory(file: file, reason: "entry \"\(path)\": refused, its path leaves the archive's folder (absolute or with '..')")
            }
            switch entry.kind {
            case .directory: continue
            case .symlink:
                throw .notAnInventory(file: file, reason: "entry \"\(path)\": refused, a symbolic link")
            case .file: break
            }
            guard path.lowercased().hasSuffix(".json") else {
                skipped.append(path)
                continue
            }
            if entry.uncompressedSize > UInt64(maxEntryBytes) {
                throw .notAnInventory(file: file, reason: "entry \"\(path)\": \(entry.uncompressedSize) bytes uncompressed, over the limit of \(maxEntryBytes) for one spool file (refused as a possible zip bomb)")
            }
            let content: [UInt8]
            do {
                content = try ZIPContainer.extract(entry, from: bytes, limit: min(maxEntryBytes, maxTotalBytes - total))
            } catch {
                throw .notAnInventory(file: file, reason: "entry \"\(path)\": \(error.message)")
            }
            total += content.count
            rows += 1
            do {
                body(RawRecord(object: try JSONParser.parse(content), row: rows, entry: path))
            } catch {
                body(RawRecord(object: .null, row: rows, entry: path, problem: FieldProblem(
                    field: "(file)", message: "not valid JSON: line \(error.line), column \(error.column): \(error.message)")))
            }
        }
        var notes = ["ZIP of \(rows) spool file\(rows == 1 ? "" : "s")"]
        if !skipped.isEmpty {
            notes.append("skipped \(skipped.count) \(skipped.count == 1 ? "entry that is" : "entries that are") not .json: \(skipped.prefix(5).joined(separator: ", "))\(skipped.count > 5 ? ", …" : "")")
        }
        input.notes = notes
    }
}

/// The ZIP container (PKWARE APPNOTE 6.3): the central directory, local headers, ZIP64 records; zlib does the
/// deflate and the CRC-32. Only what the backup needs: stored and deflated files, one disk, no encryption.
enum ZIPContainer {
    /// What is wrong with an archive, and in which entry.
    struct Damage: Error {
        var entry: String?
        var message: String
    }

    enum Kind { case file, directory, symlink }

    /// An entry as the central directory describes it, every offset and size checked against the file.
    struct Entry {
        var path: String
        var kind: Kind
        var method: UInt16
        var crc: UInt32
        var compressedSize: UInt64
        var uncompressedSize: UInt64
        /// Where its data starts (after the local header), and the data's end is within the file.
        var dataOffset: UInt64
    }

    // Little-endian fields, read only after a bounds check.
    struct Bytes {
        let bytes: [UInt8]
        var count: UInt64 { UInt64(bytes.count) }

        /// `n` bytes at `offset` lie within the file.
        func has(_ n: UInt64, at offset: UInt64) -> Bool { offset <= count && n <= count - offset }

        func u16(_ o: UInt64) -> UInt16 { UInt16(bytes[Int(o)]) | UInt16(bytes[Int(o) + 1]) << 8 }
        func u32(_ o: UInt64) -> UInt32 { UInt32(u16(o)) | UInt32(u16(o + 2)) << 16 }
        func u64(_ o: UInt64) -> UInt64 { UInt64(u32(o)) | UInt64(u32(o + 4)) << 32 }
    }

    static let endSignature: UInt32 = 0x0605_4B50
    static let zip64EndSignature: UInt32 = 0x0606_4B50
    static let zip64LocatorSignature: UInt32 = 0x0706_4B50
    static let centralSignature: UInt32 = 0x0201_4B50
    static let localSignature: UInt32 = 0x0403_4B50

    /// The entries of the archive in `data`, in central directory order.
    static func entries(_ data: [UInt8]) throws(Damage) -> [Entry] {
        let b = Bytes(bytes: data)
        func fail(_ message: String, _ entry: String? = nil) -> Damage { Damage(entry: entry, message: message) }
        // The end record: the last signature whose comment ends at or before the end of the file.
        guard b.count >= 22 else { throw fail("too short for a ZIP (\(b.count) bytes): the file is truncated") }
        var end: UInt64?
        var at = b.count - 22
        let lowest = at > 65_535 ? at - 65_535 : 0
        while true {
            if b.u32(at) == endSignature, UInt64(b.u16(at + 20)) <= b.count - at - 22 {
                end = at
                break
            }
            if at == lowest { break }
            at -= 1
        }
        guard let end else { throw fail("no end of central directory record: the file is truncated or not a ZIP") }
        if b.u16(end + 4) != 0 || b.u16(end + 6) != 0 { throw fail("a ZIP split over several disks, which filamentdb does not read") }
        var count = UInt64(b.u16(end + 10))
        var size = UInt64(b.u32(end + 12))
        var offset = UInt64(b.u32(end + 16))
        var directoryEnd = end
        // ZIP64: a locator just before the end record points at the ZIP64 end record.
        if end >= 20, b.u32(end - 20) == zip64LocatorSignature {
            let record = b.u64(end - 20 + 8)
            guard end >= 76, record <= end - 76, b.u32(record) == zip64EndSignature else {
                throw fail("the ZIP64 end of central directory record (at byte \(record)) is not where its locator says: the file is damaged")
            }
            count = b.u64(record + 32)
            size = b.u64(record + 40)
            offset = b.u64(record + 48)
            directoryEnd = record
        }
        guard offset <= directoryEnd, size <= directoryEnd - offset else {
            throw fail("the central directory (\(size) bytes at byte \(offset)) lies past the end of the file (\(b.count) bytes) or over its end record: the file is truncated or damaged")
        }
        guard count <= size / 46 else {
            throw fail("the end record counts \(count) entries, more than its central directory of \(size) bytes can hold: the file is damaged")
        }
        let limit = offset + size
        var entries: [Entry] = []
        entries.reserveCapacity(Int(count))
        var p = offset
        for n in 0..<count {
            guard limit - p >= 46, b.u32(p) == centralSignature else {
                throw fail("central directory entry \(n + 1) (at byte \(p)) is not a central directory header: the file is damaged")
            }
            let nameLength = UInt64(b.u16(p + 28)), extraLength = UInt64(b.u16(p + 30)), commentLength = UInt64(b.u16(p + 32))
            let next = p + 46 + nameLength + extraLength + commentLength
            guard next <= limit else {
                throw fail("central directory entry \(n + 1) runs past the end of the central directory: the file is damaged")
            }
            let nameBytes = data[Int(p + 46)..<Int(p + 46 + nameLength)]
            let path = String(decoding: nameBytes, as: UTF8.self)
            let flags = b.u16(p + 8)
            let method = b.u16(p + 10)
            var compressed = UInt64(b.u32(p + 20)), uncompressed = UInt64(b.u32(p + 24)), local = UInt64(b.u32(p + 42))
            // ZIP64 extra field: the 64-bit values of the fields that are all ones, in this order.
            if compressed == 0xFFFF_FFFF || uncompressed == 0xFFFF_FFFF || local == 0xFFFF_FFFF {
                var q = p + 46 + nameLength
                let extraEnd = q + extraLength
                var found = false
                while extraEnd - q >= 4 {
                    let id = b.u16(q), length = UInt64(b.u16(q + 2))
                    guard length <= extraEnd - q - 4 else { break }
                    if id == 0x0001 {
                        var r = q + 4
                        let rEnd = r + length
                        func take(_ value: inout UInt64) -> Bool {
                            guard value == 0xFFFF_FFFF else { return true }
                            guard rEnd - r >= 8 else { return false }
                            value = b.u64(r)
                            r += 8
                            return true
                        }
                        found = take(&uncompressed) && take(&compressed) && take(&local)
                        break
                    }
                    q += 4 + length
                }
                guard found else { throw fail("its sizes or offset need a ZIP64 extra field, and it has none that holds them: the file is damaged", path) }
            }
            if flags & 0x41 != 0 { throw fail("encrypted, which filamentdb does not read", path) }
            let host = b.u16(p + 4) >> 8
            let mode = (b.u32(p + 38) >> 16) & 0o170000
            let kind: Kind
            if host == 3 || host == 19, mode == 0o120000 {
                kind = .symlink
            } else if path.hasSuffix("/") || ((host == 3 || host == 19) && mode == 0o040000) || (host == 0 && b.u32(p + 38) & 0x10 != 0) {
                kind = .directory
            } else {
                kind = .file
            }
            if kind == .file, method != 0, method != 8 {
                throw fail("compression method \(method), which filamentdb does not read (stored and deflate are)", path)
            }
            // The local header, and the data after it, lie within the file.
            guard b.has(30, at: local) else {
                throw fail("its local header (at byte \(local)) is past the end of the file (\(b.count) bytes): the file is truncated or damaged", path)
            }
            guard b.u32(local) == localSignature else {
                throw fail("no local header where the central directory says (byte \(local)): the file is damaged", path)
            }
            let dataOffset = local + 30 + UInt64(b.u16(local + 26)) + UInt64(b.u16(local + 28))
            guard dataOffset <= b.count, compressed <= b.count - dataOffset else {
                throw fail("its data (\(compressed) bytes from byte \(dataOffset)) runs past the end of the file (\(b.count) bytes): the file is truncated or damaged", path)
            }
            if method == 0, kind == .file, compressed != uncompressed {
                throw fail("stored, but its sizes disagree (\(compressed) and \(uncompressed) bytes): the file is damaged", path)
            }
            entries.append(Entry(path: path, kind: kind, method: method, crc: b.u32(p + 16), compressedSize: compressed,
                                 uncompressedSize: uncompressed, dataOffset: dataOffset))
            p = next
        }
        return entries
    }

    /// The data of `entry`, inflated, at most `limit` bytes, its size and CRC-32 checked.
    static func extract(_ entry: Entry, from data: [UInt8], limit: Int) throws(Damage) -> [UInt8] {
        let start = Int(entry.dataOffset), end = start + Int(entry.compressedSize)
        let out: [UInt8]
        if entry.method == 0 {
            guard entry.compressedSize <= UInt64(limit) else { throw Damage(message: tooLarge(limit)) }
            out = Array(data[start..<end])
        } else {
            out = try data.withUnsafeBufferPointer { all throws(Damage) in
                try inflate(UnsafeBufferPointer(rebasing: all[start..<end]), limit: limit)
            }
            guard UInt64(out.count) == entry.uncompressedSize else {
                throw Damage(message: "inflates to \(out.count) bytes where the archive says \(entry.uncompressedSize): the entry is damaged")
            }
        }
        let crc = checksum(out)
        guard crc == entry.crc else {
            throw Damage(message: "the CRC-32 of its data is \(hex(crc)), the archive says \(hex(entry.crc)): the entry is damaged")
        }
        return out
    }

    static func tooLarge(_ limit: Int) -> String {
        "inflates past the limit of \(limit) bytes (refused as a possible zip bomb)"
    }

    static func hex(_ v: UInt32) -> String { String(format: "0x%08x", v) }

    static func checksum(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBufferPointer { b in
            var crc = crc32(0, nil, 0)
            var rest = UnsafeBufferPointer(rebasing: b[...])
            // zlib takes at most 4 GiB at a time.
            while !rest.isEmpty {
                let n = min(rest.count, 1 << 30)
                crc = crc32(crc, rest.baseAddress, uInt(n))
                rest = UnsafeBufferPointer(rebasing: rest[n...])
            }
            return UInt32(crc)
        }
    }

    /// A raw deflate stream, inflated; an error if it is damaged, does not end within `input`, or grows
    /// past `limit` bytes.
    static func inflate(_ input: UnsafeBufferPointer<UInt8>, limit: Int) throws(Damage) -> [UInt8] {
        var stream = z_stream()
        guard inflateInit2_(&stream, -MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw Damage(message: "zlib cannot start inflating (out of memory?)")
        }
        defer { inflateEnd(&stream) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        var rest = input
        while true {
            if stream.avail_in == 0, !rest.isEmpty {
                let n = min(rest.count, 1 << 30)
                stream.next_in = UnsafeMutablePointer(mutating: rest.baseAddress)
                stream.avail_in = uInt(n)
                rest = UnsafeBufferPointer(rebasing: rest[n...])
            }
            let result = chunk.withUnsafeMutableBufferPointer { c -> Int32 in
                stream.next_out = c.baseAddress
                stream.avail_out = uInt(c.count)
                return CSystemZlib.inflate(&stream, Z_NO_FLUSH)
            }
            let produced = chunk.count - Int(stream.avail_out)
            if out.count + produced > limit { throw Damage(message: tooLarge(limit)) }
            out.append(contentsOf: chunk[..<produced])
            switch result {
            case Z_STREAM_END:
                return out
            case Z_OK:
                continue
            case Z_BUF_ERROR where stream.avail_in == 0 && rest.isEmpty:
                throw Damage(message: "its deflate data ends before the deflate stream does: the file is truncated or damaged")
            default:
                let reason = stream.msg.map { String(cString: $0) } ?? "error \(result)"
                throw Damage(message: "its deflate data is damaged (zlib: \(reason))")
            }
        }
    }

    /// One entry's content, checksummed and deflated (or kept as it is, if deflate does not make it smaller).
    struct CompressedFile {
        var size: Int
        var crc: UInt32
        var method: UInt16
        var data: [UInt8]
        var time: UInt16
        var date: UInt16

        /// A file of more than `maxBytes` is not compressed: the writer refuses it.
        init(content: [UInt8], modified: Int64, maxBytes: Int) {
            size = content.count
            (time, date) = ZIPContainer.dosTime(modified)
            guard content.count <= maxBytes else {
                (crc, method, data) = (0, 0, [])
                return
            }
            crc = ZIPContainer.checksum(content)
            if let deflated = ZIPContainer.deflate(content), deflated.count < content.count {
                (method, data) = (8, deflated)
            } else {
                (method, data) = (0, content)
            }
        }
    }

    /// `content` as a raw deflate stream; `nil` if zlib fails.
    static func deflate(_ content: [UInt8]) -> [UInt8]? {
        var stream = z_stream()
        guard deflateInit2_(&stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY,
                            ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else { return nil }
        defer { deflateEnd(&stream) }
        let bound = Int(deflateBound(&stream, uLong(content.count)))
        var out = [UInt8](repeating: 0, count: bound)
        let result = content.withUnsafeBufferPointer { input in
            out.withUnsafeMutableBufferPointer { output in
                stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
                stream.avail_in = uInt(input.count)
                stream.next_out = output.baseAddress
                stream.avail_out = uInt(output.count)
                return CSystemZlib.deflate(&stream, Z_FINISH)
            }
        }
        guard result == Z_STREAM_END else { return nil }
        out.removeLast(Int(stream.avail_out))
        return out
    }

    /// MS-DOS time and date (UTC) of epoch milliseconds, within the years DOS dates hold (1980–2107).
    static func dosTime(_ ms: Int64) -> (time: UInt16, date: UInt16) {
        let seconds = min(max(ms / 1000, 315_532_800), 4_354_819_199)
        let days = Int(seconds / 86_400), rest = Int(seconds % 86_400)
        // Howard Hinnant's civil_from_days.
        let z = days + 719_468
        let era = z / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        let time = UInt16(rest / 3600) << 11 | UInt16(rest % 3600 / 60) << 5 | UInt16(rest % 60 / 2)
        let date = UInt16(year - 1980) << 9 | UInt16(month) << 5 | UInt16(day)
        return (time, date)
    }

    /// Writes local headers and data as entries come, then the central directory (with ZIP64 records when
    /// there are more than 65,535 entries or offsets past 4 GiB).
    struct Writer {
        private(set) var offset: UInt64 = 0
        private var central: [UInt8] = []
        private var count: UInt64 = 0

        static func le<T: FixedWidthInteger>(_ v: T, into out: inout [UInt8]) {
            withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) }
        }

        /// The local header and data of one entry, to write next.
        mutating func add(name: String, _ file: CompressedFile) -> [UInt8] {
            let nameBytes = Array(name.utf8)
            var local: [UInt8] = []
            local.reserveCapacity(30 + nameBytes.count + file.data.count)
            func common(_ out: inout [UInt8], version: UInt16) {
                Self.le(version, into: &out)
                Self.le(UInt16(0x0800), into: &out)  // names are UTF-8
                Self.le(file.method, into: &out)
                Self.le(file.time, into: &out)
                Self.le(file.date, into: &out)
                Self.le(file.crc, into: &out)
                Self.le(UInt32(file.data.count), into: &out)
                Self.le(UInt32(file.size), into: &out)
                Self.le(UInt16(nameBytes.count), into: &out)
            }
            Self.le(ZIPContainer.localSignature, into: &local)
            common(&local, version: 20)
            Self.le(UInt16(0), into: &local)
            local += nameBytes
            local += file.data

            let zip64 = offset >= 0xFFFF_FFFF
            Self.le(ZIPContainer.centralSignature, into: &central)
            Self.le(UInt16(3 << 8 | (zip64 ? 45 : 20)), into: &central)  // made by: Unix
            common(&central, version: zip64 ? 45 : 20)
            Self.le(UInt16(zip64 ? 12 : 0), into: &central)  // extra
            Self.le(UInt16(0), into: &central)  // comment
            Self.le(UInt16(0), into: &central)  // disk
            Self.le(UInt16(0), into: &central)  // internal attributes
            Self.le(UInt32(0o100644) << 16, into: &central)  // a regular file, rw-r--r--
            Self.le(zip64 ? UInt32.max : UInt32(offset), into: &central)
            central += nameBytes
            if zip64 {
                Self.le(UInt16(1), into: &central)
                Self.le(UInt16(8), into: &central)
                Self.le(offset, into: &central)
            }
            offset += UInt64(local.count)
            count += 1
            return local
        }

        /// The central directory and the end records.
        func finish() -> [UInt8] {
            var out = central
            let start = offset, size = UInt64(central.count)
            if count > 0xFFFF || start >= 0xFFFF_FFFF || size >= 0xFFFF_FFFF {
                let record = start + size
                Self.le(ZIPContainer.zip64EndSignature, into: &out)
                Self.le(UInt64(44), into: &out)
                Self.le(UInt16(3 << 8 | 45), into: &out)
                Self.le(UInt16(45), into: &out)
                Self.le(UInt32(0), into: &out)
                Self.le(UInt32(0), into: &out)
                Self.le(count, into: &out)
                Self.le(count, into: &out)
                Self.le(size, into: &out)
                Self.le(start, into: &out)
                Self.le(ZIPContainer.zip64LocatorSignature, into: &out)
                Self.le(UInt32(0), into: &out)
                Self.le(record, into: &out)
                Self.le(UInt32(1), into: &out)
            }
            Self.le(ZIPContainer.endSignature, into: &out)
            Self.le(UInt32(0), into: &out)
            Self.le(UInt16(min(count, 0xFFFF)), into: &out)
            Self.le(UInt16(min(count, 0xFFFF)), into: &out)
            Self.le(UInt32(min(size, 0xFFFF_FFFF)), into: &out)
            Self.le(UInt32(min(start, 0xFFFF_FFFF)), into: &out)
            Self.le(UInt16(0), into: &out)
            return out
        }
    }
}
