@testable import SpoolModel
import SpoolTestSupport
import Testing

func spool(_ fields: [String: JSONValue]) -> Spool {
    Spool(normalizedFields: fields.merging(["serial": .string("S")]) { a, _ in a })
}

let base = spool(["brand": .string("Prusament"), "color": .string("Black"), "weightRemaining": .int(800), "lastUpdated": .int(100)])

func merged(_ b: Spool?, _ o: Spool?, _ t: Spool?) -> (fields: [String: JSONValue]?, conflicts: [FieldConflict]) {
    let r = SpoolMerge.merge(base: b, ours: o, theirs: t)
    return (r.spool?.fields, r.conflicts)
}

func edit(_ s: Spool, _ changes: [String: JSONValue?]) -> Spool {
    var f = s.fields
    for (k, v) in changes { f[k] = v }
    return Spool(normalizedFields: f)
}

@Suite struct SpoolMergeTests {
    /// `same` compares scalars of one kind directly: it must answer exactly as comparing the values written out
    /// (with their types) does, for every pair. Swift's `==` on strings would call a precomposed "é" and "e" with
    /// a combining accent the same; they are different bytes, so different values.
    @Test func sameAnswersAsComparingTheWrittenValues() {
        let values: [JSONValue?] = [
            nil, .null, .bool(true), .bool(false), .int(0), .int(1), .int(-1), .int(Int64.max),
            .double(0), .double(-0.0), .double(1), .double(1.5), .double(-1.5), .double(1e300),
            .string(""), .string("1"), .string("a"), .string("\u{E9}"), .string("e\u{301}"), .string("\u{0}"), .string("\"q\""),
            .array([]), .array([.int(1)]), .array([.double(1)]), .object([:]), .object(["a": .int(1)]), .object(["a": .string("1")]),
            .typed("date", .int(5)), .typed("date", .int(6)), .typed("number", .string("NaN")), .typed("number", .string("Infinity")),
        ]
        for a in values {
            for b in values {
                #expect(SpoolMerge.same(a, b) == (SpoolMerge.encoded(a) == SpoolMerge.encoded(b)), "\(String(describing: a)) and \(String(describing: b))")
            }
        }
        #expect(!SpoolMerge.same(.string("\u{E9}"), .string("e\u{301}")))
        #expect(SpoolMerge.same(.double(2.5), .double(2.5)))
    }

    @Test func aFieldChangedOnOneSideTakesThatSide() {
        let theirs = edit(base, ["color": .string("Red"), "lastUpdated": .int(200)])
        let (f, c) = merged(base, base, theirs)
        #expect(f?["color"] == .string("Red") && f?["lastUpdated"] == .int(200) && c.isEmpty)
        let ours = edit(base, ["brand": .string("eSun"), "lastUpdated": .int(150)])
        let (g, d) = merged(base, ours, base)
        #expect(g?["brand"] == .string("eSun") && g?["lastUpdated"] == .int(150) && d.isEmpty)
    }

    @Test func differentFieldsOnEachSideAreBothKept() {
        let ours = edit(base, ["brand": .string("eSun"), "lastUpdated": .int(300)])
        let theirs = edit(base, ["color": .string("Red"), "weightRemaining": .int(500), "lastUpdated": .int(200)])
        let (f, c) = merged(base, ours, theirs)
        #expect(f == ["serial": .string("S"), "brand": .string("eSun"), "color": .string("Red"), "weightRemaining": .int(500), "lastUpdated": .int(300)])
        #expect(c.isEmpty)
    }

    @Test func lastUpdatedAloneIsNotAChange() {
        let ours = edit(base, ["color": .string("Blue"), "lastUpdated": .int(150)])
        let theirs = edit(base, ["lastUpdated": .int(900)])
        let (f, c) = merged(base, ours, theirs)
        #expect(f?["color"] == .string("Blue") && f?["lastUpdated"] == .int(900) && c.isEmpty)
    }

    @Test func theSameChangeOnBothSidesIsNoConflict() {
        let ours = edit(base, ["color": .string("Red"), "lastUpdated": .int(150)])
        let theirs = edit(base, ["color": .string("Red"), "lastUpdated": .int(250)])
        let (f, c) = merged(base, ours, theirs)
        #expect(f?["color"] == .string("Red") && c.isEmpty)
    }

