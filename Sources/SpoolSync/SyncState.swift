import SpoolHistory
import SpoolModel

/// A place in main's history as a device has seen it: nothing yet (`base == nil`, no page), a state of main
/// (`base`), or part of the way from `base` to `target`, every serial up to `after` (in UTF-8 order) sent.
///
/// As a response's `cursor`: `c1.<base>` or `c1.<target>.<base>.<after, hex>` (`.f` added for the pages of a
/// full resync, `.a` for those of an answer to `lastSyncTime: 0`), a missing commit as `0`.
/// Opaque to clients; checked on the way in (a cursor naming no state of main asks for a full resync).
struct SyncPosition: Sendable, Equatable {
    var base: ObjectID?
    var page: Page?

    struct Page: Sendable, Equatable {
        var target: ObjectID?
        var after: String
        /// The pages of a full resync: the device replaces its inventory with them, so nothing is left out.
        var full = false
        /// The pages of an answer to `lastSyncTime: 0` (everything, what the device sent before included).
        var all = false
    }

    static let nothing = SyncPosition(base: nil, page: nil)

    var cursor: String {
        let b = base?.hex ?? "0"
        guard let page else { return "c1." + b }
        return "c1.\(page.target?.hex ?? "0").\(b).\(Self.hex(Array(page.after.utf8)))" + (page.full ? ".f" : page.all ? ".a" : "")
    }

    init(base: ObjectID?, page: Page?) {
        self.base = base
        self.page = page
    }

    init?(cursor text: String) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        func commit(_ s: Substring) -> ObjectID?? {
            if s == "0" { return .some(nil) }
            guard let id = ObjectID(hex: String(s)) else { return nil }
            return .some(id)
        }
        guard parts.first == "c1" else { return nil }
        if parts.count == 2, let b = commit(parts[1]) {
            self.init(base: b, page: nil)
        } else if parts.count == 4 || (parts.count == 5 && (parts[4] == "f" || parts[4] == "a")), let t = commit(parts[1]), let b = commit(parts[2]),
                  let bytes = Self.unhex(parts[3]), let after = String(validating: bytes, as: UTF8.self) {
            self.init(base: b, page: Page(target: t, after: after, full: parts.count == 5 && parts[4] == "f", all: parts.count == 5 && parts[4] == "a"))
        } else {
            return nil
        }
    }

    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for b in bytes { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 0xF)]) }
        return String(decoding: out, as: UTF8.self)
    }

    static func unhex(_ s: Substring) -> [UInt8]? {
        let u = Array(s.utf8)
        guard u.count % 2 == 0 else { return nil }
        func v(_ c: UInt8) -> UInt8? {
            switch c {
            case 0x30...0x39: return c - 0x30
            case 0x61...0x66: return c - 0x61 + 10
            default: return nil
            }
        }
        var out: [UInt8] = []
        var i = 0
        while i < u.count {
            guard let h = v(u[i]), let l = v(u[i + 1]) else { return nil }
            out.append(h << 4 | l)
            i += 2
        }
        return out
    }
}

/// What the server remembers of one device (its sync state's `state.json`): what it last answered, the
/// answers it can still be asked about by their `serverTime`, and the device's last request (to recognise a
/// retry and a lost answer).
struct DeviceSyncState: Sendable {
    /// The cursor of the last answer: the state the device has if that answer arrived.
    var answer: String?
    /// The last answers' `serverTime` and cursor, newest last.
    var answers: [(time: Int64, cursor: String)] = []
    var request: LastRequest?

    struct LastRequest: Sendable {
        var lastSyncTime: Int64
        /// A hash of the request (without its key).
        var digest: String
        /// Where the request started from (a cursor).
        var from: String
        /// The server's time when it arrived: the time of its deletions that named none, again on a retry.
        var arrival: Int64
        /// What its spools were merged against, when not `from` (a cursor): a retry merges them there again, and
        /// a device that loses its `lastSyncTime` again is merged there too.
        var merge: String? = nil
    }

    static let kept = 16

    init() {}

    init?(json bytes: [UInt8]?) {
        guard let bytes, let o = (try? JSONParser.parse(bytes))?.objectValue else { return nil }
        answer = o["answer"]?.stringValue
        for a in o["answers"]?.arrayValue ?? [] {
            if let pair = a.arrayValue, pair.count == 2, case .int(let t) = pair[0], let c = pair[1].stringValue { answers.append((t, c)) }
        }
        if let r = o["request"]?.objectValue, case .int(let t)? = r["lastSyncTime"], let d = r["digest"]?.stringValue,
           let f = r["from"]?.stringValue, case .int(let a)? = r["arrival"] {
            request = LastRequest(lastSyncTime: t, digest: d, from: f, arrival: a, merge: r["merge"]?.stringValue)
        }
    }

    /// The document, written straight from the fields (every request writes one) with the bytes
    /// `JSONValue.jsonBytes` gives the same object: keys in sorted order, a line break after it.
    var json: [UInt8] {
        var w = JSONWriter(reservingCapacity: 256 + answers.count * 120)
        w.append("{")
        if let answer {
            w.append("\"answer\":")
            w.writeString(answer)
            w.append(",")
        }
        w.append("\"answers\":[")
        for (n, a) in answers.enumerated() {
            w.append(n == 0 ? "[" : ",[")
            w.appendRaw(String(a.time))
            w.append(",")
            w.writeString(a.cursor)
            w.append("]")
        }
        w.append("]")
        if let r = request {
            w.append(",\"request\":{\"arrival\":")
            w.appendRaw(String(r.arrival))
            w.append(",\"digest\":")
            w.writeString(r.digest)
            w.append(",\"from\":")
            w.writeString(r.from)
            w.append(",\"lastSyncTime\":")
            w.appendRaw(String(r.lastSyncTime))
            if let merge = r.merge {
                w.append(",\"merge\":")
                w.writeString(merge)
            }
            w.append("}")
        }
        w.append("}\n")
        return w.bytes
    }

    /// The latest `serverTime` it was given.
    var lastServerTime: Int64 { answers.last?.time ?? 0 }
}
