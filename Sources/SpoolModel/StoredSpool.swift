/// A canonical spool kept as its compact canonical JSON (about a tenth of the memory of its fields as a
/// dictionary), with the few fields identity and ordering need. Conversions hold whole inventories this way
/// and decode one spool at a time where a writer needs its fields.
public struct StoredSpool: Sendable {
    public let serial: String
    public let id: Int64?
    public let isDeleted: Bool
    /// The compact canonical document (``Spool/compactJSON``), `$types` included.
    public let json: [UInt8]

    public init(_ spool: Spool) {
        serial = spool.serial
        id = spool.id
        isDeleted = spool.isDeleted
        json = spool.compactJSON
    }

    /// The spool's fields again.
    public func spool() -> Spool {
        guard case .object(var fields)? = try? JSONParser.parse(json) else {
            return Spool(normalizedFields: ["serial": .string(serial)])
        }
        if let types = fields.removeValue(forKey: "$types"), case .object(let revived)? = try? Typeson.decode(.object(fields), types: types) {
            fields = revived
        }
        return Spool(normalizedFields: fields)
    }
}

/// An inventory of stored spools, sorted by serial, with what a tabular writer needs to know up front.
public struct StoredInventory: Sendable {
    public var spools: [StoredSpool]
    /// Every field name outside the schema, by exact spelling, sorted by UTF-8 bytes.
    public var unknownKeys: [ExactString]
    /// Whether any spool holds a JavaScript-only (typeson) value.
    public var anyTyped: Bool

    public init(spools: [StoredSpool], unknownKeys: [ExactString], anyTyped: Bool) {
        self.spools = spools
        self.unknownKeys = unknownKeys
        self.anyTyped = anyTyped
    }

    /// Stores `spools` (sorted by serial here).
    public init(_ spools: [Spool]) {
        var keys = Set<ExactString>()
        var typed = false
        for s in spools {
            for k in s.fields.keys where SpoolSchema.byName[k] == nil { keys.insert(ExactString(k)) }
            if !typed, s.jsonObject.containsTyped { typed = true }
        }
        self.init(spools: spools.sorted { utf8Ordered($0.serial, $1.serial) }.map(StoredSpool.init),
                  unknownKeys: keys.sorted(), anyTyped: typed)
    }
}
