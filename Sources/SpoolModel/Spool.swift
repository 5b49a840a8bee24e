/// One spool: its known fields, checked and normalised, and every other field exactly as it arrived.
///
/// Build one with ``SpoolNormalizer``; a `Spool` always has a `serial` string and, once migrated, a
/// `lastUpdated`. Known fields never hold `null` (an empty field is an absent key).
public struct Spool: Hashable, Sendable {
    /// All fields by name. Known fields hold the kinds ``SpoolSchema`` gives them.
    public private(set) var fields: [String: JSONValue]

    /// Wraps fields that are already normalised (by ``SpoolNormalizer``, or taken from another `Spool`).
    public init(normalizedFields: [String: JSONValue]) {
        self.fields = normalizedFields
    }

    /// A spool read back from its canonical document (``canonicalJSON`` or ``compactJSON``), as the history
    /// and stored inventories keep it; `nil` if the bytes are not one.
    public init?(canonicalJSON bytes: [UInt8]) {
        guard case .object(let object)? = try? JSONParser.parse(bytes),
              let fields = try? Typeson.decodeDocument(object) else { return nil }
        self.init(normalizedFields: fields)
    }

    public var serial: String { fields["serial"]?.stringValue ?? "" }

    /// The legacy Dexie key, local to one browser.
    public var id: Int64? { fields["id"]?.intIfInt }

    public var lastUpdated: Int64? { fields["lastUpdated"]?.intIfInt }

    /// A tombstone: the record of a deletion, kept so the deletion can travel.
    public var isDeleted: Bool { fields["deleted"] == .bool(true) }

    public subscript(field: String) -> JSONValue? {
        get { fields[field] }
        set { fields[field] = newValue }
    }

    /// Fields in canonical order: known fields in schema order, then the others sorted by UTF-8 bytes.
    public var orderedFields: [(key: String, value: JSONValue)] {
        var out: [(key: String, value: JSONValue)] = []
        out.reserveCapacity(fields.count)
        forEachOrderedField { out.append(($0, $1)) }
        return out
    }

    /// ``orderedFields`` one by one, without arrays of them: the known fields found by their index into a slot
    /// each (on the stack), then the others sorted (a spool seldom has any). Encoding a sync request's spools
    /// spent half its time building those arrays.
    @inline(__always)
    func forEachOrderedField(_ body: (String, JSONValue) -> Void) {
        typealias Slot = Dictionary<String, JSONValue>.Index
        let count = SpoolSchema.fields.count
        withUnsafeTemporaryAllocation(of: Slot?.self, capacity: count) { slots in
            slots.initialize(repeating: nil)
            var unknown: [Slot] = []
            var i = fields.startIndex
            while i != fields.endIndex {
                if let p = SpoolSchema.index(of: fields[i].key) { slots[p] = i } else { unknown.append(i) }
                fields.formIndex(after: &i)
            }
            for slot in slots { if let slot { body(fields[slot].key, fields[slot].value) } }
            if !unknown.isEmpty {
                unknown.sort { utf8Ordered(fields[$0].key, fields[$1].key) }
                for slot in unknown { body(fields[slot].key, fields[slot].value) }
            }
            slots.deinitialize()
        }
    }

    /// The fields that are not part of the canonical schema.
    public var unknownFields: [String: JSONValue] { fields.filter { SpoolSchema.index(of: $0.key) == nil } }

    /// The known fields by their index in ``SpoolSchema/fields`` (nil where absent).
    public var knownFieldsByIndex: [JSONValue?] {
        var known = [JSONValue?](repeating: nil, count: SpoolSchema.fields.count)
        for (k, v) in fields { if let p = SpoolSchema.index(of: k) { known[p] = v } }
        return known
    }

    /// The record as one JSON object (typed values still typed).
    public var jsonObject: JSONValue { .object(fields) }

    /// The canonical document: one field per line in canonical order, then `$types` when a field holds a
    /// JavaScript-only value. The same spool always gives the same bytes, so a diff of two versions shows
    /// only the fields that changed.
    public var canonicalJSON: [UInt8] {
        var w = JSONWriter(reservingCapacity: 512)
        w.append("{")
        var first = true
        forEachOrderedField { key, value in
            w.append(first ? "\n  " : ",\n  ")
            first = false
            w.writeString(key)
            w.append(": ")
            w.write(value)
        }
        if let types = Typeson.typesObject(of: jsonObject) {
            w.append(first ? "\n  " : ",\n  ")
            first = false
            w.append("\"$types\": ")
            w.write(types)
        }
        w.append(first ? "}\n" : "\n}\n")
        return w.bytes
    }

