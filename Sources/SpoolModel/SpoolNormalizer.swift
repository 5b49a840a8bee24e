/// A record as a reader found it, before it is checked.
public struct RawRecord: Sendable {
    /// The record object. Unless `revived`, it is typeson-encapsulated and may carry a `$types` member.
    public var object: JSONValue
    /// The reader already applied the typeson types (outbound Dexie rows are revived as `[key, value]`).
    public var revived: Bool
    /// 1-based position among the input's records.
    public var row: Int
    /// The archive entry the record came from, if any.
    public var entry: String?
    /// A problem the reader found before the record could be checked at all.
    public var problem: FieldProblem?
    /// Work the reader left to be done with the record, on whichever thread normalises it: turning its raw
    /// text into `object` (so that parsing runs on all cores).
    public var prepare: (@Sendable () -> Result<JSONValue, PrepareFailure>)?

    /// Why `prepare` could not make the record.
    public enum PrepareFailure: Error, Sendable {
        /// Something wrong with this record only: it is rejected like any invalid record.
        case record(FieldProblem)
        /// The input itself is broken at this place: the conversion stops, whatever `--skip-invalid` says.
        case input(JSONSyntaxError)
    }

    public init(object: JSONValue, row: Int, revived: Bool = false, entry: String? = nil, problem: FieldProblem? = nil) {
        self.object = object
        self.row = row
        self.revived = revived
        self.entry = entry
        self.problem = problem
    }

    /// Where the record's text lies in the input, when it is one stretch of it (a JSON Lines line, an array's
    /// element): the same text always makes the same spool, so an import can know a record it has seen.
    public var source: Range<Int>?

    /// A record whose object `prepare` makes later.
    public init(row: Int, entry: String? = nil, source: Range<Int>? = nil, prepare: @escaping @Sendable () -> Result<JSONValue, PrepareFailure>) {
        self.init(object: .null, row: row, entry: entry)
        self.source = source
        self.prepare = prepare
    }

}

/// Turns raw records into canonical spools: checks every known field, applies the migration to schema
/// version 3, and gives every record a distinct serial.
///
/// ## Migration (counted per rule in ``ImportOutcome/migrated``)
/// - A record without `lastUpdated` gets its `lastScanned`, else its `createdAt`, else the import time.
/// - Timestamps written as ISO 8601 strings or typeson dates become integer epoch milliseconds.
/// - A typeson date in `productionDate` becomes an ISO date string.
/// - `deleted: 1`/`0` (IndexedDB cannot index booleans) becomes `true`/`false`; `deleted: true` records are
///   tombstones, not live spools.
/// - `null` in a known field means the field is empty (`JSON.stringify` writes `NaN` as `null`).
///
/// ## Identity
/// `serial` is the key. Among records sharing a serial, the first live one keeps it (or the first one, when
/// all are tombstones); every other one, and every record with an empty serial, gets a derived serial
/// `<serial>~id-<id>` (its Dexie id) or `<serial>~row-<n>` (its position in the input) — `unnamed` stands for
/// an empty serial — with `~2`, `~3`… appended if that is taken too. Each is listed in ``ImportOutcome/renamed``.
public struct SpoolNormalizer: Sendable {
    /// The import time in epoch milliseconds, for records with no timestamp at all.
    public var now: Int64

    public init(now: Int64) {
        self.now = now
    }

    /// Checks and migrates `records`, then resolves serials. Rejected records are listed in the outcome and
    /// left out of the spools (which keep the input's order); `locate` gives the line of a row, and is only
    /// asked for rows it reports.
    public func normalize(_ records: consuming [RawRecord], locate: @escaping (Int) -> Int? = { _ in nil }) -> (spools: [Spool], outcome: ImportOutcome) {
        let session = Session(normalizer: self, locate: locate)
        session.keepsSpools = true
        for n in records.indices {
            // Take the record out of the array so its object is uniquely referenced and edited in place.
            let record = records[n]
            records[n].object = .null
            session.add(record)
        }
        let (stored, outcome) = session.finish()
        let kept = session.keptSpools
        // Each accepted spool as normalised, with the serial resolving serials gave it (the one change it makes);
        // one with typed values as its stored document reads back (the document is what makes them canonical).
        return (zip(kept, stored).map { spool, resolved in
            guard let spool else { return resolved.spool() }
            guard !spool.serial.utf8.elementsEqual(resolved.serial.utf8) else { return spool }
            var renamed = spool
            renamed["serial"] = .string(resolved.serial)
            return renamed
        }, outcome)
    }