    @Test(arguments: [(Int64(300), Int64(200), MergeSide.ours), (200, 300, .theirs)])
    func bothChangedTheLaterWins(_ oursTime: Int64, _ theirsTime: Int64, _ winner: MergeSide) throws {
        let ours = edit(base, ["color": .string("Blue"), "lastUpdated": .int(oursTime)])
        let theirs = edit(base, ["color": .string("Red"), "lastUpdated": .int(theirsTime)])
        let (f, c) = merged(base, ours, theirs)
        #expect(f?["color"] == (winner == .ours ? .string("Blue") : .string("Red")))
        let conflict = try #require(c.first)
        #expect(c.count == 1)
        #expect(conflict.field == "color" && conflict.base == .string("Black") && conflict.ours == .string("Blue") && conflict.theirs == .string("Red"))
        #expect(conflict.winner == winner)
        #expect(conflict.reason.contains("later"))
    }

    @Test(arguments: [(Int64(300), Int64(500), MergeSide.ours, JSONValue.int(300)), (600, 250, .theirs, .int(250))])
    func equalTimesTheSmallerRemainingWeightWins(_ o: Int64, _ t: Int64, _ winner: MergeSide, _ kept: JSONValue) {
        let ours = edit(base, ["weightRemaining": .int(o), "lastUpdated": .int(200)])
        let theirs = edit(base, ["weightRemaining": .int(t), "lastUpdated": .int(200)])
        let (f, c) = merged(base, ours, theirs)
        #expect(f?["weightRemaining"] == kept)
        #expect(c.first?.winner == winner && c.first?.reason.contains("smaller remaining weight") == true)
    }

    @Test func equalTimesOtherwiseOursStays() {
        let ours = edit(base, ["color": .string("Blue"), "lastUpdated": .int(200)])
        let theirs = edit(base, ["color": .string("Red"), "lastUpdated": .int(200)])
        let (f, c) = merged(base, ours, theirs)
        #expect(f?["color"] == .string("Blue") && c.first?.winner == .ours)
    }

    @Test func fieldsAddedAndRemovedOnOneSide() {
        let theirs = edit(base, ["notes": .string("dry it"), "color": nil, "lastUpdated": .int(200)])
        let (f, c) = merged(base, base, theirs)
        #expect(f?["notes"] == .string("dry it") && f?["color"] == nil && c.isEmpty)
        // Removed on one side, changed on the other: a conflict like any other.
        let ours = edit(base, ["color": .string("Blue"), "lastUpdated": .int(300)])
        let (g, d) = merged(base, ours, theirs)
        #expect(g?["color"] == .string("Blue") && d.first?.field == "color" && d.first?.theirs == nil)
    }

    @Test func addedOnOneSideOrOnBoth() {
        let a = spool(["brand": .string("A"), "color": .string("Red"), "lastUpdated": .int(100)])
        #expect(merged(nil, nil, a).fields == a.fields)
        #expect(merged(nil, a, nil).fields == a.fields)
        let b = spool(["brand": .string("B"), "color": .string("Red"), "lastUpdated": .int(200)])
        let (f, c) = merged(nil, a, b)
        #expect(f?["brand"] == .string("B") && f?["color"] == .string("Red"))
        #expect(c.map(\.field) == ["brand"] && c.first?.base == nil)
    }

    @Test func removedOnOneSideStaysRemovedUnlessTheOtherChangedIt() {
        #expect(merged(base, base, nil).fields == nil)
        #expect(merged(base, nil, base).fields == nil)
        let ours = edit(base, ["color": .string("Blue"), "lastUpdated": .int(300)])
        #expect(merged(base, ours, nil).fields?["color"] == .string("Blue"))
        #expect(merged(nil, nil, nil).fields == nil)
    }

    @Test func aLaterDeletionBeatsAnEdit() throws {
        let theirs = edit(base, ["deleted": .bool(true), "lastUpdated": .int(300)])
        let ours = edit(base, ["color": .string("Blue"), "lastUpdated": .int(200)])
        let (f, c) = merged(base, ours, theirs)
        #expect(f?["deleted"] == .bool(true) && f?["color"] == .string("Black"))
        let conflict = try #require(c.first)
        #expect(conflict.field == "deleted" && conflict.winner == .theirs && conflict.ours == nil && conflict.theirs == .bool(true))
    }

    @Test func aLaterEditBringsTheSpoolBack() {
        let ours = edit(base, ["deleted": .bool(true), "lastUpdated": .int(200)])
        let theirs = edit(base, ["color": .string("Red"), "lastUpdated": .int(300)])
        let (f, c) = merged(base, ours, theirs)
        #expect(f?["deleted"] == nil && f?["color"] == .string("Red") && f?["lastUpdated"] == .int(300))
        #expect(c.map(\.field) == ["deleted"] && c.first?.winner == .theirs)
    }

