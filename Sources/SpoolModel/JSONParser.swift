/// A JSON syntax or encoding error, with the place it was found.
public struct JSONSyntaxError: Error, Sendable, Equatable, Codable, CustomStringConvertible {
    /// Byte offset from the start of the document.
    public var offset: Int
    /// 1-based line and column (the column counts bytes).
    public var line: Int
    public var column: Int
    public var message: String

    public var description: String { "line \(line), column \(column): \(message)" }

    public init(offset: Int, line: Int, column: Int, message: String) {
        self.offset = offset
        self.line = line
        self.column = column
        self.message = message
    }
}

/// A strict RFC 8259 JSON parser over UTF-8 bytes.
///
/// Written here rather than taken from Foundation because filamentdb needs what `JSONSerialization` does not
/// give on Linux: the line and column of every error, integers kept exact (not `NSNumber`), invalid UTF-8
/// reported at its byte, duplicate keys refused, and speed on 60 MB exports. A leading UTF-8 BOM is skipped.
public enum JSONParser {
    /// The deepest nesting accepted; deeper input is refused rather than risking the stack.
    public static let maxDepth = 512

    /// Parses one JSON document (surrounding whitespace allowed).
    public static func parse(_ bytes: [UInt8]) throws(JSONSyntaxError) -> JSONValue {
        try parseDocument(bytes, deferring: nil)
    }

    static func parseDocument(_ bytes: [UInt8], deferring deferredKey: String?) throws(JSONSyntaxError) -> JSONValue {
        try bytes.withUnsafeBufferPointer { (buf) throws(JSONSyntaxError) -> JSONValue in try parseDocument(buf, deferring: deferredKey) }
    }

    /// Parses `bytes[slice]` as one JSON document, exactly as ``parse(_:)`` parses a copy of it (positions in
    /// errors count from the slice's start), without copying it.
    public static func parse(_ bytes: [UInt8], slice: Range<Int>) throws(JSONSyntaxError) -> JSONValue {
        try bytes.withUnsafeBufferPointer { (whole) throws(JSONSyntaxError) -> JSONValue in
            try parseDocument(UnsafeBufferPointer(rebasing: whole[slice]), deferring: nil)
        }
    }

    static func parseDocument(_ buf: UnsafeBufferPointer<UInt8>, deferring deferredKey: String?) throws(JSONSyntaxError) -> JSONValue {
        var s = Scanner(buf)
        s.deferredKey = deferredKey.map { Array($0.utf8) }
        s.skipBOM()
        s.skipWhitespace()
        let v = try s.parseValue(depth: 0)
        s.skipWhitespace()
        if s.i < buf.count { throw s.error("unexpected \(s.describeByte()) after the end of the JSON value") }
        return v
    }

    /// Parses one JSON document held in a string.
    public static func parse(_ text: String) throws(JSONSyntaxError) -> JSONValue {
        try parse(Array(text.utf8))
    }
}

/// Turns byte offsets into 1-based line and column numbers. Built once, on the error path only.
public struct LineIndex: Sendable {
    private var newlines: [Int] = []

    public init(_ bytes: [UInt8]) {
        for (i, b) in bytes.enumerated() where b == 0x0A { newlines.append(i) }
    }

    public func lineColumn(of offset: Int) -> (line: Int, column: Int) {
        var lo = 0, hi = newlines.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if newlines[mid] < offset { lo = mid + 1 } else { hi = mid }
        }
        let lineStart = lo == 0 ? 0 : newlines[lo - 1] + 1
        return (lo + 1, offset - lineStart + 1)
    }
}

struct Scanner {
    let p: UnsafeBufferPointer<UInt8>
    var i = 0
    /// Arrays under a key with these bytes are skipped and replaced by their byte range.
    var deferredKey: [UInt8]? = nil

    init(_ p: UnsafeBufferPointer<UInt8>) { self.p = p }

    mutating func skipBOM() {
        if p.count >= 3, p[0] == 0xEF, p[1] == 0xBB, p[2] == 0xBF { i = 3 }
    }

    func error(_ message: String, at offset: Int? = nil) -> JSONSyntaxError {
        let at = min(offset ?? i, p.count)
        var line = 1, lineStart = 0
        var k = 0
        while k < at {
            if p[k] == 0x0A { line += 1; lineStart = k + 1 }
            k += 1
        }
        return JSONSyntaxError(offset: at, line: line, column: at - lineStart + 1, message: message)
    }

