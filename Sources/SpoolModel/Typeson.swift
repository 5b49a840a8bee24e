/// A `$types` entry that cannot be revived: an unknown type, a path that is not there, a malformed value.
public struct TypesonError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The `$types` key path, as written in the file.
    public var keyPath: String
    public var message: String
    public var description: String { "$types[\"\(keyPath)\"]: \(message)" }

    public init(keyPath: String, message: String) {
        self.keyPath = keyPath
        self.message = message
    }
}

/// typeson, as dexie-export-import writes it: a JSON value plus a `$types` map from key paths to type names.
///
/// Decoding checks every entry and wraps the value at its path in ``JSONValue/typed(_:_:)``; encoding does
/// the reverse. Key path components are joined with `.`, with `~` escaped as `~0` and `.` as `~1`; `""` is
/// the root; an array of names is applied in order; nested paths revive before their parents; `"#"` marks a
/// repeated reference, expanded here into a copy (a tree cannot share nodes).
public enum Typeson {
    /// The type names filamentdb understands: typeson-registry's structured-cloning preset and
    /// dexie-export-import's own `blob2`, `arraybuffer` and `<typedarray>2` types.
    public static let knownTypes: Set<String> = {
        var names: Set<String> = [
            "date", "undef", "nan", "infinity", "negativeInfinity", "arrayNonindexKeys", "userObject",
            "map", "set", "bigint", "bigintObject", "arraybuffer", "dataview", "blob", "blob2", "file", "filelist",
            "regexp", "error", "StringObject", "NumberObject", "BooleanObject", "imagedata", "imagebitmap",
            "sparseArrays", "sparseUndefined",
            "EvalError", "RangeError", "ReferenceError", "SyntaxError", "TypeError", "URIError",
        ]
        for t in typedArrayNames { names.insert(t); names.insert(t + "2") }
        return names
    }()

    static let typedArrayNames = [
        "int8array", "uint8array", "uint8clampedarray", "int16array", "uint16array", "int32array",
        "uint32array", "float32array", "float64array", "bigint64array", "biguint64array",
    ]

    /// The most reference expansions one record may need (guards against exponential blow-up).
    static let maxReferenceExpansions = 10_000

    // MARK: key paths

    public static func parseKeyPath(_ path: String) -> [String] {
        if path.isEmpty { return [] }
        return path.split(separator: ".", omittingEmptySubsequences: false).map { unescape($0) }
    }

    public static func formatKeyPath(_ components: [String]) -> String {
        components.map(escape).joined(separator: ".")
    }

    static func escape(_ component: String) -> String {
        guard component.utf8.contains(where: { $0 == UInt8(ascii: "~") || $0 == UInt8(ascii: ".") }) else { return component }
        var out = ""
        for ch in component.unicodeScalars {
            switch ch {
            case "~": out += "~0"
            case ".": out += "~1"
            default: out.unicodeScalars.append(ch)
            }
        }
        return out
    }

    static func unescape(_ component: Substring) -> String {
        guard component.utf8.contains(UInt8(ascii: "~")) else { return String(component) }
        var out = ""
        var it = component.unicodeScalars.makeIterator()
        while let ch = it.next() {
            guard ch == "~" else { out.unicodeScalars.append(ch); continue }
            switch it.next() {
            case "0": out += "~"
            case "1": out += "."
            case let other?: out += "~"; out.unicodeScalars.append(other)
            case nil: out += "~"
            }
        }
        return out
    }

    // MARK: decoding

