import Foundation
@testable import SpoolHistory
import Testing

/// What the history keeps in memory by object id (spool files, trees, commits' links): within its budget, and
/// what is used request after request stays, whatever else passes through.
@Suite struct KeptTests {
    static func blob(_ n: Int) -> (ObjectID, [UInt8]) {
        let bytes = Array("spool \(n)\n".utf8) + [UInt8](repeating: UInt8(n % 251), count: 200)
        return (GitRepository.blobID(bytes), bytes)
    }

    /// A working set, each used again before a quarter of the budget of new objects has passed, stays whole while
    /// 50 budgets' worth of other objects go through (emptied whole when full, it was lost 50 times: about 500
    /// misses); nothing held is ever wrong; the memory held stays within the budget.
    @Test func theWorkingSetStaysAndTheBudgetHolds() {
        let budget = 64 << 10
        var kept = KeptBytes(budget: budget)
        let working = (0..<10).map(Self.blob)
        for (id, bytes) in working { kept.keep(id, bytes) }
        var missed = 0
        var n = 1_000
        for round in 0..<2_000 {
            for _ in 0..<6 {
                let (id, bytes) = Self.blob(n)
                kept.keep(id, bytes)
                n += 1
            }
            let (id, bytes) = working[round % working.count]
            if let found = kept.value(id) { #expect(found == bytes) } else { missed += 1; kept.keep(id, bytes) }
        }
        #expect(missed == 0)
        // Both generations together, within the budget, and holding more than the working set.
        #expect(kept.total <= budget)
        #expect(kept.total > budget / 4)
    }

    /// Emptying the whole of it when full (as it did before) lost the working set at each emptying.
    @Test func anObjectNotUsedAgainGoesWithinTwoGenerations() {
        var kept = KeptBytes(budget: 16 << 10)
        let (first, bytes) = Self.blob(0)
        kept.keep(first, bytes)
        for i in 1..<200 {
            let (id, b) = Self.blob(i)
            kept.keep(id, b)
        }
        #expect(kept.value(first) == nil)
        let (last, lastBytes) = Self.blob(199)
        #expect(kept.value(last) == lastBytes)
    }
}