    /// Normalises records one at a time as a reader produces them, keeping each accepted spool as a
    /// ``StoredSpool``; ``finish()`` then resolves serials.
    public final class Session {
        let normalizer: SpoolNormalizer
        let locate: (Int) -> Int?
        let store: SpoolByteStore
        public private(set) var outcome = ImportOutcome()
        var accepted: [(spool: StoredSpool, row: Int, entry: String?)] = []
        var unknownKeys = Set<ExactString>()
        var anyTyped = false

        public init(normalizer: SpoolNormalizer, locate: @escaping (Int) -> Int? = { _ in nil }, store: SpoolByteStore = MemoryByteStore()) {
            self.normalizer = normalizer
            self.locate = locate
            self.store = store
        }

        /// Whether the accepted spools are kept as normalised (``keptSpools``, in the order of `accepted`), for a
        /// caller that wants them decoded (``SpoolNormalizer/normalize(_:locate:)``): their stored copies are then
        /// left empty (only their serials, ids and deletion are read), not encoded for nothing. A spool with typed
        /// values (`$types`) is stored as usual and kept as `nil`: its document, read back, is the spool.
        var keepsSpools = false
        var keptSpools: [Spool?] = []

        /// Records wait here until a batch is full, then are normalised on all cores.
        var pending: [RawRecord] = []
        static let batchSize = 4096

        public func add(_ record: consuming RawRecord) {
            pending.append(record)
            if pending.count >= Self.batchSize { flush() }
        }

        /// What one core made of its part of a batch.
        struct Part {
            var outcome = ImportOutcome()
            var accepted: [(serial: String, id: Int64?, isDeleted: Bool, json: [UInt8], row: Int, entry: String?,
                            source: Range<Int>?, rules: [MigrationRule])] = []
            var spools: [Spool?] = []
            var unknownKeys = Set<ExactString>()
            var anyTyped = false
        }

        /// Normalises the pending records in parallel, then merges the parts in input order.
        func flush() {
            guard !pending.isEmpty else { return }
            let batch = pending
            pending.removeAll(keepingCapacity: true)
            let normalizer = self.normalizer
            let keeps = keepsSpools
            let parts = Parallel.map(batch.count) { range -> Part in
                var part = Part()
                for i in range {
                    let record = batch[i]
                    let row = record.row, entry = record.entry
                    // Lines are looked up on the merging thread (the index behind `locate` is built lazily).
                    var rules: [MigrationRule] = []
                    let warned = part.outcome.warnings.count
                    let source = record.source
                    switch normalizer.normalizeRecord(record, outcome: &part.outcome, rules: &rules, location: { RecordLocation(row: row, entry: entry) }) {
                    case .success(let spool):
                        for k in spool.fields.keys where SpoolSchema.index(of: k) == nil { part.unknownKeys.insert(ExactString(k)) }
                        let typed = (keeps || !part.anyTyped) && spool.jsonObject.containsTyped
                        if typed { part.anyTyped = true }
                        // The record's text always makes this spool, unless the spool also holds the import's
                        // time or the record needed a warning (said again each time it is read).
                        let pure = part.outcome.warnings.count == warned && !rules.contains(.lastUpdatedFromImportTime)
                        let kept = keeps && !typed
                        part.accepted.append((spool.serial, spool.id, spool.isDeleted, kept ? [] : spool.compactJSON, row, entry, pure ? source : nil, rules))
                        if keeps { part.spools.append(kept ? spool : nil) }
                    case .failure(let rejection):
                        part.outcome.rejected.append(rejection)
                    }
                }
                return part
            }
            for part in parts {
                if outcome.brokenInput == nil { outcome.brokenInput = part.outcome.brokenInput }
                for (rule, n) in part.outcome.migrated { outcome.migrated[rule, default: 0] += n }
                for var w in part.outcome.warnings {
                    w.location.line = locate(w.location.row)
                    outcome.warnings.append(w)
                }
                for var r in part.outcome.rejected {
                    r.location.line = locate(r.location.row)
                    outcome.rejected.append(r)
                }
                unknownKeys.formUnion(part.unknownKeys)
                anyTyped = anyTyped || part.anyTyped
                keptSpools += part.spools
                for a in part.accepted {
                    accepted.append((StoredSpool(serial: a.serial, id: a.id, isDeleted: a.isDeleted, json: a.json, in: store,
                                                 source: a.source, rules: a.rules), a.row, a.entry))
                }
            }
            outcome.read += batch.count
        }

