/// Which side of a merge a value came from: `ours` is the branch merged into (main, the server), `theirs`
/// the branch being merged (a device).
public enum MergeSide: String, Sendable, Codable, Hashable {
    case ours, theirs
}

/// One decision of the merge: a field both sides changed to different values (or a deletion against an
/// edit, as field `deleted`), with every value involved, the winner and why.
public struct FieldConflict: Sendable, Hashable {
    /// Stable across runs: a hash of the serial, the field and the three values.
    public var id: String
    public var serial: String
    public var field: String
    /// `nil` where the field was absent.
    public var base: JSONValue?
    public var ours: JSONValue?
    public var theirs: JSONValue?
    public var winner: MergeSide
    /// A sentence a person understands.
    public var reason: String
}

/// The merge of one spool.
public struct SpoolMergeResult: Sendable {
    /// `nil` when neither side has the spool.
    public var spool: Spool?
    public var conflicts: [FieldConflict]
}

/// The three-way, field-level merge with a last-write-wins resolver, as a pure function: the history layer
/// supplies base (the merge base), ours and theirs.
///
/// - A field changed on one side only takes that side's value; `lastUpdated` alone is not a change, and the
///   result's `lastUpdated` is the later of the two.
/// - A field changed on both sides to different values is a conflict decided by `lastUpdated`: the later side
///   wins. On equal times the smaller `weightRemaining` wins (the plan's conservative rule); for any other field
///   ours stays (the server's value, as the sync protocol promises).
/// - A deletion (a side turned the spool into a tombstone, or holds a tombstone later than the base's: deleted
///   again) against an edit on the other side: the later wins; on equal times the deletion stands, so a stale edit
///   never resurrects a spool. A newer edit brings it back, with the other fields merged as usual.
/// - A spool present in the base but missing on one side counts as removed there: it stays removed unless the
///   other side changed it.
/// - Values are compared by their exact bytes (and typeson types), as JavaScript compares them.
public enum SpoolMerge {
    ///
    /// With `baseKnown` false (two sides with no common history: a file whose base is not known), there is no
    /// base to tell who changed what: every field that differs is decided by last write and recorded. The same
    /// holds when theirs is older than the base: a device's older file, imported after its newer one, is not a
    /// change made since.
    ///
    /// `names` are what the reasons call the two sides (main and the device's name, in the history).
    ///
    /// `theirsFollowsBase`: theirs was made on the base (a sync request on the state of main its cursor names), so
    /// it is a change of the base whatever its time; otherwise a side older than the base is taken as not having
    /// seen it (an older file imported after a newer one).
    public static func merge(base: Spool?, ours: Spool?, theirs: Spool?, baseKnown: Bool = true, theirsFollowsBase: Bool = false,
                             names: Names = Names()) -> SpoolMergeResult {
        switch (ours, theirs) {
        case (nil, nil):
            return SpoolMergeResult(spool: nil, conflicts: [])
        case (let o?, nil):
            // Theirs removed it (or never had it): it stays only if ours changed it.
            if let base, same(fieldsWithoutTime(base), fieldsWithoutTime(o)) { return SpoolMergeResult(spool: nil, conflicts: []) }
            return SpoolMergeResult(spool: o, conflicts: [])
        case (nil, let t?):
            if let base, same(fieldsWithoutTime(base), fieldsWithoutTime(t)) { return SpoolMergeResult(spool: nil, conflicts: []) }
            return SpoolMergeResult(spool: t, conflicts: [])
        case (let o?, let t?):
            // A side older than the base (a device's older file imported after its newer one) did not change
            // anything since the base: what differs is decided by last write, as with no base.
            var known = baseKnown
            if !theirsFollowsBase, let base, (t.lastUpdated ?? 0) < (base.lastUpdated ?? 0) { known = false }
            return mergeBoth(base: known ? base : nil, ours: o, theirs: t, baseKnown: known, names: names)
        }
    }

