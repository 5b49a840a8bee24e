/// Where stored spools keep their bytes. In memory by default; a conversion of a large file uses a
/// temporary file (SpoolFormats' `FileByteStore`), so the inventory does not have to fit in memory twice.
public protocol SpoolByteStore: AnyObject {
    /// Keeps `bytes` and returns the handle to read them back with.
    func put(_ bytes: [UInt8]) -> Int
    func get(_ handle: Int) -> [UInt8]
}

/// Keeps the bytes in an array.
public final class MemoryByteStore: SpoolByteStore {
    private var items: [[UInt8]] = []

    public init() {}

    public func put(_ bytes: [UInt8]) -> Int {
        items.append(bytes)
        return items.count - 1
    }

    public func get(_ handle: Int) -> [UInt8] { items[handle] }
}

/// A canonical spool kept as its compact canonical JSON in a ``SpoolByteStore``, with the few fields identity
/// and ordering need. Conversions hold whole inventories this way and decode one spool at a time where a
/// writer needs its fields.
public struct StoredSpool {
    public let serial: String
    public let id: Int64?
    public let isDeleted: Bool
    let handle: Int
    let store: SpoolByteStore

    public init(_ spool: Spool, in store: SpoolByteStore = MemoryByteStore()) {
        self.init(serial: spool.serial, id: spool.id, isDeleted: spool.isDeleted, json: spool.compactJSON, in: store)
    }

    /// Where the record it was made from lies in the input, when that text alone always makes this spool (no
    /// import-time stamp, no warning, no renaming): an import can recognise the same text next time.
    public let source: Range<Int>?
    /// The migration rules the record needed.
    public let rules: [MigrationRule]

    init(serial: String, id: Int64?, isDeleted: Bool, json: [UInt8], in store: SpoolByteStore, source: Range<Int>? = nil, rules: [MigrationRule] = []) {
        self.serial = serial
        self.id = id
        self.isDeleted = isDeleted
        self.store = store
        self.source = source
        self.rules = rules
        handle = store.put(json)
    }

    /// The compact canonical document (``Spool/compactJSON``), `$types` included.
    public var json: [UInt8] { store.get(handle) }

    /// A stored copy of `spool` in the same store as this one.
    public func replaced(by spool: Spool) -> StoredSpool { StoredSpool(spool, in: store) }

    /// The spool's fields again.
    public func spool() -> Spool {
        Spool(canonicalJSON: json) ?? Spool(normalizedFields: ["serial": .string(serial)])
    }
}

/// An inventory of stored spools, sorted by serial, with what a tabular writer needs to know up front.
public struct StoredInventory {
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

    /// Stores `spools` (sorted by serial here) in memory.
    public init(_ spools: [Spool]) {
        var keys = Set<ExactString>()
        var typed = false
        for s in spools {
            for k in s.fields.keys where SpoolSchema.spec(k) == nil { keys.insert(ExactString(k)) }
            if !typed, s.jsonObject.containsTyped { typed = true }
        }
        let store = MemoryByteStore()
        self.init(spools: spools.sorted { utf8Ordered($0.serial, $1.serial) }.map { StoredSpool($0, in: store) },
                  unknownKeys: keys.sorted(), anyTyped: typed)
    }
}