    func describeByte() -> String {
        guard i < p.count else { return "end of input" }
        let b = p[i]
        if b >= 0x21 && b < 0x7F { return "'\(Character(UnicodeScalar(b)))'" }
        return "byte 0x\(String(b, radix: 16, uppercase: true))"
    }

    @inline(__always) mutating func skipWhitespace() {
        while i < p.count {
            let b = p[i]
            if b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 { i += 1 } else { return }
        }
    }

    mutating func parseValue(depth: Int) throws(JSONSyntaxError) -> JSONValue {
        guard i < p.count else { throw error("unexpected end of input: the file is truncated") }
        switch p[i] {
        case UInt8(ascii: "{"): return try parseObject(depth: depth + 1)
        case UInt8(ascii: "["): return try parseArray(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
        default: throw error("expected a JSON value, found \(describeByte())")
        }
    }

    mutating func literal(_ word: StaticString) throws(JSONSyntaxError) {
        let n = word.utf8CodeUnitCount
        let w = word.utf8Start
        guard i + n <= p.count else { throw error("unexpected end of input: the file is truncated") }
        for k in 0..<n where p[i + k] != w[k] {
            throw error("expected '\(word)', found \(describeByte())")
        }
        i += n
    }

    mutating func parseObject(depth: Int) throws(JSONSyntaxError) -> JSONValue {
        if depth > JSONParser.maxDepth { throw error("nesting deeper than \(JSONParser.maxDepth) levels") }
        i += 1
        skipWhitespace()
        if i < p.count, p[i] == UInt8(ascii: "}") { i += 1; return .object([:]) }
        // Members are gathered first so the dictionary is built once at its final size.
        var keys: [String] = []
        var values: [JSONValue] = []
        var keyOffsets: [Int] = []
        while true {
            skipWhitespace()
            guard i < p.count else { throw error("unexpected end of input inside an object: the file is truncated") }
            guard p[i] == UInt8(ascii: "\"") else { throw error("expected a quoted key, found \(describeByte())") }
            keyOffsets.append(i)
            let key = try parseString()
            skipWhitespace()
            guard i < p.count else { throw error("unexpected end of input inside an object: the file is truncated") }
            guard p[i] == UInt8(ascii: ":") else { throw error("expected ':' after key \"\(key)\", found \(describeByte())") }
            i += 1
            skipWhitespace()
            keys.append(key)
            if let deferredKey, i < p.count, p[i] == UInt8(ascii: "["), key.utf8.elementsEqual(deferredKey) {
                let start = i
                guard skipValue(depth: depth) else {
                    // Skipping only says that it failed: let the parser say why (nesting too deep, a bad value…).
                    i = start
                    _ = try parseValue(depth: depth)
                    throw error("unexpected end of input inside an array: the file is truncated")
                }
                values.append(.typed("$range", .array([.int(Int64(start)), .int(Int64(i))])))
            } else {
                values.append(try parseValue(depth: depth))
            }
            skipWhitespace()
            guard i < p.count else { throw error("unexpected end of input inside an object: the file is truncated") }
            if p[i] == UInt8(ascii: ",") { i += 1; continue }
            if p[i] == UInt8(ascii: "}") { i += 1; break }
            throw error("expected ',' or '}' in an object, found \(describeByte())")
        }
        var dict = [String: JSONValue](minimumCapacity: keys.count)
        for n in keys.indices where dict.updateValue(values[n], forKey: keys[n]) != nil {
            throw error("duplicate key \"\(keys[n])\" in one object", at: keyOffsets[n])
        }
        return .object(dict)
    }

    mutating func parseArray(depth: Int) throws(JSONSyntaxError) -> JSONValue {
        if depth > JSONParser.maxDepth { throw error("nesting deeper than \(JSONParser.maxDepth) levels") }
        i += 1
        var arr: [JSONValue] = []
        skipWhitespace()
        if i < p.count, p[i] == UInt8(ascii: "]") { i += 1; return .array(arr) }
        while true {
            skipWhitespace()
            arr.append(try parseValue(depth: depth))
            skipWhitespace()
            guard i < p.count else { throw error("unexpected end of input inside an array: the file is truncated") }
            if p[i] == UInt8(ascii: ",") { i += 1; continue }
            if p[i] == UInt8(ascii: "]") { i += 1; return .array(arr) }
            throw error("expected ',' or ']' in an array, found \(describeByte())")
        }
    }

    mutating func parseString() throws(JSONSyntaxError) -> String {
        let start = i + 1
        var k = start
        var ascii = true
        // Fast path: no escapes.
        while k < p.count {
            let b = p[k]
            if b == UInt8(ascii: "\"") {
                i = k + 1
                let slice = UnsafeBufferPointer(rebasing: p[start..<k])
                if ascii { return String(decoding: slice, as: UTF8.self) }
                if let s = String(validating: slice, as: UTF8.self) { return s }
                throw error("invalid UTF-8 in a string", at: start + invalidUTF8Offset(slice))
            }
            if b == UInt8(ascii: "\\") { break }
            if b < 0x20 { throw error("control character 0x\(String(b, radix: 16)) inside a string (must be escaped)", at: k) }
            if b >= 0x80 { ascii = false }
            k += 1
        }
        guard k < p.count else { throw error("unterminated string: the file is truncated", at: start - 1) }
        // Slow path: unescape into a buffer.
        var out = [UInt8](UnsafeBufferPointer(rebasing: p[start..<k]))
        while k < p.count {
            let b = p[k]
            if b == UInt8(ascii: "\"") {
                i = k + 1
                if let s = String(validating: out, as: UTF8.self) { return s }
                throw error("invalid UTF-8 in a string", at: start)
            }
            if b < 0x20 { throw error("control character 0x\(String(b, radix: 16)) inside a string (must be escaped)", at: k) }
            if b != UInt8(ascii: "\\") { out.append(b); k += 1; continue }
            k += 1
            guard k < p.count else { break }
            switch p[k] {
            case UInt8(ascii: "\""): out.append(0x22)
            case UInt8(ascii: "\\"): out.append(0x5C)
            case UInt8(ascii: "/"): out.append(0x2F)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                let escapeAt = k - 1
                var scalar = try hex4(at: k + 1)
                k += 4
                if scalar >= 0xD800 && scalar < 0xDC00 {
                    guard k + 6 < p.count, p[k + 1] == UInt8(ascii: "\\"), p[k + 2] == UInt8(ascii: "u") else {
                        throw error("lone UTF-16 surrogate \\u\(String(scalar, radix: 16)) in a string", at: escapeAt)
                    }
                    let low = try hex4(at: k + 3)
                    guard low >= 0xDC00 && low < 0xE000 else {
                        throw error("lone UTF-16 surrogate \\u\(String(scalar, radix: 16)) in a string", at: escapeAt)
                    }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    k += 6
                } else if scalar >= 0xDC00 && scalar < 0xE000 {
                    throw error("lone UTF-16 surrogate \\u\(String(scalar, radix: 16)) in a string", at: escapeAt)
                }
                out.append(contentsOf: Array(String(Character(UnicodeScalar(scalar)!)).utf8))
            default:
                throw error("invalid escape '\\\(describeByteAt(k))' in a string", at: k - 1)
            }
            k += 1
        }
        throw error("unterminated string: the file is truncated", at: start - 1)
    }

    func describeByteAt(_ k: Int) -> String {
        let b = p[k]
        return b >= 0x21 && b < 0x7F ? String(Character(UnicodeScalar(b))) : "0x\(String(b, radix: 16))"
    }

    func hex4(at k: Int) throws(JSONSyntaxError) -> UInt32 {
        guard k + 4 <= p.count else { throw error("unexpected end of input in a \\u escape: the file is truncated", at: k) }
        var v: UInt32 = 0
        for j in k..<(k + 4) {
            let b = p[j]
            let d: UInt8
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = b - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = b - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = b - UInt8(ascii: "A") + 10
            default: throw error("invalid hex digit in a \\u escape", at: j)
            }
            v = v << 4 | UInt32(d)
        }
        return v
    }