        /// The accepted spools in input order, serials made distinct, and the outcome.
        public func finish() -> (spools: [StoredSpool], outcome: ImportOutcome) {
            flush()
            let spools = normalizer.resolveSerials(accepted, outcome: &outcome, locate: locate)
            accepted = []
            outcome.accepted = spools.count
            outcome.tombstones = spools.count { $0.isDeleted }
            outcome.live = spools.count - outcome.tombstones
            if outcome.tombstones > 0 { outcome.count(.softDeleteToTombstone, outcome.tombstones) }
            return (spools, outcome)
        }

        /// ``finish()`` as an inventory sorted by serial.
        public func finishInventory() -> (inventory: StoredInventory, outcome: ImportOutcome) {
            let (spools, outcome) = finish()
            let inventory = StoredInventory(spools: spools.sorted { utf8Ordered($0.serial, $1.serial) },
                                            unknownKeys: unknownKeys.sorted(), anyTyped: anyTyped)
            return (inventory, outcome)
        }
    }

    /// `items` ordered by their fields' places in the schema (then as they came).
    static func inSchemaOrder<T>(_ items: [T], field: (T) -> String) -> [T] {
        items.enumerated().map { (place: SpoolSchema.index(of: field($0.element)) ?? Int.max, at: $0.offset, item: $0.element) }
            .sorted { ($0.place, $0.at) < ($1.place, $1.at) }
            .map(\.item)
    }

