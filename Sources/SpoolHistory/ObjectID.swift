internal import CGit2

/// A git object id, as a Swift value.
public struct ObjectID: Hashable, Sendable, CustomStringConvertible {
    public let bytes: [UInt8]

    init(bytes: [UInt8]) { self.bytes = bytes }

    init(_ oid: git_oid) {
        var oid = oid
        bytes = withUnsafeBytes(of: &oid.id) { Array($0) }
    }

    /// A full 40-digit hexadecimal id.
    public init?(hex: String) {
        var oid = git_oid()
        guard hex.utf8.count == 40, git_oid_fromstrn(&oid, hex, hex.utf8.count) == 0 else { return nil }
        self.init(oid)
    }

    var oid: git_oid {
        var oid = git_oid()
        withUnsafeMutableBytes(of: &oid.id) { $0.copyBytes(from: bytes) }
        return oid
    }

    public var hex: String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(40)
        for b in bytes { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 0xF)]) }
        return String(decoding: out, as: UTF8.self)
    }

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
