import NIOCore
import NIOPosix
import Testing
@testable import SpoolServer

/// A connection's requests run on its event loop (``EventLoopAffineHTTP1Channel``): a task that prefers a loop's
/// ``EventLoopTaskExecutor`` runs there, and comes back there after an actor's work and after a sleep.
@Suite struct EventLoopAffinityTests {
    actor Counter {
        var n = 0
        func bump() -> Int {
            n += 1
            return n
        }
    }

    @Test func aTaskThatPrefersALoopRunsOnIt() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let counter = Counter()
        let loops = [group.next(), group.next()]
        #expect(loops[0] !== loops[1])
        for loop in loops {
            let seen = await withTaskExecutorPreference(EventLoopTaskExecutor(loop)) { () async -> [Bool] in
                var seen = [loop.inEventLoop]
                _ = await counter.bump()
                seen.append(loop.inEventLoop)
                try? await Task.sleep(for: .milliseconds(5))
                seen.append(loop.inEventLoop)
                return seen
            }
            #expect(seen == [true, true, true])
            // Without the preference, the same task runs on Swift's own threads.
            #expect(await Task.detached { loop.inEventLoop }.value == false)
        }
        try await group.shutdownGracefully()
    }
}