    mutating func parseNumber() throws(JSONSyntaxError) -> JSONValue {
        let start = i
        var negative = false
        if p[i] == UInt8(ascii: "-") { negative = true; i += 1 }
        guard i < p.count, p[i] >= UInt8(ascii: "0"), p[i] <= UInt8(ascii: "9") else {
            throw error("expected a digit in a number, found \(describeByte())")
        }
        var mantissa: UInt64 = 0
        var digits = 0
        var overflow = false
        if p[i] == UInt8(ascii: "0") {
            i += 1
            if i < p.count, p[i] >= UInt8(ascii: "0"), p[i] <= UInt8(ascii: "9") {
                throw error("leading zero in a number", at: start)
            }
        } else {
            while i < p.count, p[i] >= UInt8(ascii: "0"), p[i] <= UInt8(ascii: "9") {
                if digits < 19 { mantissa = mantissa * 10 + UInt64(p[i] - UInt8(ascii: "0")) } else { overflow = true }
                digits += 1
                i += 1
            }
        }
        var fractionDigits = 0
        var isInteger = true
        if i < p.count, p[i] == UInt8(ascii: ".") {
            isInteger = false
            i += 1
            guard i < p.count, p[i] >= UInt8(ascii: "0"), p[i] <= UInt8(ascii: "9") else {
                throw error("expected a digit after the decimal point, found \(describeByte())")
            }
            while i < p.count, p[i] >= UInt8(ascii: "0"), p[i] <= UInt8(ascii: "9") {
                if digits < 19 { mantissa = mantissa * 10 + UInt64(p[i] - UInt8(ascii: "0")); fractionDigits += 1 } else { overflow = true }
                if mantissa != 0 || digits > 0 { digits += 1 }
                i += 1
            }
        }
        var exponent = 0
        if i < p.count, p[i] == UInt8(ascii: "e") || p[i] == UInt8(ascii: "E") {
            isInteger = false
            i += 1
            var expNegative = false
            if i < p.count, p[i] == UInt8(ascii: "+") || p[i] == UInt8(ascii: "-") { expNegative = p[i] == UInt8(ascii: "-"); i += 1 }
            guard i < p.count, p[i] >= UInt8(ascii: "0"), p[i] <= UInt8(ascii: "9") else {
                throw error("expected a digit in the exponent, found \(describeByte())")
            }
            while i < p.count, p[i] >= UInt8(ascii: "0"), p[i] <= UInt8(ascii: "9") {
                if exponent < 100_000 { exponent = exponent * 10 + Int(p[i] - UInt8(ascii: "0")) }
                i += 1
            }
            if expNegative { exponent = -exponent }
        }
        if isInteger && !overflow {
            if !negative, mantissa <= UInt64(Int64.max) { return .int(Int64(mantissa)) }
            if negative, mantissa <= UInt64(Int64.max) + 1 {
                return .int(mantissa == UInt64(Int64.max) + 1 ? Int64.min : -Int64(mantissa))
            }
        }
        // Clinger's fast path: an exact mantissa and a small power of ten give a correctly rounded result.
        let e = exponent - fractionDigits
        if !overflow, mantissa < (1 << 53), e >= -22, e <= 22 {
            var d = Double(mantissa)
            d = e < 0 ? d / powersOfTen[-e] : d * powersOfTen[e]
            return JSONValue.number(negative ? -d : d)
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: p[start..<i]), as: UTF8.self)
        guard let d = Double(text), d.isFinite else {
            throw error("number \(text) is out of range", at: start)
        }
        return JSONValue.number(d)
    }

    // MARK: skipping, for locating records without building them

    mutating func skipValue(depth: Int = 0) -> Bool {
        guard i < p.count, depth <= JSONParser.maxDepth else { return false }
        switch p[i] {
        case UInt8(ascii: "\""):
            i += 1
            while i < p.count {
                if p[i] == UInt8(ascii: "\\") { i += 2; continue }
                if p[i] == UInt8(ascii: "\"") { i += 1; return true }
                i += 1
            }
            return false
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            let close = p[i] == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: "]")
            i += 1
            while true {
                skipWhitespace()
                guard i < p.count else { return false }
                if p[i] == close { i += 1; return true }
                if p[i] == UInt8(ascii: ",") || p[i] == UInt8(ascii: ":") { i += 1; continue }
                guard skipValue(depth: depth + 1) else { return false }
            }
        default:
            let start = i
            while i < p.count {
                let b = p[i]
                if b == UInt8(ascii: ",") || b == UInt8(ascii: "}") || b == UInt8(ascii: "]") || b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 { break }
                i += 1
            }
            return i > start
        }
    }
}

