internal import CGit2
internal import CGit2Shim

/// A git object id, as a Swift value: its 20 bytes held inline (no allocation per id), hashed by their first
/// eight (an id is already a uniform hash), compared whole.
public struct ObjectID: Hashable, Sendable, CustomStringConvertible {
    private let a: UInt64, b: UInt64, c: UInt32

    /// The id's 20 bytes.
    public var bytes: [UInt8] {
        var out = [UInt8](repeating: 0, count: 20)
        out.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: a, as: UInt64.self)
            raw.storeBytes(of: b, toByteOffset: 8, as: UInt64.self)
            raw.storeBytes(of: c, toByteOffset: 16, as: UInt32.self)
        }
        return out
    }

    /// Appends the id's 20 bytes to `out` (no array made for them).
    func append(to out: inout [UInt8]) {
        var words = (a, b, c)
        withUnsafeBytes(of: &words) { out.append(contentsOf: UnsafeRawBufferPointer(rebasing: $0.prefix(20))) }
    }

    /// The first byte (an index's fan-out).
    var firstByte: UInt8 { UInt8(truncatingIfNeeded: a) }

    /// The id as three integers ordered as the bytes are (for sorting ids as git does).
    var ordered: (UInt64, UInt64, UInt32) { (UInt64(bigEndian: a), UInt64(bigEndian: b), UInt32(bigEndian: c)) }

    init(bytes: [UInt8]) {
        precondition(bytes.count == 20, "an object id has 20 bytes")
        self = bytes.withUnsafeBytes { ObjectID(loading: $0, at: 0) }
    }

    /// The id whose 20 bytes start at `offset` of `raw` (a tree's bytes).
    init(loading raw: UnsafeRawBufferPointer, at offset: Int) {
        (a, b, c) = (raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self), raw.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self),
                     raw.loadUnaligned(fromByteOffset: offset + 16, as: UInt32.self))
    }

    init(_ oid: git_oid) {
        var oid = oid
        (a, b, c) = withUnsafeBytes(of: &oid.id) { ($0.loadUnaligned(as: UInt64.self), $0.loadUnaligned(fromByteOffset: 8, as: UInt64.self),
                                                   $0.loadUnaligned(fromByteOffset: 16, as: UInt32.self)) }
    }

    /// The id git gives an object of `type` holding `bytes` (hashed by OpenSSL's SHA-1, with the processor's
    /// SHA instructions where it has them: libgit2's portable SHA-1 is several times slower).
    init(hashing bytes: UnsafeRawBufferPointer, type: git_object_t) {
        var oid = git_oid()
        withUnsafeMutableBytes(of: &oid.id) { out in
            filamentdb_object_id(Int32(type.rawValue), bytes.baseAddress, bytes.count, out.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
        self.init(oid)
    }

    /// A full 40-digit hexadecimal id.
    public init?(hex: String) {
        var oid = git_oid()
        guard hex.utf8.count == 40, git_oid_fromstrn(&oid, hex, hex.utf8.count) == 0 else { return nil }
        self.init(oid)
    }

    var oid: git_oid {
        var oid = git_oid()
        withUnsafeMutableBytes(of: &oid.id) { raw in
            raw.storeBytes(of: a, as: UInt64.self)
            raw.storeBytes(of: b, toByteOffset: 8, as: UInt64.self)
            raw.storeBytes(of: c, toByteOffset: 16, as: UInt32.self)
        }
        return oid
    }

    public func hash(into hasher: inout Hasher) { hasher.combine(a) }

    public var hex: String {
        let digits = Self.digits
        var out: [UInt8] = []
        out.reserveCapacity(40)
        for b in bytes { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 0xF)]) }
        return String(decoding: out, as: UTF8.self)
    }

    private static let digits = Array("0123456789abcdef".utf8)

    public var description: String { hex }
}

/// A commit as read back.
public struct CommitInfo: Sendable {
    public var id: ObjectID
    public var tree: ObjectID
    public var parents: [ObjectID]
    public var message: String
    public var authorName: String
    public var authorEmail: String
    /// Seconds since the epoch.
    public var time: Int64
    /// The author's zone, minutes east of UTC.
    public var offsetMinutes: Int32 = 0

    /// The first line of the message.
    public var summary: String { message.split(separator: "\n", maxSplits: 1).first.map(String.init) ?? "" }

    /// The value of a `Key: value` trailer line of the message, the last one if several.
    public func trailer(_ key: String) -> String? {
        var found: String?
        for line in message.split(separator: "\n") where line.hasPrefix(key + ": ") {
            found = String(line.dropFirst(key.count + 2))
        }
        return found
    }
}

/// One entry of a tree.
package struct TreeEntry: Hashable, Sendable {
    package enum Kind: Sendable { case blob, tree }
    package var name: String
    package var id: ObjectID
    package var kind: Kind

    package init(name: String, id: ObjectID, kind: Kind) {
        self.name = name
        self.id = id
        self.kind = kind
    }
}