    /// Normalises one record; `rules` gets the migration rules applied to it (also counted in `outcome`).
    func normalizeRecord(_ record: consuming RawRecord, outcome: inout ImportOutcome, rules: inout [MigrationRule],
                         location: () -> RecordLocation) -> Result<Spool, Rejection> {
        func reject(_ problems: [FieldProblem], serial: String?) -> Result<Spool, Rejection> {
            .failure(Rejection(location: location(), serial: serial, problems: problems))
        }
        if let problem = record.problem { return reject([problem], serial: record.object.objectValue?["serial"]?.stringValue) }
        if let prepare = record.prepare {
            switch prepare() {
            case .success(let object): record.object = object
            case .failure(.record(let problem)): return reject([problem], serial: nil)
            case .failure(.input(let error)):
                if outcome.brokenInput == nil { outcome.brokenInput = error }
                return reject([FieldProblem(field: "(input)", message: error.description)], serial: nil)
            }
        }
        let revived = record.revived
        guard case .object(var fields) = record.object else {
            return reject([FieldProblem(field: "(record)", message: "expected a spool object, found \(record.object.kindDescription)")], serial: nil)
        }
        record.object = .null
        let rawSerial = fields["serial"]?.stringValue
        if !revived {
            do {
                fields = try Typeson.decodeDocument(fields)
            } catch {
                return reject([FieldProblem(field: "$types[\"\(error.keyPath)\"]", message: error.message)], serial: rawSerial)
            }
        }

        var problems: [FieldProblem] = []
        var changes: [(String, JSONValue?)] = []
        var counts: [MigrationRule] = []
        var warnings: [(String, String)] = []
        for (key, value) in fields {
            guard let spec = SpoolSchema.spec(key) else { continue }
            switch normalizeField(value, kind: spec.kind, path: key, counts: &counts, warnings: &warnings) {
            case .success(let v): if v != value { changes.append((key, v)) }
            case .failure(let p): problems.append(p)
            }
        }
        // A record's fields come in no fixed order: its problems and warnings are given in the schema's, so the
        // same input always gets the same report.
        if problems.count > 1 { problems = Self.inSchemaOrder(problems) { $0.field } }
        if warnings.count > 1 { warnings = Self.inSchemaOrder(warnings) { $0.0 } }
        let hadSerial = fields["serial"] != nil
        for (key, v) in changes { fields[key] = v }
        let serial = fields["serial"]?.stringValue
        if !hadSerial || (serial == nil && problems.allSatisfy({ $0.field != "serial" })) {
            problems.insert(FieldProblem(field: "serial", message: "missing: every spool needs a serial (is this the spools table?)"), at: 0)
        }
        if let serial, serial.utf8.count > SpoolSchema.maxSerialBytes {
            problems.insert(FieldProblem(field: "serial", message: "\(serial.utf8.count) bytes, over the limit of \(SpoolSchema.maxSerialBytes) bytes (UTF-8) for a serial"), at: 0)
        }
        if !problems.isEmpty { return reject(problems, serial: serial ?? rawSerial) }

        if fields["lastUpdated"] == nil {
            if let scanned = fields["lastScanned"] {
                fields["lastUpdated"] = scanned
                counts.append(.lastUpdatedFromLastScanned)
            } else if let created = fields["createdAt"] {
                fields["lastUpdated"] = created
                counts.append(.lastUpdatedFromCreatedAt)
            } else {
                fields["lastUpdated"] = .int(now)
                counts.append(.lastUpdatedFromImportTime)
            }
        }
        if case .int(let t)? = fields["lastUpdated"], t < 0 || t > Timestamps.limit {
            let from = counts.contains(.lastUpdatedFromLastScanned) ? " (taken from lastScanned)"
                : counts.contains(.lastUpdatedFromCreatedAt) ? " (taken from createdAt)" : ""
            return reject([FieldProblem(field: "lastUpdated", message: "\(t)\(from) is out of range: lastUpdated, the time of the last change, is epoch milliseconds from 0 to 8.64e15")], serial: serial)
        }
        for c in counts { outcome.count(c) }
        rules = counts
        if !warnings.isEmpty {
            let loc = location()
            for (field, message) in warnings {
                outcome.warnings.append(ImportWarning(location: loc, serial: serial ?? "", field: field, message: message))
            }
        }
        return .success(Spool(normalizedFields: fields))
    }