    @Test func aStaleEditDoesNotResurrectAtTheSameTime() {
        let ours = edit(base, ["deleted": .bool(true), "lastUpdated": .int(200)])
        let theirs = edit(base, ["color": .string("Red"), "lastUpdated": .int(200)])
        let (f, c) = merged(base, ours, theirs)
        #expect(f?["deleted"] == .bool(true) && c.first?.winner == .ours && c.first?.reason.contains("same time") == true)
    }

    @Test func aDeletionAgainstNoEditIsNoConflict() {
        let theirs = edit(base, ["deleted": .bool(true), "lastUpdated": .int(300)])
        let (f, c) = merged(base, base, theirs)
        #expect(f?["deleted"] == .bool(true) && c.isEmpty)
        let (g, d) = merged(base, theirs, theirs)
        #expect(g?["deleted"] == .bool(true) && d.isEmpty)
    }

    @Test func valuesAreComparedByTheirBytesAndTypes() {
        let typed = edit(base, ["bought": .typed("date", .int(5)), "lastUpdated": .int(200)])
        let plain = edit(base, ["bought": .int(5), "lastUpdated": .int(300)])
        #expect(merged(base, typed, plain).conflicts.map(\.field) == ["bought"])
        let precomposed = edit(base, ["color": .string("caf\u{E9}"), "lastUpdated": .int(200)])
        let decomposed = edit(base, ["color": .string("cafe\u{301}"), "lastUpdated": .int(300)])
        let (f, c) = merged(base, precomposed, decomposed)
        #expect(c.count == 1)
        #expect(f?["color"].flatMap(\.stringValue).map { Array($0.utf8) } == Array("cafe\u{301}".utf8))
    }

    @Test func conflictIDsAreStableAndDistinct() {
        let ours = edit(base, ["color": .string("Blue"), "brand": .string("X"), "lastUpdated": .int(300)])
        let theirs = edit(base, ["color": .string("Red"), "brand": .string("Y"), "lastUpdated": .int(200)])
        let first = merged(base, ours, theirs).conflicts.map(\.id)
        let again = merged(base, ours, theirs).conflicts.map(\.id)
        #expect(first == again && Set(first).count == 2 && first.allSatisfy { $0.count == 16 })
    }

    /// Properties over generated spools: an unchanged side changes nothing, and with different times the
    /// merge does not depend on which side is which.
    @Test func propertiesOverGeneratedSpools() throws {
        var gen = InventoryGenerator(seed: 77)
        var conflicted = 0, deletionsDecided = 0
        for round in 0..<200 {
            var pool: [String] = []
            let raw = gen.record(id: 1, serialPool: &pool)
            guard let b = SpoolNormalizer(now: 1000).normalize([RawRecord(object: .object(raw), row: 1)]).spools.first else { continue }
            func mutate(_ s: Spool, time: Int64) -> Spool {
                var f = s.fields
                for key in f.keys.sorted(by: utf8Ordered).shuffled(using: &gen.rng).prefix(Int.random(in: 0...3, using: &gen.rng)) where key != "serial" {
                    f[key] = Bool.random(using: &gen.rng) ? nil : gen.plainValue(depth: 2)
                }
                if Int.random(in: 0..<5, using: &gen.rng) == 0 { f["deleted"] = .bool(true) }
                f["x-" + gen.string(maxFragments: 2)] = .int(Int64(round))
                f["lastUpdated"] = .int(time)
                return Spool(normalizedFields: f)
            }
            let t0 = b.lastUpdated ?? 0
            let x = mutate(b, time: t0 + 10), y = mutate(b, time: t0 + 20)
            #expect(merged(b, x, b).fields == x.fields, "round \(round): ours only")
            #expect(merged(b, b, x).fields == x.fields, "round \(round): theirs only")
            #expect(merged(b, x, x).fields == x.fields && merged(b, x, x).conflicts.isEmpty, "round \(round): same change")
            let xy = SpoolMerge.merge(base: b, ours: x, theirs: y), yx = SpoolMerge.merge(base: b, ours: y, theirs: x)
            #expect(xy.spool?.canonicalJSON == yx.spool?.canonicalJSON, "round \(round): symmetric")
            #expect(xy.conflicts.map { $0.field } == yx.conflicts.map { $0.field })
            if !xy.conflicts.isEmpty { conflicted += 1 }
            if xy.conflicts.contains(where: { $0.field == "deleted" }) { deletionsDecided += 1 }
        }
        // The generated rounds really exercise the resolver.
        #expect(conflicted > 30 && deletionsDecided > 10, "\(conflicted) rounds with conflicts, \(deletionsDecided) deletions decided")
    }

