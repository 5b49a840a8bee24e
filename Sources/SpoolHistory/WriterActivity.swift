import Foundation

/// Whether a writer is serving requests right now, for the work it does on threads of its own (a sync server's
/// packs) to be done between requests rather than during them.
///
/// Why: on this machine's two cores, the pack a timer publish writes (3-5 MB, 10 ms on its thread) made the
/// requests it overlapped 2-4 ms slower, though they ran on the other core (memory traffic: a loop of hash-table
/// lookups ran 38% slower beside a thread copying 8 MB buffers; an arithmetic loop ran no slower beside one hashing them).
/// In the 200 delta syncs after a 100,000-spool upload, the requests over 3 ms were the ones around that pack:
/// without a publish in that window, p99 fell from 2.8-3.9 ms to 1.9-2.2 ms (`/tmp/m3.sh`, 4 runs each).
package final class WriterActivity: @unchecked Sendable {
    private let condition = NSCondition()
    private var busy = 0
    private var hurried = 0

    package init() {}

    /// How many requests are being served.
    package var requests: Int {
        condition.lock()
        defer { condition.unlock() }
        return busy
    }

    private var stopped = false

    /// The writer is stopping (a server's SIGTERM): work that can be given up (a garbage collection) is.
    package func stop() {
        condition.lock()
        stopped = true
        condition.unlock()
    }

    /// Whether a request is being served or the writer is stopping: what a garbage collection, which holds up
    /// everything, gives way to.
    package var wantsTheHistory: Bool {
        condition.lock()
        defer { condition.unlock() }
        return busy > 0 || stopped
    }

    /// A request starts being served.
    package func begin() {
        condition.lock()
        busy += 1
        condition.unlock()
    }

    /// A request is served.
    package func end() {
        condition.lock()
        busy -= 1
        if busy == 0 { condition.broadcast() }
        condition.unlock()
    }

    /// Returns once no request is being served, or after `limit` seconds (so that background work goes on under
    /// a load that never stops), or at once while the writer waits for that work (``hurrying(_:)``).
    func waitUntilIdle(atMost limit: TimeInterval) {
        condition.lock()
        defer { condition.unlock() }
        guard busy > 0, hurried == 0 else { return }
        let deadline = Date(timeIntervalSinceNow: limit)
        while busy > 0, hurried == 0 {
            if !condition.wait(until: deadline) { return }
        }
    }

    /// Runs `body`, which waits for background work: that work no longer waits for requests to end meanwhile
    /// (the writer waiting is one of them).
    func hurrying<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        condition.lock()
        hurried += 1
        condition.broadcast()
        condition.unlock()
        defer {
            condition.lock()
            hurried -= 1
            condition.unlock()
        }
        return try body()
    }
}
