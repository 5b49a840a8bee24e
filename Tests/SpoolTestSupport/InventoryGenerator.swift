import SpoolModel

/// SplitMix64: a small, fast, seedable generator, so every failing case can be replayed from its seed.
public struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Generates hostile inventories: odd and unicode strings, empty and duplicate serials, extreme numbers,
/// unknown fields holding nested arrays, objects and JavaScript-only (typeson) values.
public struct InventoryGenerator {
    public var rng: SeededGenerator
    /// Whether unknown fields may hold typeson values (dates, maps, blobs, …).
    public var typedValues: Bool

    public init(seed: UInt64, typedValues: Bool = true) {
        rng = SeededGenerator(seed: seed)
        self.typedValues = typedValues
    }

    static let fragments: [String] = [
        "a", "Z", "0", " ", "-", "_", "~", ".", "/", "\\", "\"", "'", ",", ";", "=", "+", "@", "\t", "\n", "\r",
        "\u{0}", "\u{1F}", "é", "e\u{301}", "ß", "漢字", "🧵", "👩‍🔬", "שלום", "\u{2028}", "\u{FEFF}", "%20", "../", "$", "#",
    ]

    public mutating func string(maxFragments: Int = 6) -> String {
        let n = Int.random(in: 0...maxFragments, using: &rng)
        return (0..<n).map { _ in Self.fragments.randomElement(using: &rng)! }.joined()
    }

    public mutating func number() -> JSONValue {
        switch Int.random(in: 0..<7, using: &rng) {
        case 0: return .int(Int64.random(in: -1000...1000, using: &rng))
        case 1: return .int([Int64.max, Int64.min, 9_007_199_254_740_993, 0].randomElement(using: &rng)!)
        case 2: return JSONValue.number([Double.leastNonzeroMagnitude, 1.7976931348623157e308, -2.2250738585072014e-308, 1e-7, 0.1, 1.75, 1e21].randomElement(using: &rng)!)
        default:
            while true {
                let d = Double(bitPattern: rng.next())
                if d.isFinite { return JSONValue.number(d) }
            }
        }
    }

    public mutating func plainValue(depth: Int) -> JSONValue {
        let choice = Int.random(in: 0..<(depth > 2 ? 5 : 7), using: &rng)
        switch choice {
        case 0: return .null
        case 1: return .bool(Bool.random(using: &rng))
        case 2: return number()
        case 3, 4: return .string(string())
        case 5: return .array((0..<Int.random(in: 0...4, using: &rng)).map { _ in anyValue(depth: depth + 1) })
        default:
            var o: [String: JSONValue] = [:]
            for _ in 0..<Int.random(in: 0...4, using: &rng) { o[string(maxFragments: 3)] = anyValue(depth: depth + 1) }
            return .object(o)
        }
    }

    public mutating func typedValue() -> JSONValue {
        switch Int.random(in: 0..<8, using: &rng) {
        case 0: return .typed("date", .int(Int64.random(in: -10_000_000_000_000...10_000_000_000_000, using: &rng)))
        case 1: return .typed("date", .string("NaN"))
        case 2: return .typed("undef", .int(0))
        case 3: return .typed(["nan", "infinity", "negativeInfinity"].randomElement(using: &rng)!,
                              .string(["NaN", "Infinity", "-Infinity"].randomElement(using: &rng)!))
        case 4: return .typed("bigint", .string(String(Int64.random(in: Int64.min...Int64.max, using: &rng)) + "123"))
        case 5: return .typed("map", .array([.array([.string(string()), plainValue(depth: 3)]), .array([number(), .typed("date", .int(0))])]))
        case 6: return .typed("set", .array([.string(string()), number()]))
        default: return .typed("blob2", .object(["type": .string("image/png"), "data": .string("iVBORw0KGgo=")]))
        }
    }

    public mutating func anyValue(depth: Int) -> JSONValue {
        if typedValues, depth > 0, Int.random(in: 0..<6, using: &rng) == 0 { return typedValue() }
        return plainValue(depth: depth)
    }

    /// One raw spool record, as a file would hold it (not yet normalised).
    public mutating func record(id: Int64, serialPool: inout [String]) -> [String: JSONValue] {
        var o: [String: JSONValue] = [:]
        let serial: String
        switch Int.random(in: 0..<6, using: &rng) {
        case 0 where !serialPool.isEmpty: serial = serialPool.randomElement(using: &rng)!
        case 1: serial = ""
        case 2: serial = String(repeating: "long-", count: 60)
        default: serial = string() + String(id)
        }
        serialPool.append(serial)
        o["serial"] = .string(serial)
        o["id"] = .int(id)
        for spec in SpoolSchema.fields where spec.name != "serial" && spec.name != "id" && Bool.random(using: &rng) {
            switch spec.kind {
            case .string: o[spec.name] = .string(string())
            case .integer: break
            case .number: o[spec.name] = number()
            case .timestamp: o[spec.name] = .int(Int64.random(in: 0...4_000_000_000_000, using: &rng))
            case .boolean: o[spec.name] = .bool(Bool.random(using: &rng))
            case .stringArray: o[spec.name] = .array((0..<Int.random(in: 0...3, using: &rng)).map { _ in .string(string()) })
            case .isoDate: o[spec.name] = .string("2024-0\(Int.random(in: 1...9, using: &rng))-1\(Int.random(in: 0...9, using: &rng))")
            case .tagHistory:
                o[spec.name] = .array((0..<Int.random(in: 0...2, using: &rng)).map { _ in
                    .object(["timestamp": .int(Int64.random(in: 0...4_000_000_000_000, using: &rng)),
                             "action": .string(["assigned", "reassigned", "removed"].randomElement(using: &rng)!),
                             "tagSerial": .string(string()), string(maxFragments: 2) + "x": plainValue(depth: 2)])
                })
            }
        }
        for _ in 0..<Int.random(in: 0...4, using: &rng) {
            var key = string(maxFragments: 3)
            if SpoolSchema.spec(key) != nil || key == "$types" || key.isEmpty { key = "x" + key + "_" }
            o[key] = anyValue(depth: 1)
        }
        return o
    }

    /// A raw inventory of up to `maxCount` records with distinct ids.
    public mutating func inventory(maxCount: Int = 30) -> [[String: JSONValue]] {
        var pool: [String] = []
        let n = Int.random(in: 0...maxCount, using: &rng)
        var ids = Array(1...Int64(max(n, 1)) * 3)
        ids.shuffle(using: &rng)
        return (0..<n).map { record(id: ids[$0], serialPool: &pool) }
    }

    /// The inventory as a plain JSON array file, each record with its `$types`.
    public static func jsonArrayBytes(_ records: [[String: JSONValue]]) -> [UInt8] {
        var w = JSONWriter()
        w.append("[")
        for (n, r) in records.enumerated() {
            if n > 0 { w.append(",\n") }
            Spool(normalizedFields: r).writeCompact(into: &w)
        }
        w.append("]")
        return w.bytes
    }
}