    /// The merge onto a side that did not change answers exactly as the field-by-field merge of the same three
    /// spools: the same spool, byte for byte, and the same conflicts, whatever theirs did (edited, deleted,
    /// brought back, removed) and whenever (before the base, at its time, after), with or without a known base.
    @Test func theMergeOntoAnUnchangedSideIsTheFieldByFieldMerge() throws {
        var gen = InventoryGenerator(seed: 91)
        var taken = 0
        for round in 0..<400 {
            var pool: [String] = []
            let raw = gen.record(id: 1, serialPool: &pool)
            guard var b = SpoolNormalizer(now: 1000).normalize([RawRecord(object: .object(raw), row: 1)]).spools.first else { continue }
            if round % 7 == 0 { b["deleted"] = .bool(true) }
            let t0 = b.lastUpdated ?? 0
            var f = b.fields
            for key in f.keys.sorted(by: utf8Ordered).shuffled(using: &gen.rng).prefix(Int.random(in: 0...3, using: &gen.rng)) where key != "serial" {
                f[key] = Bool.random(using: &gen.rng) ? nil : gen.plainValue(depth: 2)
            }
            switch round % 5 {
            case 0: f["deleted"] = .bool(true)
            case 1: f["deleted"] = nil
            default: break
            }
            f["lastUpdated"] = .int(t0 + [-10, 0, 10][round % 3])
            if round % 11 == 0 { f["lastUpdated"] = nil }
            let t: Spool? = round % 13 == 0 ? nil : Spool(normalizedFields: f)
            for (known, follows) in [(true, false), (true, true), (false, false)] {
                let fast = SpoolMerge.merge(unchanged: b, theirs: t, baseKnown: known, theirsFollowsBase: follows)
                let full = SpoolMerge.merge(base: b, ours: b, theirs: t, baseKnown: known, theirsFollowsBase: follows)
                #expect(fast.spool?.canonicalJSON == full.spool?.canonicalJSON, "round \(round), base known \(known), follows \(follows)")
                #expect(fast.spool == full.spool)
                #expect(fast.conflicts == full.conflicts, "round \(round)")
                if known, let t, follows || (t.lastUpdated ?? 0) >= t0 { taken += 1 }
            }
        }
        // Most rounds take the quick answer; the others are the field-by-field merge's to decide.
        #expect(taken > 300, "\(taken) quick answers")
    }
}

/// Every combination of what each side did, with every order of their times, against a reference model of
/// the rules written separately from SpoolMerge.
@Suite struct SpoolMergeMatrixTests {
    enum Side: CaseIterable, Sendable {
        case unchanged, red, blue, deleted, removed, added, absent
    }

    struct Case: CustomStringConvertible, Sendable {
        var ours: Side, theirs: Side, oursTime: Int64, theirsTime: Int64
        var description: String { "ours \(ours)@\(oursTime), theirs \(theirs)@\(theirsTime)" }
    }

    static let cases: [Case] = {
        var out: [Case] = []
        let withBase: [Side] = [.unchanged, .red, .blue, .deleted, .removed]
        let withoutBase: [Side] = [.added, .absent]
        for o in withBase { for t in withBase { for (ot, tt) in [(200, 300), (300, 200), (250, 250)] { out.append(Case(ours: o, theirs: t, oursTime: Int64(ot), theirsTime: Int64(tt))) } } }
        for o in withoutBase { for t in withoutBase { for (ot, tt) in [(200, 300), (300, 200), (250, 250)] { out.append(Case(ours: o, theirs: t, oursTime: Int64(ot), theirsTime: Int64(tt))) } } }
        return out
    }()

    static let base = Spool(normalizedFields: ["serial": .string("S"), "color": .string("Black"), "lastUpdated": .int(100)])

    static func state(_ side: Side, time: Int64, addedColor: String) -> Spool? {
        switch side {
        case .unchanged: return base
        case .red: return edit(base, ["color": .string("Red"), "lastUpdated": .int(time)])
        case .blue: return edit(base, ["color": .string("Blue"), "lastUpdated": .int(time)])
        case .deleted: return edit(base, ["deleted": .bool(true), "lastUpdated": .int(time)])
        case .removed, .absent: return nil
        case .added: return Spool(normalizedFields: ["serial": .string("S"), "color": .string(addedColor), "lastUpdated": .int(time)])
        }
    }

