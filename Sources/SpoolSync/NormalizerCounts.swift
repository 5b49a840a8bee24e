import SpoolModel

/// What the normaliser changed in a sync's spools, counted where the sync is recorded: nothing a sync stores
/// differs from what was sent without a count of it (SPOOL-SCHEMA.md's migrations: a `null` field removed, a
/// date string read as milliseconds, a value that is not a number left empty).
public struct NormalizerCounts: Sendable, Equatable {
    /// Applications of each migration rule, by ``MigrationRule`` name.
    public var migrated: [String: Int] = [:]
    /// Each value left empty, as a line a person reads (`changes[3] "S1" weightRemaining: NaN is not a number…`),
    /// its words escaped: they may come from another program.
    public var warnings: [String] = []

    public init() {}

    init(_ outcome: ImportOutcome) {
        migrated = outcome.migrated
        warnings = outcome.warnings.map { w in
            printableText("changes[\(w.location.row - 1)] \(JSONValue.string(w.serial).jsonText) \(w.field): \(w.message)", limit: 300)
        }
    }

    public var isEmpty: Bool { migrated.isEmpty && warnings.isEmpty }

    public mutating func add(_ other: NormalizerCounts) {
        for (rule, n) in other.migrated { migrated[rule, default: 0] += n }
        warnings += other.warnings
    }

    /// `rule ×n, …` in the rules' order.
    public var migratedText: String {
        migrated.sorted { $0.key < $1.key }.map { "\($0.key) ×\($0.value)" }.joined(separator: ", ")
    }

    /// The commit trailers that record the counts: `Filamentdb-Migrated: rule=n, …` and `Filamentdb-Emptied: n`
    /// (empty when nothing was changed).
    public var trailers: String {
        var text = ""
        if !migrated.isEmpty {
            text += "Filamentdb-Migrated: " + migrated.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", ") + "\n"
        }
        if !warnings.isEmpty { text += "Filamentdb-Emptied: \(warnings.count)\n" }
        return text
    }
}