private let powersOfTen: [Double] = (0...22).map { e in
    var d = 1.0
    for _ in 0..<e { d *= 10 }
    return d
}

/// The offset of the first byte that is not valid UTF-8 (the count when all of it is).
public func invalidUTF8Offset(_ bytes: UnsafeBufferPointer<UInt8>) -> Int {
    var k = 0
    while k < bytes.count {
        let b = bytes[k]
        let len: Int
        if b < 0x80 { len = 1 } else if b & 0xE0 == 0xC0, b >= 0xC2 { len = 2 } else if b & 0xF0 == 0xE0 { len = 3 } else if b & 0xF8 == 0xF0, b <= 0xF4 { len = 4 } else { return k }
        if k + len > bytes.count { return k }
        for j in 1..<max(len, 1) where bytes[k + j] & 0xC0 != 0x80 { return k }
        if let s = String(validating: UnsafeBufferPointer(rebasing: bytes[k..<(k + len)]), as: UTF8.self), !s.isEmpty {
            k += len
        } else {
            return k
        }
    }
    return bytes.count
}

extension JSONParser {
    /// What the bytes look like at the top level, without parsing them whole.
    public enum Shape: Sendable, Equatable {
        case empty
        case array
        case object
        /// More than one value: JSON Lines.
        case sequence
        case other
    }

