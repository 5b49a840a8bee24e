import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A thread of its own that runs blocks one after another, in the order given, at the scheduler's idle priority
/// (Linux's `SCHED_IDLE`): it runs on a core no request wants, and gives way the moment a request's thread wakes.
///
/// Why not a dispatch queue: at normal priority, the scheduler let a block run on for up to its time slice while a
/// request's thread, woken on that core, waited (2.4-3.2 ms, `perf sched timehist`, with the other core busy);
/// in 1,010 delta syncs after a 100,000-spool upload, the same work at idle priority brought p99 from 3.3-4.0 ms
/// to 2.3-2.8 ms and the requests over 3 ms from 14-18 to 6-9 (3 runs each). A dispatch worker cannot be lowered
/// for one block and raised again: an unprivileged thread cannot leave `SCHED_IDLE`, so the thread is this
/// object's alone, started on first use and ended with it.
final class IdleThread: @unchecked Sendable {
    /// The queue, shared with the thread (which does not hold the `IdleThread`, so that it can end).
    private final class Worker: @unchecked Sendable {
        let condition = NSCondition()
        var blocks: [() -> Void] = []
        var next = 0
        var started = false
        var stopping = false
        /// Whether the thread is running a block.
        var running = false
        /// Whether a caller of ``IdleThread/sync(_:)`` holds the queue (the thread starts no block meanwhile).
        var held = false

        func run(_ name: String) {
            Thread.current.name = name
            Thread.current.threadDictionary[IdleThread.marker] = true
            #if os(Linux)
            var parameters = sched_param()
            parameters.sched_priority = 0
            // SCHED_IDLE, 5 in <bits/sched.h> (Glibc's module leaves it out: it is a GNU extension).
            _ = sched_setscheduler(0, 5, &parameters)
            #endif
            while true {
                condition.lock()
                while next == blocks.count || held, !stopping { condition.wait() }
                if next == blocks.count || held {
                    condition.unlock()
                    return
                }
                let block = blocks[next]
                next += 1
                if next == blocks.count {
                    blocks.removeAll(keepingCapacity: true)
                    next = 0
                }
                running = true
                condition.unlock()
                block()
                condition.lock()
                running = false
                condition.broadcast()
                condition.unlock()
            }
        }
    }

    private let worker = Worker()

    static let marker = "filamentdb.idle-thread"
    /// Whether the calling thread is an idle thread's own (not a caller of ``sync(_:)`` running its blocks).
    static var onItsThread: Bool { Thread.current.threadDictionary[marker] != nil }
    private let name: String

    init(name: String) { self.name = name }

    deinit {
        worker.condition.lock()
        worker.stopping = true
        worker.condition.broadcast()
        worker.condition.unlock()
    }

    /// Runs `block` on the thread after the blocks given before it.
    func async(_ block: @escaping @Sendable () -> Void) {
        worker.condition.lock()
        defer { worker.condition.unlock() }
        worker.blocks.append(block)
        worker.condition.broadcast()
        guard !worker.started else { return }
        worker.started = true
        let worker = self.worker, name = self.name
        Thread { worker.run(name) }.start()
    }

    /// Runs `body` on the calling thread once every block given before has run, with the thread held meanwhile
    /// (as `DispatchQueue.sync` does). The blocks the thread has not started yet are run here, on the caller's
    /// thread: at idle priority, on cores other processes keep busy, the thread gets a few thousandths of one
    /// (under two busy loops, a quick drive.py run that ends with the server's shutdown took 280 s, 57 s once the
    /// caller ran them, 18.5 s at normal priority), so a caller waits for the block running at most.
    func sync<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        callers.lock()
        defer { callers.unlock() }
        worker.condition.lock()
        let pending = Array(worker.blocks[worker.next...])
        worker.blocks.removeAll(keepingCapacity: true)
        worker.next = 0
        worker.held = true
        while worker.running { worker.condition.wait() }
        worker.condition.unlock()
        defer {
            worker.condition.lock()
            worker.held = false
            worker.condition.broadcast()
            worker.condition.unlock()
        }
        for block in pending { block() }
        return try body()
    }

    /// One caller of ``sync(_:)`` at a time.
    private let callers = NSLock()
}