    /// ``canonicalJSON`` made from ``compactJSON``'s bytes without reading the fields: the two documents differ
    /// only in the line breaks and spaces around the top-level members (values are written alike in both).
    public static func canonicalJSON(fromCompact compact: [UInt8]) -> [UInt8] {
        compact.withUnsafeBufferPointer { c -> [UInt8] in
            guard c.count > 2, c[0] == UInt8(ascii: "{"), c[c.count - 1] == UInt8(ascii: "}") else { return Array(c) + [0x0A] }
            var out: [UInt8] = []
            out.reserveCapacity(c.count + c.count / 4 + 8)
            out.append(contentsOf: [UInt8(ascii: "{"), 0x0A, 0x20, 0x20])
            var depth = 0, inString = false, escaped = false
            for i in 1..<(c.count - 1) {
                let b = c[i]
                if inString {
                    out.append(b)
                    if escaped { escaped = false } else if b == UInt8(ascii: "\\") { escaped = true } else if b == UInt8(ascii: "\"") { inString = false }
                    continue
                }
                switch b {
                case UInt8(ascii: "\""): inString = true; out.append(b)
                case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1; out.append(b)
                case UInt8(ascii: "}"), UInt8(ascii: "]"): depth -= 1; out.append(b)
                case UInt8(ascii: ":") where depth == 0: out.append(contentsOf: [UInt8(ascii: ":"), 0x20])
                case UInt8(ascii: ",") where depth == 0: out.append(contentsOf: [UInt8(ascii: ","), 0x0A, 0x20, 0x20])
                default: out.append(b)
                }
            }
            out.append(contentsOf: [0x0A, UInt8(ascii: "}"), 0x0A])
            return out
        }
    }

    /// ``compactJSON`` made from ``canonicalJSON``'s bytes without reading the fields (the reverse of
    /// ``canonicalJSON(fromCompact:)``): each member's line break and indentation, and the space after its
    /// name, dropped. A file that is not in the canonical layout comes back with only its line breaks and
    /// their indentation dropped (a string in JSON never holds a raw line break).
    public static func compactJSON(fromCanonical file: [UInt8]) -> [UInt8] {
        file.withUnsafeBufferPointer { f in
            [UInt8](unsafeUninitializedCapacity: f.count) { out, written in
                var i = 0, n = 0
                while i < f.count {
                    guard f[i] == 0x0A else {
                        out[n] = f[i]
                        n += 1
                        i += 1
                        continue
                    }
                    i += 1
                    while i < f.count, f[i] == 0x20 { i += 1 }
                    // A member's name, copied to its closing quote; then `: ` becomes `:`.
                    guard i < f.count, f[i] == UInt8(ascii: "\"") else { continue }
                    out[n] = f[i]
                    n += 1
                    i += 1
                    var escaped = false
                    while i < f.count {
                        let b = f[i]
                        out[n] = b
                        n += 1
                        i += 1
                        if escaped { escaped = false } else if b == UInt8(ascii: "\\") { escaped = true } else if b == UInt8(ascii: "\"") { break }
                    }
                    if i + 1 < f.count, f[i] == UInt8(ascii: ":"), f[i + 1] == 0x20 {
                        out[n] = f[i]
                        n += 1
                        i += 2
                    }
                }
                // The canonical file ends in a line break after its `}`.
                written = n
            }
        }
    }

    /// The same document on one line (for JSON Lines and arrays).
    public var compactJSON: [UInt8] {
        var w = JSONWriter(reservingCapacity: 384)
        writeCompact(into: &w)
        return w.bytes
    }

    /// Appends the compact canonical document to `w`; `extra` members (already encoded) are not added.
    public func writeCompact(into w: inout JSONWriter) {
        w.append("{")
        var first = true
        forEachOrderedField { key, value in
            if !first { w.append(",") }
            first = false
            w.writeString(key)
            w.append(":")
            w.write(value)
        }
        if let types = Typeson.typesObject(of: jsonObject) {
            if !first { w.append(",") }
            w.append("\"$types\":")
            w.write(types)
        }
        w.append("}")
    }
}
