import Foundation
@testable import SpoolHistory
import Testing

/// The compressor's thread: blocks run in order, at the scheduler's idle priority; `sync` runs its body once
/// every earlier block has run, with none running meanwhile; the thread ends with its owner, after what it was given.
@Suite struct IdleThreadTests {
    final class Log: @unchecked Sendable {
        private let lock = NSLock()
        private var entries: [String] = []
        func add(_ entry: String) { lock.withLock { entries.append(entry) } }
        var all: [String] { lock.withLock { entries } }
    }

    @Test func blocksRunInOrderAtIdlePriority() {
        let thread = IdleThread(name: "test-idle")
        let log = Log()
        let done = DispatchSemaphore(value: 0)
        for i in 0..<200 { thread.async { log.add("\(i)") } }
        #if os(Linux)
        thread.async { log.add("policy \(sched_getscheduler(0))") }
        #endif
        // A block knows it runs on the idle thread (the compressor then keeps to it alone); no other thread is it.
        thread.async { log.add("own thread \(IdleThread.onItsThread)") }
        #expect(!IdleThread.onItsThread)
        thread.async { done.signal() }
        #expect(done.wait(timeout: .now() + 30) == .success)
        var expected = (0..<200).map { "\($0)" }
        #if os(Linux)
        expected.append("policy 5")  // SCHED_IDLE
        #endif
        expected.append("own thread true")
        #expect(log.all == expected)
    }

    /// `sync` waits for the block the thread is running, runs the blocks it has not started on the caller's
    /// thread, in order, then its body, with nothing else running meanwhile; the thread then goes on.
    @Test func syncRunsWhatWaitsOnTheCallersThread() {
        let thread = IdleThread(name: "test-idle-sync")
        let log = Log()
        let release = DispatchSemaphore(value: 0), started = DispatchSemaphore(value: 0)
        // The thread is held in a block (as a starved one would be) while blocks queue behind it.
        thread.async {
            started.signal()
            release.wait()
            log.add("first")
        }
        #expect(started.wait(timeout: .now() + 30) == .success)
        let caller = pthread_self()
        for i in 0..<50 { thread.async { log.add(pthread_equal(pthread_self(), caller) != 0 && !IdleThread.onItsThread ? "caller \(i)" : "thread \(i)") } }
        DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(50)) { release.signal() }
        let seen = thread.sync { () -> [String] in
            let before = log.all
            usleep(10_000)
            #expect(log.all == before)
            return before
        }
        #expect(seen == ["first"] + (0..<50).map { "caller \($0)" })
        let after = DispatchSemaphore(value: 0)
        thread.async {
            log.add("after")
            after.signal()
        }
        #expect(after.wait(timeout: .now() + 30) == .success)
        #expect(log.all.last == "after")
    }

    @Test func theThreadEndsWithItsOwnerAfterItsBlocks() async throws {
        let log = Log()
        let ended = DispatchSemaphore(value: 0)
        @Sendable func running() -> Bool {
            let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
            return tasks.contains { (try? String(contentsOfFile: "/proc/self/task/\($0)/comm", encoding: .utf8))?.hasPrefix("test-idle-end") == true }
        }
        do {
            let thread = IdleThread(name: "test-idle-end")
            thread.async {
                usleep(20_000)
                log.add("ran")
            }
            thread.async { log.add("ran too") }
            // The thread, seen from a block it runs (it may not run at all before its owner is gone: at idle priority,
            // a full suite on two cores kept it off the processors for more than 10 s).
            thread.async {
                log.add(running() ? "seen" : "not seen")
                ended.signal()
            }
        }
        // The owner is gone; what it gave still runs (once the processors are free enough for an idle-priority
        // thread: the other tests end within 90 s), then the thread ends.
        #expect(ended.wait(timeout: .now() + 150) == .success)
        #expect(log.all == ["ran", "ran too", "seen"])
        #if os(Linux)
        var waited = 0
        while running(), waited < 3_000 {
            try await Task.sleep(for: .milliseconds(10))
            waited += 1
        }
        #expect(!running())
        #endif
    }
}
