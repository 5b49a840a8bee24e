/// Where a spool lives in the history repository: `spools/<a>/<b>/<c>/<name>.json`.
///
/// - `<name>` encodes the serial's bytes reversibly and safely: lowercase ASCII letters, digits and `-` stay as
///   they are (so common serials stay readable); an uppercase letter becomes `+` and its lowercase; every other
///   byte becomes `%` and two lowercase hex digits; the empty serial is `%`. Encoded names contain no uppercase
///   letter, so two serials never map to names that a case-insensitive file system would confuse, and no `/`,
///   `.` or `..`, so no serial can leave its folder. A name longer than 200 bytes is cut into 200-byte
///   folders (a file name may not exceed 255 bytes).
/// - `<a>/<b>/<c>` are the first three hex digits of a hash of the serial's bytes (FNV-1a, mixed): 4,096 folders, so
///   a commit that changes one spool rewrites four small trees, not one listing every spool.
public enum SpoolPaths {
    public static let root = "spools"
    /// More folders than any spool's path has under ``root`` (three shard folders, and at most 17 more for the
    /// 200-byte parts of the longest serial's name): a walk goes no deeper (a history made by hand could nest
    /// folders thousands deep, and a recursive walk ran out of stack).
    public static let deepestFolder = 32

    /// Whether `folders` nested folders under ``root`` are more than any spool's path has (``deepestFolder``).
    public static func deeperThanAnySpool(_ folders: Int) -> Bool { folders > deepestFolder }
    public static let suffix = ".json"
    static let segmentLength = 200