    /// Revives `value` according to `types` (the `$types` member, already removed from `value`).
    public static func decode(_ value: JSONValue, types: JSONValue) throws(TypesonError) -> JSONValue {
        guard case .object(let typeMap) = types else {
            throw TypesonError(keyPath: "", message: "$types must be an object, found \(types.kindDescription)")
        }
        var entries: [(path: [String], raw: String, names: [String])] = []
        for (key, t) in typeMap {
            var names: [String]
            switch t {
            case .string(let s): names = [s]
            case .array(let a):
                names = []
                for n in a {
                    guard case .string(let s) = n else {
                        throw TypesonError(keyPath: key, message: "a type list may hold only names, found \(n.kindDescription)")
                    }
                    names.append(s)
                }
                if names.isEmpty { throw TypesonError(keyPath: key, message: "empty type list") }
            default:
                throw TypesonError(keyPath: key, message: "a type must be a name or a list of names, found \(t.kindDescription)")
            }
            for n in names where n != "#" && !knownTypes.contains(n) {
                throw TypesonError(keyPath: key, message: "unknown typeson type '\(n)'; known types: \(knownTypes.sorted().joined(separator: ", "))")
            }
            entries.append((parseKeyPath(key), key, names))
        }

        var root = value
        // 1. Repeated references: copy the referenced (still encapsulated) subtree and its type entries.
        var pending = entries.filter { $0.names == ["#"] }
        entries.removeAll { $0.names == ["#"] }
        var expansions = 0
        while let ref = pending.popLast() {
            expansions += 1
            if expansions > maxReferenceExpansions {
                throw TypesonError(keyPath: ref.raw, message: "more than \(maxReferenceExpansions) repeated references")
            }
            guard let marker = try Self.value(at: ref.path, in: root, keyPath: ref.raw).stringValue, marker.hasPrefix("#") else {
                throw TypesonError(keyPath: ref.raw, message: "a '#' reference must be a string \"#<key path>\"")
            }
            let targetRaw = String(marker.dropFirst())
            let target = parseKeyPath(targetRaw)
            if ref.path.starts(with: target) {
                throw TypesonError(keyPath: ref.raw, message: "circular reference to '\(targetRaw)' cannot be represented")
            }
            let copied = try Self.value(at: target, in: root, keyPath: ref.raw)
            try replace(at: ref.path[...], in: &root, keyPath: ref.raw) { _ throws(TypesonError) in copied }
            for e in entries where e.path.starts(with: target) {
                entries.append((ref.path + e.path.dropFirst(target.count), formatKeyPath(ref.path + e.path.dropFirst(target.count)), e.names))
            }
            for e in pending where e.path.starts(with: target) {
                pending.append((ref.path + e.path.dropFirst(target.count), formatKeyPath(ref.path + e.path.dropFirst(target.count)), e.names))
            }
        }
        // 2. Types, deepest paths first so children are revived before their parents.
        entries.sort { a, b in
            a.path.count != b.path.count ? a.path.count > b.path.count : utf8Ordered(a.raw, b.raw)
        }
        for e in entries {
            try replace(at: e.path[...], in: &root, keyPath: e.raw) { (v) throws(TypesonError) -> JSONValue in
                var current = v
                for name in e.names {
                    current = try revive(name, current, keyPath: e.raw)
                }
                return current
            }
        }
        return root
    }

    /// A typeson document: an object whose own `$types` member (if any) describes the rest, as Dexie rows and
    /// canonical spool documents are. Returns the object without `$types`, revived.
    public static func decodeDocument(_ object: [String: JSONValue]) throws(TypesonError) -> [String: JSONValue] {
        var object = object
        guard let types = object.removeValue(forKey: "$types") else { return object }
        let revived = try decode(.object(object), types: types)
        guard case .object(let o) = revived else {
            throw TypesonError(keyPath: "", message: "the root type makes the document \(revived.kindDescription), not an object")
        }
        return o
    }

    static func value(at path: [String], in root: JSONValue, keyPath: String) throws(TypesonError) -> JSONValue {
        var v = root
        for (n, c) in path.enumerated() {
            switch v {
            case .object(let o):
                guard let next = o[c] else { throw missing(keyPath, path, n) }
                v = next
            case .array(let a):
                guard let idx = Int(c), idx >= 0, idx < a.count else { throw missing(keyPath, path, n) }
                v = a[idx]
            case .typed(_, let inner):
                // A path through an already revived value addresses its encapsulated form.
                v = inner
                return try value(at: Array(path[n...]), in: v, keyPath: keyPath)
            default:
                throw missing(keyPath, path, n)
            }
        }
        return v
    }

    static func missing(_ keyPath: String, _ path: [String], _ n: Int) -> TypesonError {
        let found = n == 0 ? "the record" : "'\(formatKeyPath(Array(path[..<n])))'"
        return TypesonError(keyPath: keyPath, message: "the path does not exist: \(found) has no '\(path[n])'")
    }

    static func replace(
        at path: ArraySlice<String>, in v: inout JSONValue, keyPath: String,
        _ body: (JSONValue) throws(TypesonError) -> JSONValue
    ) throws(TypesonError) {
        guard let first = path.first else {
            v = try body(v)
            return
        }
        let full = Array(path)
        switch v {
        case .object(var o):
            guard var child = o[first] else { throw TypesonError(keyPath: keyPath, message: "the path does not exist: no '\(first)'") }
            v = .null
            o[first] = nil
            try replace(at: path.dropFirst(), in: &child, keyPath: keyPath, body)
            o[first] = child
            v = .object(o)
        case .array(var a):
            guard let idx = Int(first), idx >= 0, idx < a.count else {
                throw TypesonError(keyPath: keyPath, message: "the path does not exist: no element '\(first)' in an array of \(a.count)")
            }
            v = .null
            var child = a[idx]
            try replace(at: path.dropFirst(), in: &child, keyPath: keyPath, body)
            a[idx] = child
            v = .array(a)
        case .typed(let name, var inner):
            try replace(at: path, in: &inner, keyPath: keyPath, body)
            v = .typed(name, inner)
        default:
            _ = full
            throw TypesonError(keyPath: keyPath, message: "the path does not exist: '\(first)' is inside \(v.kindDescription)")
        }
    }