    public static func shape(of bytes: [UInt8]) -> Shape {
        bytes.withUnsafeBufferPointer { buf -> Shape in
            var s = Scanner(buf)
            s.skipBOM()
            s.skipWhitespace()
            guard s.i < buf.count else { return .empty }
            let first = buf[s.i]
            guard first == UInt8(ascii: "{") || first == UInt8(ascii: "[") else { return .other }
            guard s.skipValue() else { return first == UInt8(ascii: "[") ? .array : .object }
            s.skipWhitespace()
            if s.i < buf.count, buf[s.i] == UInt8(ascii: "{") { return .sequence }
            return first == UInt8(ascii: "[") ? .array : .object
        }
    }
}

extension JSONParser {
    /// Parses a document but leaves every array under a key named `deferredKey` unparsed: its place holds
    /// `.typed("$range", [start, end])`, the byte range of the array, to be read element by element with
    /// ``forEachElement(in:of:_:)``. A Dexie export's header is small; its `rows` are not.
    public static func parse(_ bytes: [UInt8], deferringArraysUnder deferredKey: String) throws(JSONSyntaxError) -> JSONValue {
        try parseDocument(bytes, deferring: deferredKey)
    }

    /// The byte range a deferred array placeholder stands for.
    public static func deferredRange(_ v: JSONValue) -> Range<Int>? {
        guard case .typed("$range", .array(let r)) = v, r.count == 2, case .int(let a) = r[0], case .int(let b) = r[1] else { return nil }
        return Int(a)..<Int(b)
    }
}

extension JSONParser {
    /// Documents from this size on have their large array parsed on every core
    /// (``parse(_:elementsInParallelUnder:)``): below it, handing the parts to other threads costs more than it saves.
    public static let parallelBytes = 256 << 10

    /// Parses one document exactly as ``parse(_:)`` does (the same value, and on bad input the same error), but
    /// the elements of the array under the top-level object's key `key` are parsed on every core once the
    /// document has ``parallelBytes``: a sync request's `changes`, an upload's batch of thousands of spools
    /// (reading and parsing a body of 5,000 took the server's route 25-43 ms, traced). Anything the parts do not
    /// parse (a syntax error, an array under `key` deeper in the document) is parsed again whole, as ``parse(_:)``
    /// would.
    public static func parse(_ bytes: [UInt8], elementsInParallelUnder key: String) throws(JSONSyntaxError) -> JSONValue {
        guard bytes.count >= parallelBytes, Parallel.cores > 1,
              case .object(var top)? = try? parseDocument(bytes, deferring: key),
              let range = top[key].flatMap(deferredRange),
              !top.contains(where: { $0.key != key && holdsDeferred($0.value) }) else { return try parse(bytes) }
        var ranges: [Range<Int>] = []
        do { try forEachElementRange(in: range, of: bytes) { ranges.append($0) } } catch { return try parse(bytes) }
        let parts = Parallel.map(ranges.count) { part in
            bytes.withUnsafeBufferPointer { buf in
                part.map { k -> JSONValue? in
                    // An element of an array under the top-level object: its value starts at depth 2, as in the whole document.
                    var scanner = Scanner(buf)
                    scanner.i = ranges[k].lowerBound
                    guard let value = try? scanner.parseValue(depth: 2), scanner.i == ranges[k].upperBound else { return nil }
                    return value
                }
            }
        }
        var elements: [JSONValue] = []
        elements.reserveCapacity(ranges.count)
        for part in parts {
            for value in part {
                guard let value else { return try parse(bytes) }
                elements.append(value)
            }
        }
        top[key] = .array(elements)
        return .object(top)
    }