    public static func encode(_ serial: String) -> String {
        if serial.isEmpty { return "%" }
        var out: [UInt8] = []
        out.reserveCapacity(serial.utf8.count + 8)
        for b in serial.utf8 {
            switch b {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"):
                out.append(b)
            case UInt8(ascii: "A")...UInt8(ascii: "Z"):
                out.append(UInt8(ascii: "+"))
                out.append(b + 0x20)
            default:
                out.append(UInt8(ascii: "%"))
                out.append(hexBytes[Int(b >> 4)])
                out.append(hexBytes[Int(b & 0xF)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    static let hexBytes = Array("0123456789abcdef".utf8)

    /// The serial an encoded name stands for; `nil` if it is not one `encode` writes.
    public static func decode(_ name: String) -> String? { decode(bytes: name.utf8) }

    static func decode<C: Collection<UInt8>>(bytes name: C) -> String? {
        if name.count == 1, name.first == UInt8(ascii: "%") { return "" }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(name.count)
        var it = name.makeIterator()
        while let b = it.next() {
            switch b {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"):
                bytes.append(b)
            case UInt8(ascii: "+"):
                guard let c = it.next(), (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(c) else { return nil }
                bytes.append(c - 0x20)
            case UInt8(ascii: "%"):
                guard let h = it.next(), let l = it.next(), let v = hexValue(h, l) else { return nil }
                // Only bytes `encode` escapes: a canonical name has one spelling.
                if (0x61...0x7A).contains(v) || (0x30...0x39).contains(v) || (0x41...0x5A).contains(v) || v == 0x2D { return nil }
                bytes.append(v)
            default:
                return nil
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    /// The spool file's path in the repository.
    public static func path(for serial: String) -> String {
        components(for: serial).joined(separator: "/")
    }

    /// ``path(for:)`` as its folders and file name, in order.
    public static func components(for serial: String) -> [String] {
        let name = encode(serial)
        let shard = shardDigits(serial)
        var out = [root, String(shard[0]), String(shard[1]), String(shard[2])]
        guard name.utf8.count > segmentLength else {
            out.append(name + suffix)
            return out
        }
        var rest = Substring(name)
        while rest.utf8.count > segmentLength {
            // Cut before an escape, never inside one.
            var cut = rest.index(rest.startIndex, offsetBy: segmentLength)
            while cut > rest.startIndex, rest[rest.index(before: cut)] == "%" || rest[rest.index(before: cut)] == "+"
                    || (rest.distance(from: rest.startIndex, to: cut) >= 2 && rest[rest.index(cut, offsetBy: -2)] == "%") {
                cut = rest.index(before: cut)
            }
            out.append(String(rest[..<cut]))
            rest = rest[cut...]
        }
        out.append(String(rest) + suffix)
        return out
    }

    /// The serial a repository path stands for; `nil` for any path `path(for:)` does not write.
    public static func serial(atPath path: String) -> String? {
        guard path.hasSuffix(suffix) else { return nil }
        let parts = path.dropLast(suffix.count).split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count >= 5, parts[0] == root else { return nil }
        guard let serial = decode(parts[4...].joined()) else { return nil }
        return self.path(for: serial) == path ? serial : nil
    }

    /// The serial of a file named `name` (`<encoded>.json`, its earlier 200-byte folders in `folders`) in the
    /// shard folders `shard` (three hex digits); `nil` unless that is where ``path(for:)`` puts it. Cheaper
    /// than ``serial(atPath:)`` for a walk that knows where it is.
    public static func serial(shard: (Substring, Substring, Substring), folders: [Substring], name: Substring) -> String? {
        // The common case, a short name in place, read as bytes (a server lists thousands at a time).
        if folders.isEmpty, let fast = name.utf8.withContiguousStorageIfAvailable({ (b) -> (done: Bool, serial: String?) in
            guard b.count > suffixBytes.count, b.count - suffixBytes.count <= segmentLength else { return (false, nil) }
            guard b[(b.count - suffixBytes.count)...].elementsEqual(suffixBytes),
                  let serial = decode(bytes: b[..<(b.count - suffixBytes.count)]) else { return (true, nil) }
            let h = shardHash(serial)
            func digit(_ s: Substring, _ v: UInt64) -> Bool { s.utf8.count == 1 && s.utf8.first == hexBytes[Int(v & 0xF)] }
            return (true, digit(shard.0, h >> 60) && digit(shard.1, h >> 56) && digit(shard.2, h >> 52) ? serial : nil)
        }), fast.done {
            return fast.serial
        }
        guard name.hasSuffix(suffix) else { return nil }
        let encoded = folders.isEmpty ? String(name.dropLast(suffix.count)) : folders.joined() + name.dropLast(suffix.count)
        guard let serial = decode(encoded) else { return nil }
        let digits = shardDigits(serial)
        guard shard.0.count == 1, shard.1.count == 1, shard.2.count == 1,
              shard.0.first == digits[0], shard.1.first == digits[1], shard.2.first == digits[2] else { return nil }
        if !folders.isEmpty || encoded.utf8.count > segmentLength {
            // Long names: the cut must be the one path(for:) makes.
            return path(for: serial).hasSuffix("/" + (folders + [name]).joined(separator: "/")) ? serial : nil
        }
        return serial
    }

    static func shardDigits(_ serial: String) -> [Character] {
        let h = shardHash(serial)
        return [hexCharacters[Int(h >> 60)], hexCharacters[Int((h >> 56) & 0xF)], hexCharacters[Int((h >> 52) & 0xF)]]
    }

    /// How many shard folders there are (``shard(ofHash:)``).
    public static let shardCount = 4096

    /// The number of a serial's shard folder, `<a>/<b>/<c>` read as one hexadecimal number (0 to 4,095), from
    /// its ``shardHash(_:)`` (a caller that also wants the hash's other bits hashes once).
    package static func shard(ofHash h: UInt64) -> Int { Int(h >> 52) }

    /// The hash whose top three hex digits are the shard folders.
    package static func shardHash(_ serial: String) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in serial.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01B3 }
        // FNV-1a's high bits barely change between similar serials; MurmurHash3's finaliser mixes them.
        h ^= h >> 33
        h = h &* 0xFF51_AFD7_ED55_8CCD
        h ^= h >> 33
        h = h &* 0xC4CE_B9FE_1A85_EC53
        h ^= h >> 33
        return h
    }

    static let suffixBytes = Array(suffix.utf8)

    static let hexDigits = "0123456789abcdef"
    static let hexCharacters = Array(hexDigits)

    static func hex(_ b: UInt8) -> String {
        let d = Array(hexDigits)
        return String([d[Int(b >> 4)], d[Int(b & 0xF)]])
    }

    static func hexValue(_ h: UInt8, _ l: UInt8) -> UInt8? {
        func v(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - 0x30
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - 0x61 + 10
            default: return nil
            }
        }
        guard let hi = v(h), let lo = v(l) else { return nil }
        return hi << 4 | lo
    }
}