    /// Checks one known field; `nil` means the field is empty and is left out.
    func normalizeField(
        _ value: JSONValue, kind: FieldKind, path: String,
        counts: inout [MigrationRule], warnings: inout [(String, String)]
    ) -> Result<JSONValue?, FieldProblem> {
        func wrong(_ expected: String) -> Result<JSONValue?, FieldProblem> {
            .failure(FieldProblem(field: path, message: "expected \(expected), found \(value.kindDescription)\(sample(value))"))
        }
        switch value {
        case .null:
            counts.append(.nullFieldRemoved)
            return .success(nil)
        case .typed("undef", _):
            return .success(nil)
        case .typed(let t, _) where t == "nan" || t == "infinity" || t == "negativeInfinity":
            guard kind == .number || kind == .integer || kind == .timestamp else { break }
            warnings.append((path, "\(t == "nan" ? "NaN" : "an infinite value") is not a number a spool can hold; the field is left empty"))
            return .success(nil)
        default: break
        }
        switch kind {
        case .string:
            if case .string = value { return .success(value) }
            return wrong("text")
        case .integer:
            if case .int = value { return .success(value) }
            return wrong("an integer")
        case .number:
            switch value {
            case .int, .double: return .success(value)
            default: return wrong("a number")
            }
        case .boolean:
            switch value {
            case .bool: return .success(value)
            case .int(let n) where n == 0 || n == 1:
                counts.append(.deletedFromNumber)
                return .success(.bool(n == 1))
            default: return wrong("true or false")
            }
        case .timestamp:
            if let d = value.numberValue ?? value.typesonDateNumber, !Timestamps.isInRange(d) {
                return .failure(outOfRange(value, path: path))
            }
            switch value {
            case .int: return .success(value)
            case .double(let d):
                counts.append(.timestampRounded)
                return .success(JSONValue.number(d.rounded()))
            case .string(let s):
                guard let ms = Timestamps.parseISO8601(s) else {
                    return wrong("epoch milliseconds or an ISO 8601 date")
                }
                counts.append(.timestampFromISOString)
                return .success(.int(ms))
            case .typed("date", let inner):
                guard let d = inner.numberValue else {
                    warnings.append((path, "an invalid Date (NaN); the field is left empty"))
                    return .success(nil)
                }
                counts.append(.timestampFromTypesonDate)
                return .success(JSONValue.number(d.rounded()))
            default: return wrong("epoch milliseconds")
            }
        case .isoDate:
            switch value {
            case .string: return .success(value)
            case .typed("date", let inner):
                guard let d = inner.numberValue else {
                    warnings.append((path, "an invalid Date (NaN); the field is left empty"))
                    return .success(nil)
                }
                guard Timestamps.isInRange(d) else { return .failure(outOfRange(value, path: path)) }
                counts.append(.productionDateFromTypesonDate)
                let ms = Int64(d.rounded())
                let isMidnight = Timestamps.floorDivide(ms, 86_400_000).1 == 0
                return .success(.string(isMidnight ? Timestamps.formatISODate(ms) : Timestamps.formatISO8601(ms)))
            default: return wrong("an ISO 8601 date as text")
            }
        case .stringArray:
            var elements: [JSONValue]
            switch value {
            case .array(let a): elements = a
            case .typed("set", .array(let a)):
                counts.append(.tagsFromSet)
                elements = a
            default: return wrong("an array of text")
            }
            for (i, e) in elements.enumerated() {
                guard case .string = e else {
                    return .failure(FieldProblem(field: "\(path)[\(i)]", message: "expected text, found \(e.kindDescription)\(sample(e))"))
                }
            }
            return .success(.array(elements))
        case .tagHistory:
            guard case .array(let entries) = value else { return wrong("an array of tag events") }
            var out: [JSONValue] = []
            out.reserveCapacity(entries.count)
            for (i, entry) in entries.enumerated() {
                guard case .object(var o) = entry else {
                    return .failure(FieldProblem(field: "\(path)[\(i)]", message: "expected a tag event object, found \(entry.kindDescription)"))
                }
                for (name, subKind) in SpoolSchema.tagHistoryFields {
                    guard let v = o[name] else { continue }
                    switch normalizeField(v, kind: subKind, path: "\(path)[\(i)].\(name)", counts: &counts, warnings: &warnings) {
                    case .success(let nv): o[name] = nv
                    case .failure(let p): return .failure(p)
                    }
                }
                out.append(.object(o))
            }
            return .success(.array(out))
        }
    }

    /// A time outside a JavaScript `Date`'s range (which CSV, SQLite and the web app could not hold either).
    func outOfRange(_ value: JSONValue, path: String) -> FieldProblem {
        let shown = value.numberValue ?? value.typesonDateNumber ?? 0
        return FieldProblem(field: path, message: "\(JSONValue.number(shown).jsonText) is out of range: a time is epoch milliseconds within ±8.64e15 (what a JavaScript Date holds)")
    }

