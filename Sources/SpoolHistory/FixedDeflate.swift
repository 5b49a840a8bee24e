/// A zlib stream (RFC 1950) of one deflate block with the fixed Huffman codes (RFC 1951, 3.2.6), matches found
/// greedily through a small hash table. Made for the history's packs, whose objects are a few hundred bytes
/// each: zlib builds and weighs dynamic Huffman trees at every block's end, and libdeflate clears its
/// 64 KB hash tables at every call; either costs several times the compression itself at this size (measured on a
/// 100,000-spool first import: 0.5 s of the pack's 0.6 s on two cores). For such small objects zlib itself
/// mostly ends up choosing the fixed codes: the pack is within a few tenths of a percent of zlib's size.
/// `git fsck --strict` reads every pack the tests write, and a test inflates this with zlib.
struct FixedDeflate {
    /// Objects up to this size are compressed here; larger ones (big trees, packs of many spools' worth) by
    /// zlib, whose dynamic codes pay off there.
    static let largest = 4096
    private static let hashBits = 12
    /// The last position of each 3-byte hash, as an offset from `generation` (older calls' entries are stale
    /// without clearing the table).
    private var table = [Int32](repeating: -1, count: 1 << hashBits)
    private var generation = 0

    init() {}

    /// The table slot of the 3 bytes at `p`.
    @inline(__always)
    private static func slot(_ p: UnsafePointer<UInt8>) -> Int {
        let key = UInt32(p[0]) << 16 | UInt32(p[1]) << 8 | UInt32(p[2])
        return Int((key &* 2_654_435_761) >> UInt32(32 - hashBits))
    }

