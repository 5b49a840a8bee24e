import NIOCore
import NIOPosix
import SpoolModel
import SpoolSync
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

    /// Which requests stay on their connection's loop (``SyncRoutes/lane(bodyBytes:request:)``): only one with a
    /// cursor and few entries in a small body.
    @Test func onlyShortRequestsStayOnTheLoop() throws {
        func request(cursor: Bool, deletions: Int) throws -> SyncRequest {
            let text = #"{"deviceId":"d","lastSyncTime":1,"changes":[],"deletions":["# + (0..<deletions).map { #""S\#($0)""# }.joined(separator: ",") + "]"
                + (cursor ? #","cursor":"c1.0"}"# : "}")
            return try SyncRequest(checking: JSONParser.parse(Array(text.utf8)))
        }
        enum Lane: Equatable { case loop, long, pool }
        func lane(_ bytes: Int, _ r: SyncRequest) -> Lane {
            guard let l = SyncRoutes.lane(bodyBytes: bytes, request: r) else { return .loop }
            return l is EventLoopTaskExecutor ? .long : .pool
        }
        #expect(lane(5_000, try request(cursor: true, deletions: 10)) == .loop)
        #expect(lane(256 << 10, try request(cursor: true, deletions: 10)) == .long)
        #expect(lane(5_000, try request(cursor: true, deletions: 500)) == .long)
        #expect(lane(5_000, try request(cursor: true, deletions: 499)) == .loop)
        #expect(lane(5_000, try request(cursor: false, deletions: 10)) == .pool)
        #expect(lane(256 << 10, try request(cursor: false, deletions: 10)) == .long)
    }
}
