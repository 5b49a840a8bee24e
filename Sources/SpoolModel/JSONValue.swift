#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A JSON value as filamentdb keeps it: exact integers, finite doubles, and values of JavaScript types
/// that JSON cannot express (dates, maps, blobs, …) kept as `typed`, in typeson's own encapsulation.
///
/// `typed(name, encapsulated)` is what typeson's `$types` entry `name` says about `encapsulated`; nesting
/// records a chain of types (the innermost applied first). Keeping the encapsulated form, rather than
/// inventing a Swift type for each JavaScript class, is what makes every round trip lossless.
public enum JSONValue: Hashable, Sendable {
    case null
    case bool(Bool)
    /// Every integral number whose magnitude is at most 2^53, and every integer literal that fits in `Int64`.
    case int(Int64)
    /// A finite, non-integral (or very large) number.
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])
    indirect case typed(String, JSONValue)

    /// The number `d` in its normal form: integral values up to 2^53 become `.int`, so that `1.0` and `1`
    /// (the same number in JavaScript) are the same value and encode to the same bytes.
    public static func number(_ d: Double) -> JSONValue {
        if d.rounded(.towardZero) == d, abs(d) <= 9_007_199_254_740_992 {
            return .int(Int64(d))
        }
        return .double(d)
    }

    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    public var objectValue: [String: JSONValue]? {
        if case .object(let o) = self { return o }
        return nil
    }

    public var arrayValue: [JSONValue]? {
        if case .array(let a) = self { return a }
        return nil
    }

    /// The value as a Double when it is a plain number.
    public var numberValue: Double? {
        switch self {
        case .int(let i): return Double(i)
        case .double(let d): return d
        default: return nil
        }
    }

    /// The epoch milliseconds of a typeson `date` holding a number.
    public var typesonDateNumber: Double? {
        if case .typed("date", let inner) = self { return inner.numberValue }
        return nil
    }

    /// A word for error messages: "a string", "a number", …
    public var kindDescription: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .int, .double: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        case .typed(let name, _): return "a typeson '\(name)' value"
        }
    }

    /// Whether any `typed` value occurs in this value.
    public var containsTyped: Bool {
        switch self {
        case .typed: return true
        case .array(let a): return a.contains { $0.containsTyped }
        case .object(let o): return o.values.contains { $0.containsTyped }
        default: return false
        }
    }
}

/// One step of a path into a JSON value: an object key or an array index.
public enum JSONPathComponent: Hashable, Sendable, CustomStringConvertible {
    case key(String)
    case index(Int)

    public var description: String {
        switch self {
        case .key(let k): return k
        case .index(let i): return String(i)
        }
    }
}

extension Array where Element == JSONPathComponent {
    /// The path as people read it: `nfcTagHistory[0].timestamp`.
    public var readable: String {
        var out = ""
        for c in self {
            switch c {
            case .key(let k): out += out.isEmpty ? k : ".\(k)"
            case .index(let i): out += "[\(i)]"
            }
        }
        return out
    }
}

/// Sorts strings by their UTF-8 bytes (stable across platforms and Unicode versions; for valid UTF-8 this is
/// also code point order). Swift's `<` compares canonical equivalents as equal, which would not be stable.
/// `items` sorted by `key` in ``utf8Ordered(_:_:)`` order (stable), each key's bytes read once: for thousands.
@inlinable
public func sortedByUTF8<T>(_ items: [T], _ key: (T) -> String) -> [T] {
    var keys: [[UInt8]] = []
    keys.reserveCapacity(items.count)
    for item in items { keys.append(Array(key(item).utf8)) }
    var order = Array(items.indices)
    order.sort { i, j in
        let c = compareBytes(keys[i], keys[j])
        return c != 0 ? c < 0 : i < j
    }
    return order.map { items[$0] }
}

/// The order of two byte strings (memcmp's sign, a prefix first).
@inlinable
public func compareBytes(_ a: [UInt8], _ b: [UInt8]) -> Int {
    let n = min(a.count, b.count)
    if n > 0 {
        let c = a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in memcmp(pa.baseAddress!, pb.baseAddress!, n) } }
        if c != 0 { return Int(c) }
    }
    return a.count - b.count
}

public func utf8Ordered(_ a: String, _ b: String) -> Bool {
    var a = a, b = b
    return a.withUTF8 { pa in
        b.withUTF8 { pb in
            let n = min(pa.count, pb.count)
            var i = 0
            while i < n {
                if pa[i] != pb[i] { return pa[i] < pb[i] }
                i += 1
            }
            return pa.count < pb.count
        }
    }
}

/// A string compared and hashed by its UTF-8 bytes. Swift's `String` equality is canonical equivalence
/// (`"é"` precomposed equals `"e\u{301}"`), but JavaScript, JSON keys and serials compare code units: where
/// filamentdb gathers keys or serials across records it uses this, so distinct spellings stay distinct.
public struct ExactString: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let string: String
    /// The string's hash (Swift's seeded hasher over its UTF-8 bytes), worked out once: a dictionary's probe
    /// compares it before the bytes, so a key that is not the one looked up is passed over without reading its
    /// string (in a large dictionary, each string read is a cache miss).
    private let code: Int

    /// The string, made native UTF-8 if it is not (a bridged one): its bytes are then read in place, with no
    /// copy per key.
    public init(_ string: String) {
        var string = string
        string.makeContiguousUTF8()
        var hasher = Hasher()
        string.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
        self.code = hasher.finalize()
        self.string = string
    }

    public static func == (a: ExactString, b: ExactString) -> Bool {
        guard a.code == b.code else { return false }
        var (x, y) = (a.string, b.string)
        return x.withUTF8 { p in y.withUTF8 { q in p.count == q.count && (p.count == 0 || memcmp(p.baseAddress!, q.baseAddress!, p.count) == 0) } }
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(code)
    }

    public static func < (a: ExactString, b: ExactString) -> Bool { a.string.utf8.lexicographicallyPrecedes(b.string.utf8) }
    public var description: String { string }
}
