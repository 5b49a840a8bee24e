import Foundation
import SpoolModel
import SpoolTestSupport
import Testing

/// A ZIP built byte by byte, so a test can put any value in any field.
struct RawZIP {
    struct Entry {
        var name: String
        var data: [UInt8]
        /// 0: stored; 8: deflate (then `data` is the raw deflate stream and `size` the inflated size).
        var method: UInt16 = 0
        var size: UInt32? = nil
        /// The CRC-32 written to both headers; `nil` for the right one.
        var crc: UInt32? = nil
        /// The local header offset written to the central directory; `nil` for the right one.
        var localOffset: UInt32? = nil
        /// The compressed size written to both headers; `nil` for the right one.
        var compressedSize: UInt32? = nil
    }

    static let crcTable: [UInt32] = (0..<256).map { n -> UInt32 in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes { c = crcTable[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        return c ^ 0xFFFF_FFFF
    }

    static func le(_ v: UInt64, _ n: Int) -> [UInt8] { (0..<n).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }

    /// The archive; `centralOffset` replaces the end record's offset of the central directory.
    static func build(_ entries: [Entry], centralOffset: UInt32? = nil) -> [UInt8] {
        var out: [UInt8] = [], central: [UInt8] = []
        for e in entries {
            let offset = out.count
            let crc = e.crc ?? crc32(e.method == 0 ? e.data : [])
            let size = e.size ?? UInt32(e.data.count)
            let name = Array(e.name.utf8)
            let common = le(20, 2) + le(0, 2) + le(UInt64(e.method), 2) + le(0, 2) + le(0x21, 2) + le(UInt64(crc), 4)
                + le(UInt64(e.compressedSize ?? UInt32(e.data.count)), 4) + le(UInt64(size), 4) + le(UInt64(name.count), 2) + le(0, 2)
            out += le(0x0403_4B50, 4) + common + name + e.data
            central += le(0x0201_4B50, 4) + le(0x0314, 2) + common + le(0, 2) + le(0, 2) + le(0, 2) + le(0o100644 << 16, 4)
                + le(UInt64(e.localOffset ?? UInt32(offset)), 4) + name
        }
        let start = out.count
        out += central
        out += le(0x0605_4B50, 4) + le(0, 4) + le(UInt64(entries.count), 2) + le(UInt64(entries.count), 2)
            + le(UInt64(central.count), 4) + le(UInt64(centralOffset ?? UInt32(start)), 4) + le(0, 2)
        return out
    }
}

/// ZIP input that is damaged or hostile, and ZIP output the reader must take back (issue 10, items 2, 7 and 9).
@Suite(.serialized) struct ZIPHardeningTests {
    let dir = Fixtures.temporaryDirectory()
    static let spool = Array(#"{"serial":"Z1","lastUpdated":1}"#.utf8)

    /// Converts `bytes` as a ZIP; a crash or a hang fails the test, and so does an output file or a leftover.
    func convertFails(_ bytes: [UInt8], _ name: String) throws -> String {
        let input = dir + "/" + name
        try Data(bytes).write(to: URL(fileURLWithPath: input))
        let out = dir + "/out-\(name).jsonl"
        let r = try CLI.run(["convert", input, out], timeout: 20)
        #expect(r.signal == nil && !r.timedOut && r.status == 1, "\(name): \(r.summary)")
        #expect(!FileManager.default.fileExists(atPath: out), "\(name)")
        #expect(leftovers(in: dir).isEmpty, "\(name)")
        return r.stderr
    }

    @Test func theSameArchiveUndamagedIsRead() throws {
        let input = dir + "/good.zip"
        try Data(RawZIP.build([.init(name: "spool.json", data: Self.spool)])).write(to: URL(fileURLWithPath: input))
        let r = try CLI.run(["convert", input, dir + "/good.jsonl"], timeout: 20)
        #expect(r.status == 0, "\(r.summary)")
        #expect(try serials(ofJSONLines: dir + "/good.jsonl") == ["Z1"])
    }

    @Test func aCentralDirectoryPastTheEndOfTheFile() throws {
        let stderr = try convertFails(RawZIP.build([.init(name: "spool.json", data: Self.spool)], centralOffset: 0x7FFF_0000), "cd-past-end.zip")
        #expect(stderr.contains("cd-past-end.zip: not a readable ZIP archive: the central directory") && stderr.contains("past the end of the file"), "\(stderr)")
    }

    @Test func aLocalHeaderPastTheEndOfTheFile() throws {
        let stderr = try convertFails(RawZIP.build([.init(name: "spool.json", data: Self.spool, localOffset: 0x7FFF_0000)]), "local-past-end.zip")
        #expect(stderr.contains(#"local-past-end.zip: entry "spool.json": its local header (at byte 2147418112) is past the end of the file"#), "\(stderr)")
    }

    @Test func aZIP64EndRecordPointingPastTheEnd() throws {
        // A valid one-entry archive whose end record defers to a ZIP64 record, which puts the central
        // directory at byte 2^63 + 5.
        var bytes = RawZIP.build([.init(name: "spool.json", data: Self.spool)])
        bytes.removeLast(22)
        let zip64 = bytes.count
        bytes += RawZIP.le(0x0606_4B50, 4) + RawZIP.le(44, 8) + RawZIP.le(45, 2) + RawZIP.le(45, 2) + RawZIP.le(0, 4) + RawZIP.le(0, 4)
            + RawZIP.le(1, 8) + RawZIP.le(1, 8) + RawZIP.le(56, 8) + RawZIP.le(1 << 63 + 5, 8)
        bytes += RawZIP.le(0x0706_4B50, 4) + RawZIP.le(0, 4) + RawZIP.le(UInt64(zip64), 8) + RawZIP.le(1, 4)
        bytes += RawZIP.le(0x0605_4B50, 4) + RawZIP.le(0, 4) + RawZIP.le(0xFFFF, 2) + RawZIP.le(0xFFFF, 2)
            + RawZIP.le(0xFFFF_FFFF, 4) + RawZIP.le(0xFFFF_FFFF, 4) + RawZIP.le(0, 2)
        let stderr = try convertFails(bytes, "zip64-past-end.zip")
        #expect(stderr.contains("the central directory") && stderr.contains("past the end of the file"), "\(stderr)")
    }

    @Test func entryDataPastTheEndOfTheFile() throws {
        let stderr = try convertFails(RawZIP.build([.init(name: "spool.json", data: Self.spool, compressedSize: 0x7F00_0000)]), "data-past-end.zip")
        #expect(stderr.contains(#"entry "spool.json": its data (2130706432 bytes from byte 40) runs past the end of the file"#), "\(stderr)")
    }

    /// A deflate stream that never ends: a stored block announcing 65,535 bytes, then the end of the file.
    @Test func aDeflateStreamCutShortIsAnErrorNotAHang() throws {
        let stream: [UInt8] = [0x00, 0xFF, 0xFF, 0x00, 0x00] + Array(#"{"serial":"#.utf8)
        let stderr = try convertFails(RawZIP.build([.init(name: "spool.json", data: stream, method: 8, size: 65_535, crc: 0)]), "cut-deflate.zip")
        #expect(stderr.contains(#"entry "spool.json""#) && stderr.contains("deflate data"), "\(stderr)")
    }

    /// Item 7: the data says Y1, the checksum was made for Z1.
    @Test func aWrongChecksumIsAnErrorNamingTheEntry() throws {
        var data = Self.spool
        data[11] = UInt8(ascii: "Y")
        let stderr = try convertFails(RawZIP.build([.init(name: "spool.json", data: data, crc: RawZIP.crc32(Self.spool))]), "bad-crc.zip")
        #expect(stderr.contains(#"bad-crc.zip: entry "spool.json": the CRC-32 of its data is"#) && stderr.contains("the entry is damaged"), "\(stderr)")
    }

    /// Item 9: what the ZIP writer writes, the ZIP reader reads; what the reader would refuse, the writer refuses.
    @Test func theWriterWritesOnlyWhatTheReaderTakes() throws {
        let limit = 16 << 20
        for (name, noteBytes, fits) in [("fits", limit - 4096, true), ("too-big", limit + 1, false)] {
            let input = dir + "/\(name).jsonl"
            let note = String(repeating: "n", count: noteBytes)
            try Data(#"{"serial":"BIG","notes":"\#(note)","lastUpdated":1}"#.utf8).write(to: URL(fileURLWithPath: input))
            let zip = dir + "/\(name).zip"
            let r = try CLI.run(["convert", input, zip], timeout: 120)
            if fits {
                #expect(r.status == 0, "\(r.summary)")
                let back = try CLI.run(["convert", zip, dir + "/\(name)-back.jsonl"], timeout: 120)
                #expect(back.status == 0, "what was written cannot be read back: \(back.summary)")
            } else {
                #expect(r.status == 1, "\(r.summary)")
                #expect(r.stderr.contains(#"serial "BIG": its file in the ZIP would be"#) && r.stderr.contains("over the limit of 16777216 bytes"), "\(r.stderr)")
                #expect(!FileManager.default.fileExists(atPath: zip))
            }
            #expect(leftovers(in: dir).isEmpty)
        }
    }
}