    /// ``merge(base:ours:theirs:baseKnown:theirsFollowsBase:names:)`` with ours the base itself (main did not
    /// change the spool since the device's base: the caller knows it from the two files' ids). When theirs is a
    /// change of that base (not older than it, or made on it), every field is theirs and nothing conflicts, so the
    /// result is theirs with the later `lastUpdated`, worked out without comparing field by field: a sync request
    /// merges each spool a device sends while other devices write main, and the field-by-field merge was a tenth
    /// of the server's time under load. Otherwise the field-by-field merge decides.
    public static func merge(unchanged base: Spool, theirs: Spool?, baseKnown: Bool = true, theirsFollowsBase: Bool = false,
                             names: Names = Names()) -> SpoolMergeResult {
        let baseTime = base.lastUpdated ?? 0
        guard baseKnown, var spool = theirs, theirsFollowsBase || (spool.lastUpdated ?? 0) >= baseTime else {
            return merge(base: base, ours: base, theirs: theirs, baseKnown: baseKnown, theirsFollowsBase: theirsFollowsBase, names: names)
        }
        spool["lastUpdated"] = .int(max(baseTime, spool.lastUpdated ?? 0))
        return SpoolMergeResult(spool: spool, conflicts: [])
    }

    /// What a conflict's reason calls each side.
    public struct Names: Sendable {
        public var ours: String
        public var theirs: String

        public init(ours: String = "ours (main)", theirs: String = "theirs (the device)") {
            self.ours = ours
            self.theirs = theirs
        }

        func of(_ s: MergeSide) -> String { s == .ours ? ours : theirs }
    }

    static func mergeBoth(base: Spool?, ours: Spool, theirs: Spool, baseKnown: Bool = true, names: Names = Names()) -> SpoolMergeResult {
        func side(_ s: MergeSide) -> String { names.of(s) }
        let serial = ours.serial
        let oursTime = ours.lastUpdated ?? 0, theirsTime = theirs.lastUpdated ?? 0
        let wasDeleted = base?.isDeleted ?? false
        // A tombstone later than the base's is a deletion too: the spool was deleted again (by a device that had it).
        let baseTime = base?.lastUpdated ?? 0
        let oursDeleted = ours.isDeleted && (!wasDeleted || oursTime > baseTime)
        let theirsDeleted = theirs.isDeleted && (!wasDeleted || theirsTime > baseTime)
        var conflicts: [FieldConflict] = []

        // A deletion against an edit decides the whole spool.
        var deletedFrom: MergeSide?
        if oursDeleted != theirsDeleted {
            let deleter: MergeSide = oursDeleted ? .ours : .theirs
            let editor = deleter == .ours ? theirs : ours
            let edited = !same(fieldsWithoutTime(base), fieldsWithoutTime(editor))
            if edited {
                let deletion = deleter == .ours ? oursTime : theirsTime
                let edit = deleter == .ours ? theirsTime : oursTime
                let deletionWins = deletion >= edit
                let winner: MergeSide = deletionWins ? deleter : (deleter == .ours ? .theirs : .ours)
                // The edit, by the fields it set (against the base; with none known, against the deletion).
                let reference = base ?? (deleter == .ours ? ours : theirs)
                var keys = Set(editor.fields.keys).union(reference.fields.keys)
                keys.subtract(["lastUpdated", "deleted"])
                let editedFields = keys.filter { !same(reference[$0], editor[$0]) }.sorted(by: utf8Ordered)
                let what = editedFields.isEmpty ? "" : " (the edit set \(editedFields.joined(separator: ", ")))"
                let reason = (deletionWins
                    ? (deletion == edit
                        ? "deleted on \(side(deleter)) and edited on \(side(other(deleter))) at the same time: the deletion stands, so a stale edit does not bring the spool back"
                        : "deleted on \(side(deleter)) after it was edited on \(side(other(deleter))): the later deletion wins")
                    : "edited on \(side(other(deleter))) after it was deleted on \(side(deleter)): the later edit brings the spool back") + what
                conflicts.append(conflict(serial, "deleted", base?["deleted"], ours["deleted"], theirs["deleted"], winner, reason))
                if deletionWins {
                    return SpoolMergeResult(spool: deleter == .ours ? ours : theirs, conflicts: conflicts)
                }
                deletedFrom = other(deleter)
            }
        }

        var fields: [String: JSONValue] = [:]
        var keys = Set<ExactString>()
        for k in ours.fields.keys { keys.insert(ExactString(k)) }
        for k in theirs.fields.keys { keys.insert(ExactString(k)) }
        if let base { for k in base.fields.keys { keys.insert(ExactString(k)) } }
        for key in keys.sorted() {
            let k = key.string
            if k == "lastUpdated" { continue }
            let b = base?[k], o = ours[k], t = theirs[k]
            if k == "deleted", let from = deletedFrom {
                if let v = from == .ours ? o : t { fields[k] = v }
                continue
            }
            let value: JSONValue?
            if same(o, t) {
                value = o
            } else if baseKnown && same(o, b) {
                value = t
            } else if baseKnown && same(t, b) {
                value = o
            } else {
                let (winner, reason) = decide(field: k, ours: o, theirs: t, oursTime: oursTime, theirsTime: theirsTime,
                                              both: baseKnown ? "changed on both sides" : "no common base and the two differ", names: names)
                value = winner == .ours ? o : t
                conflicts.append(conflict(serial, k, b, o, t, winner, reason))
            }
            if let value { fields[k] = value }
        }
        fields["lastUpdated"] = .int(max(oursTime, theirsTime))
        return SpoolMergeResult(spool: Spool(normalizedFields: fields), conflicts: conflicts)
    }

