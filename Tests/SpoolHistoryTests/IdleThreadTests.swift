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

    @Test func blocksRunInOrderAtIdlePriorityAndSyncWaitsForThem() {
        let thread = IdleThread(name: "test-idle")
        let log = Log()
        for i in 0..<200 {
            thread.async {
                if i == 0 { usleep(20_000) }
                log.add("\(i)")
            }
        }
        #if os(Linux)
        thread.async { log.add("policy \(sched_getscheduler(0))") }
        #endif
        // Runs after all 200 (the first of which sleeps), with the thread held: nothing runs meanwhile.
        let seen = thread.sync { () -> [String] in
            let before = log.all
            usleep(10_000)
            #expect(log.all == before)
            return before
        }
        var expected = (0..<200).map { "\($0)" }
        #if os(Linux)
        expected.append("policy 5")  // SCHED_IDLE
        #endif
        #expect(seen == expected)
        thread.async { log.add("after") }
        thread.sync {}
        #expect(log.all.last == "after")
    }

    @Test func theThreadEndsWithItsOwnerAfterItsBlocks() async throws {
        let log = Log()
        let ended = DispatchSemaphore(value: 0)
        func running() -> Bool {
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
            // The thread's own end, observed from it: a block given last sees it is still running.
            thread.async { ended.signal() }
            #if os(Linux)
            var started = 0
            while !running(), started < 100 {
                usleep(10_000)
                started += 1
            }
            #expect(running())
            #endif
        }
        // The owner is gone; what it gave still runs, then the thread ends.
        #expect(ended.wait(timeout: .now() + 30) == .success)
        #expect(log.all == ["ran", "ran too"])
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