    /// Whether `value` holds a deferred array's placeholder anywhere.
    static func holdsDeferred(_ value: JSONValue) -> Bool {
        switch value {
        case .typed("$range", _): return true
        case .typed(_, let inner): return holdsDeferred(inner)
        case .array(let a): return a.contains(where: holdsDeferred)
        case .object(let o): return o.values.contains(where: holdsDeferred)
        default: return false
        }
    }
}

extension JSONParser {
    /// The offset just past the first top-level value, without building it; `nil` if it is not complete.
    public static func endOfFirstValue(_ bytes: [UInt8]) -> Int? {
        bytes.withUnsafeBufferPointer { buf -> Int? in
            var s = Scanner(buf)
            s.skipBOM()
            s.skipWhitespace()
            return s.skipValue() ? s.i : nil
        }
    }
}

extension JSONParser {
    /// Parses the one value occupying `range` of `bytes`; errors carry lines and columns of the whole document.
    public static func parse(_ bytes: [UInt8], range: Range<Int>) throws(JSONSyntaxError) -> JSONValue {
        try bytes.withUnsafeBufferPointer { (buf) throws(JSONSyntaxError) -> JSONValue in
            var s = Scanner(buf)
            s.i = range.lowerBound
            let v = try s.parseValue(depth: 1)
            if s.i != range.upperBound { throw s.error("unexpected \(s.describeByte()) after the end of the JSON value") }
            return v
        }
    }

    /// The byte ranges of the elements of the array at `range`, found by skipping, not parsing: each can then
    /// be parsed on its own (and on any thread) with ``parse(_:range:)``.
    public static func forEachElementRange(in range: Range<Int>, of bytes: [UInt8], _ body: (Range<Int>) -> Void) throws(JSONSyntaxError) {
        try bytes.withUnsafeBufferPointer { (buf) throws(JSONSyntaxError) in
            var s = Scanner(buf)
            s.i = range.lowerBound
            guard s.i < buf.count, buf[s.i] == UInt8(ascii: "[") else { throw s.error("expected an array") }
            s.i += 1
            s.skipWhitespace()
            if s.i < buf.count, buf[s.i] == UInt8(ascii: "]") { return }
            while true {
                s.skipWhitespace()
                let start = s.i
                guard s.skipValue(depth: 1) else {
                    // Let the parser say what is wrong here.
                    s.i = start
                    _ = try s.parseValue(depth: 1)
                    throw s.error("unexpected end of input inside an array: the file is truncated")
                }
                body(start..<s.i)
                s.skipWhitespace()
                guard s.i < buf.count else { throw s.error("unexpected end of input inside an array: the file is truncated") }
                if buf[s.i] == UInt8(ascii: ",") { s.i += 1; continue }
                if buf[s.i] == UInt8(ascii: "]") { return }
                throw s.error("expected ',' or ']' in an array, found \(s.describeByte())")
            }
        }
    }
}

extension JSONParser {
    /// About how many values `bytes` holds, counted without building any: one, plus one for each `,`, `[` and `{`
    /// outside strings (an upper bound for a document that parses). What a parsed document costs in memory goes with
    /// this count far more than with its bytes (a value of a few bytes costs hundreds once parsed), so a reader of
    /// untrusted documents checks it before parsing.
    public static func valueCount(_ bytes: [UInt8]) -> Int {
        bytes.withUnsafeBufferPointer { buf in
            var count = 1
            var i = 0
            let n = buf.count
            while i < n {
                let b = buf[i]
                if b == UInt8(ascii: "\"") {
                    // To the string's closing quote (a backslash takes the byte after it).
                    i += 1
                    while i < n {
                        let c = buf[i]
                        if c == UInt8(ascii: "\\") { i += 2; continue }
                        if c == UInt8(ascii: "\"") { break }
                        i += 1
                    }
                } else if b == UInt8(ascii: ",") || b == UInt8(ascii: "[") || b == UInt8(ascii: "{") {
                    count += 1
                }
                i += 1
            }
            return count
        }
    }
}