    /// The reference: (present, color, deleted, conflict fields).
    static func expected(_ c: Case) -> (present: Bool, color: String?, deleted: Bool, conflicts: [String]) {
        let later: MergeSide? = c.oursTime == c.theirsTime ? nil : (c.oursTime > c.theirsTime ? .ours : .theirs)
        func color(_ s: Side, _ added: String) -> String? {
            switch s {
            case .unchanged, .deleted: return "Black"
            case .red: return "Red"
            case .blue: return "Blue"
            case .added: return added
            default: return nil
            }
        }
        let changed: (Side) -> Bool = { $0 != .unchanged && $0 != .absent }
        switch (c.ours, c.theirs) {
        case (.absent, .absent), (.removed, .removed), (.removed, .unchanged), (.unchanged, .removed):
            return (false, nil, false, [])
        case (.removed, let t), (.absent, let t):
            return (true, color(t, "Blue"), t == .deleted, [])
        case (let o, .removed), (let o, .absent):
            return (true, color(o, "Red"), o == .deleted, [])
        default: break
        }
        let o = c.ours, t = c.theirs
        if o == .deleted && t == .deleted { return (true, "Black", true, []) }
        if o == .deleted || t == .deleted {
            let deleter: MergeSide = o == .deleted ? .ours : .theirs
            let other = deleter == .ours ? t : o
            if !changed(other) { return (true, "Black", true, []) }
            let deletionWins = later == nil || later == deleter
            if deletionWins { return (true, "Black", true, ["deleted"]) }
            return (true, color(other, deleter == .ours ? "Blue" : "Red"), false, ["deleted"])
        }
        let oc = color(o, "Red")!, tc = color(t, "Blue")!
        if oc == tc { return (true, oc, false, []) }
        if o == .unchanged { return (true, tc, false, []) }
        if t == .unchanged { return (true, oc, false, []) }
        let winner = later ?? .ours
        return (true, winner == .ours ? oc : tc, false, ["color"])
    }

    @Test(arguments: cases)
    func matchesTheReference(_ c: Case) {
        let hasBase = c.ours != .added && c.ours != .absent
        let result = SpoolMerge.merge(base: hasBase ? Self.base : nil,
                                      ours: Self.state(c.ours, time: c.oursTime, addedColor: "Red"),
                                      theirs: Self.state(c.theirs, time: c.theirsTime, addedColor: "Blue"))
        let want = Self.expected(c)
        #expect((result.spool != nil) == want.present)
        guard let spool = result.spool else { return }
        #expect(spool["color"]?.stringValue == want.color)
        #expect(spool.isDeleted == want.deleted)
        #expect(result.conflicts.map(\.field) == want.conflicts)
    }
}

/// Two sides with no common history (a file whose base is not known): every field that differs, an absent one
/// included, goes to the later `lastUpdated` and is recorded.
@Suite struct SpoolMergeWithoutBaseTests {
    @Test func everyDifferenceIsDecidedByLastWriteAndRecorded() {
        let ours = spool(["serial": .string("S"), "notes": .string("phone note"), "weightRemaining": .int(700), "lastUpdated": .int(3000)])
        let theirs = spool(["serial": .string("S"), "weightRemaining": .int(650), "brand": .string("X"), "lastUpdated": .int(2000)])
        let r = SpoolMerge.merge(base: nil, ours: ours, theirs: theirs, baseKnown: false)
        #expect(r.spool?["notes"] == .string("phone note") && r.spool?["weightRemaining"] == .int(700) && r.spool?["brand"] == nil)
        #expect(Set(r.conflicts.map(\.field)) == ["notes", "weightRemaining", "brand"])
        #expect(r.conflicts.allSatisfy { $0.winner == .ours && $0.reason.hasPrefix("no common base and the two differ") })
        // With an empty base known, the same two are an addition on each side: only the weight conflicts.
        let known = SpoolMerge.merge(base: nil, ours: ours, theirs: theirs)
        #expect(known.conflicts.map(\.field) == ["weightRemaining"])
        // The newer side wins a field absent on the other.
        let newer = SpoolMerge.merge(base: nil, ours: theirs, theirs: ours, baseKnown: false)
        #expect(newer.spool?["notes"] == .string("phone note") && newer.spool?["brand"] == nil && newer.spool?.lastUpdated == 3000)
    }

    /// A device's older file imported after its newer one: it changed nothing since, so it does not revert.
    @Test func anOlderFileThanItsBaseRevertsNothingSilently() {
        let newer = spool(["serial": .string("S"), "weightRemaining": .int(120), "lastUpdated": .int(300)])
        let older = spool(["serial": .string("S"), "weightRemaining": .int(640), "lastUpdated": .int(200)])
        let r = SpoolMerge.merge(base: newer, ours: newer, theirs: older)
        #expect(r.spool?["weightRemaining"] == .int(120) && r.spool?.lastUpdated == 300)
        #expect(r.conflicts.map(\.field) == ["weightRemaining"] && r.conflicts.first?.winner == .ours)
    }
}