    /// Checks one encapsulated value against its type and returns it wrapped (or unwrapped, for the types
    /// that mean nothing outside JavaScript).
    static func revive(_ name: String, _ v: JSONValue, keyPath: String) throws(TypesonError) -> JSONValue {
        func bad(_ expected: String) -> TypesonError {
            TypesonError(keyPath: keyPath, message: "a '\(name)' value must be \(expected), found \(v.kindDescription)")
        }
        let inner: JSONValue
        if case .typed(_, let x) = v { inner = x } else { inner = v }
        switch name {
        case "userObject":
            // A class instance: Dexie maps it back to its class itself; the plain object is the record.
            if case .object = v { return v }
            throw bad("an object")
        case "arrayNonindexKeys":
            if case .array = v { return v }
            return .typed(name, v)
        case "date":
            switch v {
            case .int, .double: return .typed(name, v)
            case .string(let s) where s == "NaN": return .typed(name, v)
            default: throw bad("epoch milliseconds or \"NaN\"")
            }
        case "undef", "sparseUndefined":
            return .typed(name, .int(0))
        case "nan": return .typed(name, .string("NaN"))
        case "infinity": return .typed(name, .string("Infinity"))
        case "negativeInfinity": return .typed(name, .string("-Infinity"))
        case "bigint", "bigintObject":
            guard case .string(let s) = v, isDecimalInteger(s) else { throw bad("a decimal integer string") }
            return .typed(name, v)
        case "arraybuffer":
            guard case .string(let s) = v, isBase64(s) else { throw bad("a base64 string") }
            return .typed(name, v)
        case "blob2":
            guard case .object(let o) = v, o["type"]?.stringValue != nil, let data = o["data"]?.stringValue, isBase64(data) else {
                throw bad("an object {type, data} with base64 data")
            }
            return .typed(name, v)
        case "regexp":
            guard case .object(let o) = v, o["source"]?.stringValue != nil, o["flags"]?.stringValue != nil else {
                throw bad("an object {source, flags}")
            }
            return .typed(name, v)
        case "map":
            guard case .array(let pairs) = inner, pairs.allSatisfy({ $0.arrayValue?.count == 2 }) else {
                throw bad("an array of [key, value] pairs")
            }
            return .typed(name, v)
        case "set":
            guard case .array = inner else { throw bad("an array") }
            return .typed(name, v)
        case "StringObject":
            guard case .string = v else { throw bad("a string") }
            return .typed(name, v)
        case "BooleanObject":
            guard case .bool = v else { throw bad("a boolean") }
            return .typed(name, v)
        case "NumberObject":
            return .typed(name, v)
        case "imagebitmap":
            guard case .string = v else { throw bad("a data URL string") }
            return .typed(name, v)
        default:
            // Typed arrays, data views, blobs, files, errors, image data, sparse arrays: structured objects
            // whose parts were revived by their own entries.
            switch inner {
            case .object, .array, .string: return .typed(name, v)
            default: throw bad("an object")
            }
        }
    }

    static func isDecimalInteger(_ s: String) -> Bool {
        var u = Substring(s)
        if u.hasPrefix("-") { u = u.dropFirst() }
        return !u.isEmpty && u.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 }
    }

    static func isBase64(_ s: String) -> Bool {
        let u = s.utf8
        guard u.count % 4 == 0 else { return false }
        var padding = 0
        for b in u {
            switch b {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "+"), UInt8(ascii: "/"):
                if padding > 0 { return false }
            case UInt8(ascii: "="):
                padding += 1
                if padding > 2 { return false }
            default: return false
            }
        }
        return true
    }

    // MARK: encoding

    /// The `$types` entries of `value`: for each typed node, its key path and its names in the order they
    /// are applied on revival. `typed` nodes are written as their encapsulated values by the JSON writers.
    public static func typeEntries(of value: JSONValue) -> [(keyPath: String, names: [String])] {
        var out: [(String, [String])] = []
        var path: [String] = []
        collect(value, &path, &out)
        return out.sorted { utf8Ordered($0.0, $1.0) }
    }

    private static func collect(_ v: JSONValue, _ path: inout [String], _ out: inout [(String, [String])]) {
        switch v {
        case .typed:
            var names: [String] = []
            var cur = v
            while case .typed(let n, let inner) = cur { names.append(n); cur = inner }
            out.append((formatKeyPath(path), names.reversed()))
            collect(cur, &path, &out)
        case .array(let a):
            for (i, e) in a.enumerated() {
                path.append(String(i)); collect(e, &path, &out); path.removeLast()
            }
        case .object(let o):
            for (k, e) in o {
                path.append(k); collect(e, &path, &out); path.removeLast()
            }
        default: break
        }
    }

    /// The `$types` object for `value`, or `nil` when it holds no typed node.
    public static func typesObject(of value: JSONValue) -> JSONValue? {
        guard value.containsTyped else { return nil }
        var o: [String: JSONValue] = [:]
        for (path, names) in typeEntries(of: value) {
            o[path] = names.count == 1 ? .string(names[0]) : .array(names.map { .string($0) })
        }
        return .object(o)
    }
}