    /// Gives every accepted record a distinct serial (the identity rule above).
    func resolveSerials(_ accepted: [(spool: StoredSpool, row: Int, entry: String?)], outcome: inout ImportOutcome, locate: (Int) -> Int?) -> [StoredSpool] {
        // Who keeps each serial: the first live record, else the first record. Serials are compared by their
        // bytes, as JavaScript compares them.
        var keeper: [ExactString: Int] = [:]
        keeper.reserveCapacity(accepted.count)
        var shared = false
        for (n, (spool, _, _)) in accepted.enumerated() {
            let s = ExactString(spool.serial)
            guard !s.string.isEmpty else { shared = true; continue }
            if let k = keeper[s] {
                shared = true
                if accepted[k].spool.isDeleted && !spool.isDeleted { keeper[s] = n }
            } else {
                keeper[s] = n
            }
        }
        // Every serial given once (the usual file): nothing to rename.
        guard shared else { return accepted.map(\.spool) }
        var taken = Set(keeper.keys)
        if accepted.contains(where: { $0.spool.serial.isEmpty }) { taken.insert(ExactString("")) }
        // The next `~k` to try after each base: records sharing a serial and an id share a base, and
        // starting over at `~2` for each of them would make the renaming quadratic.
        var nextSuffix: [ExactString: Int] = [:]
        var result: [StoredSpool] = []
        result.reserveCapacity(accepted.count)
        for (n, (spool, row, entry)) in accepted.enumerated() {
            let s = spool.serial
            if !s.isEmpty, keeper[ExactString(s)] == n {
                result.append(spool)
                continue
            }
            let origin = spool.id.map { "id-\($0)" } ?? "row-\(row)"
            let base = Self.derivedSerial(s.isEmpty ? "unnamed" : s, origin)
            let baseKey = ExactString(base)
            var candidate = base
            // Every `~k` below the remembered one was taken when it was tried, and `taken` only grows.
            var k = nextSuffix[baseKey] ?? 2
            if nextSuffix[baseKey] != nil || taken.contains(baseKey) {
                repeat {
                    candidate = "\(base)~\(k)"
                    k += 1
                } while taken.contains(ExactString(candidate))
            }
            nextSuffix[baseKey] = k
            taken.insert(ExactString(candidate))
            var renamed = spool.spool()
            renamed["serial"] = .string(candidate)
            result.append(spool.replaced(by: renamed))
            let reason: String
            if s.isEmpty {
                reason = "empty serial"
            } else {
                let keptBy = accepted[keeper[ExactString(s)]!].row
                reason = "duplicate serial: row \(keptBy) keeps \(JSONValue.string(s).jsonText)"
            }
            outcome.renamed.append(Rename(
                location: RecordLocation(row: row, line: locate(row), entry: entry),
                id: spool.id, serial: s, newSerial: candidate, reason: reason))
        }
        return result
    }
}

extension SpoolNormalizer {
    /// `<serial>~<origin>`, with the serial cut (at a character) where that would leave no room for a `~k`
    /// under ``SpoolSchema/maxSerialBytes``: a renamed serial is read back like any other.
    package static func derivedSerial(_ serial: String, _ origin: String) -> String {
        let room = SpoolSchema.maxSerialBytes - 1 - origin.utf8.count - 12
        guard serial.utf8.count > room else { return "\(serial)~\(origin)" }
        var end = serial.startIndex, bytes = 0
        for c in serial {
            bytes += c.utf8.count
            if bytes > room { break }
            end = serial.index(after: end)
        }
        return "\(serial[..<end])~\(origin)"
    }
}

/// A short quote of a value for error messages: ` ("abc")`, ` (42)`.
func sample(_ v: JSONValue) -> String {
    switch v {
    case .string, .int, .double, .bool:
        var text = v.jsonText
        if text.count > 40 { text = String(text.prefix(37)) + "…" }
        return " (\(text))"
    default: return ""
    }
}
