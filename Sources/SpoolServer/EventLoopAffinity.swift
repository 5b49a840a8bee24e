import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOPosix

/// HTTP/1 connections whose requests run on their connection's event loop: the connection's task, its route and
/// what the route awaits (the history's actors, the journal's flush) prefer that loop as their executor (SE-0417),
/// where Hummingbird's own would run on Swift's global pool.
///
/// Every request otherwise crossed threads four times: its parts from the event loop to a thread of the pool, the
/// answer back, and each way again around the journal's flush. On this two-core machine each crossing woke a
/// sleeping thread: with the connection's loop as the task's executor, a poll's time from its last byte to its
/// handler went from 70 to 26 µs, and from the handler's answer to its first byte out from 79 to 28 µs (median of
/// 2,000, traced), and 8 devices syncing together got 1,305-1,524 syncs/s through against 1,091-1,367 (over HTTP).
///
/// A loop is blocked while a request's work runs on it: the other connections on that loop wait for it. So only
/// small work stays there: ``SyncRoutes`` moves every request that can be long elsewhere (a body of 256 KiB or
/// more, or 500 entries or more, to ``LongRequests``; one without a cursor, whose answer can be the whole
/// inventory, to Swift's pool, where it ran before). (Health checks on the loop of a request deleting 40,000 spools
/// by id waited 7.9 s before that rule, 23 ms after.)
struct EventLoopAffineHTTP1Channel: ServerChildChannel {
    typealias Value = HTTP1Channel.Value
    let http1: HTTP1Channel

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        http1.setup(channel: channel, logger: logger)
    }

    func handle(value: Value, logger: Logger) async {
        await withTaskExecutorPreference(EventLoopTaskExecutor(value.channel.eventLoop)) {
            await http1.handle(value: value, logger: logger)
        }
    }
}

extension HTTPServerBuilder {
    /// ``EventLoopAffineHTTP1Channel``: `.http1(configuration:)`, each connection's requests on its event loop.
    static func http1OnEventLoops(configuration: HTTP1Channel.Configuration) -> HTTPServerBuilder {
        HTTPServerBuilder { responder in EventLoopAffineHTTP1Channel(http1: HTTP1Channel(responder: responder, configuration: configuration)) }
    }
}

/// An event loop as a task executor: each job is run as one of the loop's tasks (at once when the loop is idle,
/// after the I/O it is handling otherwise).
final class EventLoopTaskExecutor: TaskExecutor {
    let loop: any EventLoop

    init(_ loop: any EventLoop) { self.loop = loop }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        loop.execute { job.runSynchronously(on: executor) }
    }
}

/// The thread that large sync requests (an upload's batches: seconds of work each) are parsed and applied on: not a
/// connection's event loop, whose other connections would wait for them, nor one of Swift's pool, which has one
/// thread per core (two here) and runs every connection's start and every request without a cursor (a large request
/// there held the pool for seconds, and the web app's syncs behind it: in CI, two bodies waiting for their last byte
/// were cut off as too slow). Requests are applied one at a time anyway (the history's actor).
enum LongRequests {
    static let executor = EventLoopTaskExecutor(MultiThreadedEventLoopGroup(numberOfThreads: 1).next())
}
