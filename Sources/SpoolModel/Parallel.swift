import Dispatch

/// Ordered parallel map over the machine's cores, for the per-record work of a conversion.
public enum Parallel {
    public static let cores = max(1, System.coreCount)

    /// Below this many items the work runs on the calling thread: handing a few items to other threads costs
    /// more than it saves (a sync request's ten spools).
    public static let threshold = 32

    /// `body(0..<count)` split into one contiguous part per core, run at once; the parts' results in order.
    public static func map<R>(_ count: Int, _ body: (Range<Int>) -> R) -> [R] {
        let parts = count < threshold ? 1 : min(cores, count)
        guard parts > 1 else { return [body(0..<count)] }
        let results = Results<R>(count: parts)
        withoutActuallyEscaping(body) { body in
            let box = UncheckedBox(body)
            DispatchQueue.concurrentPerform(iterations: parts) { part in
                let lo = count * part / parts, hi = count * (part + 1) / parts
                results.set(part, box.value(lo..<hi))
            }
        }
        return results.values()
    }

    /// Each slot is written by exactly one iteration, through a raw buffer (no shared copy-on-write
    /// array), and read only after all have finished.
    private final class Results<R>: @unchecked Sendable {
        private let slots: UnsafeMutableBufferPointer<R?>
        init(count: Int) {
            slots = .allocate(capacity: count)
            slots.initialize(repeating: nil)
        }
        deinit {
            _ = slots.deinitialize()
            slots.deallocate()
        }
        func set(_ i: Int, _ value: R) { slots[i] = value }
        func values() -> [R] { slots.map { $0! } }
    }

    private final class UncheckedBox<T>: @unchecked Sendable {
        let value: T
        init(_ value: T) { self.value = value }
    }
}

enum System {
    static var coreCount: Int {
        #if canImport(Glibc)
        return Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        #else
        return 1
        #endif
    }
}

#if canImport(Glibc)
import Glibc
#endif
