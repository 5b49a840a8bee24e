/// Writes JSON bytes deterministically: object keys sorted by UTF-8 bytes (unless an order is given),
/// integers as integers, doubles in their shortest round-trip form, non-ASCII text as UTF-8, and `typed`
/// values as their typeson encapsulation (the caller writes the matching `$types`).
public struct JSONWriter {
    public private(set) var bytes: [UInt8] = []

    public init(reservingCapacity n: Int = 0) { bytes.reserveCapacity(n) }

    public mutating func append(_ s: StaticString) {
        bytes.append(contentsOf: UnsafeBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount))
    }

    public mutating func appendRaw(_ s: String) { bytes.append(contentsOf: s.utf8) }

    public mutating func appendBytes(_ b: [UInt8]) { bytes.append(contentsOf: b) }

    public mutating func write(_ v: JSONValue) {
        switch v {
        case .null: append("null")
        case .bool(let b): b ? append("true") : append("false")
        case .int(let i): writeInt(i)
        case .double(let d): writeDouble(d)
        case .string(let s): writeString(s)
        case .array(let a):
            bytes.append(UInt8(ascii: "["))
            for (n, e) in a.enumerated() {
                if n > 0 { bytes.append(UInt8(ascii: ",")) }
                write(e)
            }
            bytes.append(UInt8(ascii: "]"))
        case .object(let o):
            bytes.append(UInt8(ascii: "{"))
            for (n, k) in o.keys.sorted(by: utf8Ordered).enumerated() {
                if n > 0 { bytes.append(UInt8(ascii: ",")) }
                writeString(k)
                bytes.append(UInt8(ascii: ":"))
                write(o[k]!)
            }
            bytes.append(UInt8(ascii: "}"))
        case .typed(_, let inner): write(inner)
        }
    }

    /// An integer's decimal digits, written straight into the bytes (`String(i)` made a string of each first).
    public mutating func writeInt(_ i: Int64) {
        if i < 0 { bytes.append(UInt8(ascii: "-")) }
        var v = i.magnitude
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
            var n = 20
            repeat {
                n -= 1
                digits[n] = UInt8(ascii: "0") + UInt8(v % 10)
                v /= 10
            } while v > 0
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: digits[n...]))
        }
    }

    /// Shortest round-trip form. Non-finite values never reach here (they are typeson `nan`/`infinity`).
    public mutating func writeDouble(_ d: Double) {
        if let i = JSONValue.number(d).intIfInt {
            writeInt(i)
        } else if d.isFinite {
            appendRaw(d.description)
        } else {
            append("null")
        }
    }

    public mutating func writeString(_ s: String) {
        var s = s
        s.withUTF8 { utf8 in
            bytes.append(UInt8(ascii: "\""))
            var start = 0
            for (n, b) in utf8.enumerated() where b < 0x20 || b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") {
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start..<n]))
                start = n + 1
                switch b {
                case UInt8(ascii: "\""): append("\\\"")
                case UInt8(ascii: "\\"): append("\\\\")
                case 0x0A: append("\\n")
                case 0x0D: append("\\r")
                case 0x09: append("\\t")
                case 0x08: append("\\b")
                case 0x0C: append("\\f")
                default:
                    append("\\u00")
                    bytes.append(hexDigit(b >> 4))
                    bytes.append(hexDigit(b & 0xF))
                }
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start...]))
            bytes.append(UInt8(ascii: "\""))
        }
    }

    private func hexDigit(_ n: UInt8) -> UInt8 { n < 10 ? 0x30 + n : 0x61 + n - 10 }
}

extension JSONValue {
    var intIfInt: Int64? {
        if case .int(let i) = self { return i }
        return nil
    }

    /// Compact JSON bytes of this value (sorted keys, typed values as their encapsulation, no `$types`).
    public var jsonBytes: [UInt8] {
        var w = JSONWriter()
        w.write(self)
        return w.bytes
    }

    /// Compact JSON text of this value.
    public var jsonText: String { String(decoding: jsonBytes, as: UTF8.self) }
}