    /// Last-write-wins for one field both sides changed.
    static func decide(field: String, ours: JSONValue?, theirs: JSONValue?, oursTime: Int64, theirsTime: Int64,
                       both: String = "changed on both sides", names: Names = Names()) -> (MergeSide, String) {
        func side(_ s: MergeSide) -> String { names.of(s) }
        if oursTime != theirsTime {
            let winner: MergeSide = oursTime > theirsTime ? .ours : .theirs
            let (later, earlier) = (max(oursTime, theirsTime), min(oursTime, theirsTime))
            return (winner, "\(both); the later write wins: \(side(winner))'s, at \(Timestamps.formatISO8601(later)) (lastUpdated \(later)), against \(side(winner == .ours ? .theirs : .ours))'s at \(Timestamps.formatISO8601(earlier)) (\(earlier))")
        }
        if field == "weightRemaining", let o = ours?.numberValue, let t = theirs?.numberValue, o != t {
            let winner: MergeSide = o < t ? .ours : .theirs
            return (winner, "\(both) at the same time; the smaller remaining weight is kept (it is the safer guess)")
        }
        return (.ours, "\(both) at the same time; \(side(.ours))'s value stays")
    }

    static func other(_ s: MergeSide) -> MergeSide { s == .ours ? .theirs : .ours }

    static func conflict(_ serial: String, _ field: String, _ b: JSONValue?, _ o: JSONValue?, _ t: JSONValue?,
                         _ winner: MergeSide, _ reason: String) -> FieldConflict {
        var bytes = Array(serial.utf8) + [0] + Array(field.utf8)
        for v in [b, o, t] { bytes += [0] + encoded(v) }
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for x in bytes { h = (h ^ UInt64(x)) &* 0x100_0000_01B3 }
        let hex = String(h, radix: 16)
        return FieldConflict(id: String(repeating: "0", count: 16 - hex.count) + hex, serial: serial, field: field,
                             base: b, ours: o, theirs: t, winner: winner, reason: reason)
    }

    /// The bytes a value is compared by: its JSON and its typeson types.
    static func encoded(_ v: JSONValue?) -> [UInt8] {
        guard let v else { return [0xFF] }
        var bytes = v.jsonBytes
        for (path, names) in Typeson.typeEntries(of: v) { bytes += [0] + Array(path.utf8) + [0] + Array(names.joined(separator: ",").utf8) }
        return bytes
    }

    /// Whether two values are the same bytes with the same types (absent equals only absent).
    ///
    /// Two scalars of one kind are compared as they are (a string by its UTF-8 bytes, not by Swift's canonical
    /// equivalence; a double by its bits, else as text): a merge compares every field of a spool three times,
    /// and writing out both values each time was a twentieth of the sync server's time under load.
    public static func same(_ a: JSONValue?, _ b: JSONValue?) -> Bool {
        switch (a, b) {
        case (nil, nil), (.null?, .null?): return true
        case (nil, _?), (_?, nil): return false
        case (.string(let x)?, .string(let y)?): return x.utf8.elementsEqual(y.utf8)
        case (.int(let x)?, .int(let y)?): return x == y
        case (.bool(let x)?, .bool(let y)?): return x == y
        case (.double(let x)?, .double(let y)?) where x.bitPattern == y.bitPattern: return true
        default: return encoded(a) == encoded(b)
        }
    }

    /// Whether two spools hold the same fields, `lastUpdated` aside.
    public static func sameIgnoringTime(_ a: Spool, _ b: Spool) -> Bool { same(fieldsWithoutTime(a), fieldsWithoutTime(b)) }

    /// A spool's fields without `lastUpdated`, as one value (to tell whether a side changed anything).
    static func fieldsWithoutTime(_ s: Spool?) -> JSONValue? {
        guard let s else { return nil }
        var f = s.fields
        f["lastUpdated"] = nil
        return .object(f)
    }
}