    /// Deflate's length codes: for a match length 3...258, its symbol (257...285), extra bit count and base.
    private static let lengthCodes: [(symbol: Int, extra: Int, base: Int)] = {
        let bases = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258]
        let extras = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0]
        var out = [(symbol: Int, extra: Int, base: Int)](repeating: (0, 0, 0), count: 259)
        for code in 0..<29 {
            let end = code == 28 ? 259 : (code == 27 ? 258 : bases[code + 1])
            for length in bases[code]..<end { out[length] = (257 + code, extras[code], bases[code]) }
        }
        return out
    }()

    private static let distanceBases = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537,
                                        2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577]

    /// The fixed Huffman code of a literal/length symbol, bits reversed for writing LSB first, and its length.
    private static let literalCodes: [(code: UInt32, bits: Int)] = (0..<288).map { symbol in
        let (code, bits): (Int, Int)
        switch symbol {
        case 0...143: (code, bits) = (0x30 + symbol, 8)
        case 144...255: (code, bits) = (0x190 + symbol - 144, 9)
        case 256...279: (code, bits) = (symbol - 256, 7)
        default: (code, bits) = (0xC0 + symbol - 280, 8)
        }
        return (reversed(UInt32(code), bits), bits)
    }

    private static func reversed(_ code: UInt32, _ bits: Int) -> UInt32 {
        var out: UInt32 = 0
        for k in 0..<bits where code & (1 << k) != 0 { out |= 1 << (bits - 1 - k) }
        return out
    }

    /// Bits written least significant first, as deflate packs them, into memory sized for the worst case.
    private struct Bits {
        let out: UnsafeMutablePointer<UInt8>
        var at = 0
        var buffer: UInt64 = 0
        var count = 0

        @inline(__always)
        mutating func put(_ value: UInt32, _ bits: Int) {
            buffer |= UInt64(value) << count
            count += bits
            while count >= 8 {
                out[at] = UInt8(truncatingIfNeeded: buffer)
                at += 1
                buffer >>= 8
                count -= 8
            }
        }

        @inline(__always)
        mutating func byte(_ b: UInt8) {
            out[at] = b
            at += 1
        }
    }

    /// `bytes` as a zlib stream.
    mutating func compress(_ bytes: [UInt8]) -> [UInt8] {
        // Positions are kept as offsets from where this call starts; an entry below that belongs to an earlier call.
        if generation > Int(Int32.max) - bytes.count - 1 {
            for k in table.indices { table[k] = -1 }
            generation = 0
        }
        let start = generation
        generation += bytes.count
        // At most 9 bits a byte, the block's 3 bits and end (7), the header (2) and the checksum (4).
        let capacity = 2 + (bytes.count * 9 + 10 + 7) / 8 + 8 + 4
        let literals = Self.literalCodes, lengths = Self.lengthCodes, distances = Self.distanceBases, distanceCodes = Self.reversedDistanceCodes
        return [UInt8](unsafeUninitializedCapacity: capacity) { output, initialized in
            var bits = Bits(out: output.baseAddress!)
            bits.byte(0x78)
            bits.byte(0x01)
            bits.put(1, 1)  // the final block
            bits.put(1, 2)  // fixed codes
            table.withUnsafeMutableBufferPointer { table in
                bytes.withUnsafeBufferPointer { b in
                    literals.withUnsafeBufferPointer { literals in
                        lengths.withUnsafeBufferPointer { lengths in
                            distances.withUnsafeBufferPointer { distances in
                                distanceCodes.withUnsafeBufferPointer { distanceCodes in
                                    let n = b.count
                                    var i = 0
                                    while i < n {
                                        if i + 3 <= n {
                                            let h = Self.slot(b.baseAddress! + i)
                                            let candidate = Int(table[h]) - start
                                            table[h] = Int32(start + i)
                                            if candidate >= 0, candidate < i, i - candidate <= 32768 {
                                                var length = 0
                                                let limit = min(258, n - i)
                                                while length < limit, b[candidate + length] == b[i + length] { length += 1 }
                                                if length >= 3 {
                                                    let l = lengths[length]
                                                    let code = literals[l.symbol]
                                                    bits.put(code.code, code.bits)
                                                    if l.extra > 0 { bits.put(UInt32(length - l.base), l.extra) }
                                                    let distance = i - candidate
                                                    var d = 29
                                                    while distances[d] > distance { d -= 1 }
                                                    // Distance codes are 5 bits, written like Huffman codes (most significant bit first).
                                                    bits.put(distanceCodes[d], 5)
                                                    let extra = d < 4 ? 0 : d / 2 - 1
                                                    if extra > 0 { bits.put(UInt32(distance - distances[d]), extra) }
                                                    // The matched bytes enter the table too, so later matches can start inside them.
                                                    var k = i + 1
                                                    while k < i + length, k + 3 <= n {
                                                        table[Self.slot(b.baseAddress! + k)] = Int32(start + k)
                                                        k += 1
                                                    }
                                                    i += length
                                                    continue
                                                }
                                            }
                                        }
                                        let code = literals[Int(b[i])]
                                        bits.put(code.code, code.bits)
                                        i += 1
                                    }
                                    let end = literals[256]
                                    bits.put(end.code, end.bits)
                                }
                            }
                        }
                    }
                }
            }
            if bits.count > 0 { bits.put(0, 8 - bits.count) }
            // Adler-32 of the uncompressed bytes, most significant byte first.
            var a: UInt32 = 1, s: UInt32 = 0
            bytes.withUnsafeBufferPointer { b in
                var k = 0
                while k < b.count {
                    let end = min(b.count, k + 5552)
                    while k < end { a &+= UInt32(b[k]); s &+= a; k += 1 }
                    a %= 65521
                    s %= 65521
                }
            }
            let adler = s << 16 | a
            bits.byte(UInt8(adler >> 24))
            bits.byte(UInt8((adler >> 16) & 0xFF))
            bits.byte(UInt8((adler >> 8) & 0xFF))
            bits.byte(UInt8(adler & 0xFF))
            initialized = bits.at
        }
    }

    private static let reversedDistanceCodes: [UInt32] = (0..<30).map { reversed(UInt32($0), 5) }
}
