import Hummingbird
import NIOCore
import NIOHTTPTypes
import SpoolModel
import SpoolSync

/// Two guards on every connection, below the routes, where Hummingbird's own answers pass too:
///
/// - **A body must keep arriving.** After a grace period from the request's head, each window must bring the
///   least rate's worth of the body (``ServerConfiguration/bodyGrace``, ``ServerConfiguration/bodyRateWindow``,
///   ``ServerConfiguration/bodyMinimumRate``). A body trickled a byte at a time otherwise held its connection for
///   as long as its client liked (Hummingbird's idle timeout closes a connection only after a whole minute with no
///   byte at all) and, sent without a key in a header, its share of the budget that such bodies have together: a
///   few such connections made every web app's sync a 503, for good, and held off a SIGTERM's shutdown as long.
///   The client is answered 408 in the API's shape when no answer to that request has started, and the
///   connection is closed; an answer of the route that comes later is not written. A request sent before the
///   last one's answer ended (pipelined) is timed once that answer ends: the server does not read it meanwhile.
///   (Here rather than as a deadline in the route: it sees the body's parts as they arrive, without a timer task
///   per request, and it can close the connection, which a route cannot: Hummingbird reads the rest of an unread
///   body before the next request.)
/// - **Every answer carries `Access-Control-Allow-Origin`.** The middleware puts it on the routes' answers; the
///   400 Hummingbird writes itself for a request its HTTP parser refuses (a malformed header line) never reaches
///   a middleware, and went without it, unreadable to a browser's script.
///
/// When it is added, it puts a ``ConnectionCloseHandler`` before the conversion of HTTP/1 parts, where a request's
/// version is still known.
final class ConnectionGuardHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let grace: TimeAmount
    private let window: TimeAmount
    private let minimumRate: Int
    private let allowedOrigin: String
    /// Requests whose head arrived, answers whose head (not an interim `100 Continue`) and whose end were written:
    /// the request being read is the last whose head arrived; its answer has started when `headsOut == headsIn`.
    private var headsIn = 0
    private var headsOut = 0
    private var endsOut = 0
    /// The request being read: when its timing began, how much of its body has arrived, and how much had at the
    /// last check.
    private var started: NIODeadline?
    private var received = 0
    private var receivedAtCheck = 0
    /// A request whose head arrived while an earlier one was still being answered: timed once that answer ends.
    private var waiting = false
    private var check: Scheduled<Void>?
    private var timedOut = false

    init(grace: Duration, window: Duration, minimumRate: Int, allowedOrigin: String) {
        self.grace = .nanoseconds(Int64(grace / .nanoseconds(1)))
        self.window = .nanoseconds(max(1_000_000, Int64(window / .nanoseconds(1))))
        self.minimumRate = max(1, minimumRate)
        self.allowedOrigin = allowedOrigin
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if timedOut { return }
        switch unwrapInboundIn(data) {
        case .head:
            headsIn += 1
            received = 0
            stopTiming()
            // A request sent before the last one's answer ended (pipelined) is not read while that one is served:
            // its time starts once that answer ends, or the server's own work would count against its body.
            if endsOut >= headsIn - 1 { startTiming(context) } else { waiting = true }
        case .body(let buffer):
            received += buffer.readableBytes
        case .end:
            stopTiming()
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if timedOut {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        switch unwrapOutboundIn(data) {
        case .head(var head):
            // (An interim answer, `100 Continue`, is not the answer: the body it asks for is still to come.)
            if head.status.kind != .informational { headsOut += 1 }
            if head.headerFields[.accessControlAllowOrigin] == nil {
                head.headerFields[.accessControlAllowOrigin] = allowedOrigin
                context.write(wrapOutboundOut(.head(head)), promise: promise)
            } else {
                context.write(data, promise: promise)
            }
        case .body:
            context.write(data, promise: promise)
        case .end:
            endsOut += 1
            context.write(data, promise: promise)
            if waiting, endsOut >= headsIn - 1 { startTiming(context) }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        stopTiming()
        context.fireChannelInactive()
    }

    func handlerAdded(context: ChannelHandlerContext) { ConnectionCloseHandler.add(to: context.pipeline.syncOperations) }

    func handlerRemoved(context: ChannelHandlerContext) { stopTiming() }

    private func startTiming(_ context: ChannelHandlerContext) {
        waiting = false
        started = .now()
        receivedAtCheck = received
        schedule(context)
    }

    private func stopTiming() {
        started = nil
        waiting = false
        check?.cancel()
        check = nil
    }

    /// The next check, a window from now.
    private func schedule(_ context: ChannelHandlerContext) {
        check?.cancel()
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        check = context.eventLoop.scheduleTask(in: window) {
            let (handler, context) = bound.value
            handler.checkBody(context)
        }
    }

    /// Each window, once the grace is over, the body must have brought the least rate's worth of bytes in that
    /// window. (Averaged since the head, a body sent fast at first earned the right to stall for as long: 32 MiB at
    /// once, then a byte every 45 s, held its share of the unauthenticated budget for 35 minutes.)
    private func checkBody(_ context: ChannelHandlerContext) {
        check = nil
        guard let started, !timedOut else { return }
        let now = NIODeadline.now()
        let arrived = received - receivedAtCheck
        receivedAtCheck = received
        let needed = Int64(minimumRate) * window.nanoseconds / 1_000_000_000
        if now - started < grace || Int64(arrived) >= needed {
            schedule(context)
            return
        }
        timedOut = true
        let slow = SlowBodyError(message: "the request's body came too slowly: \(received) bytes arrived, \(arrived) of them in the last \(window.seconds) s; after its first \(grace.seconds) s a body must arrive at \(minimumRate) bytes per second. Nothing was applied; the connection is closed")
        // The answer to this request has started (the route answered before reading its body): only the close.
        guard headsOut < headsIn else {
            context.close(promise: nil)
            return
        }
        // The route still reading the body gets this error from it (Hummingbird's stream of the request's parts ends
        // with it: before the close below, which would end it plainly) and logs the request as this 408, not as a
        // body its client broke; its answer is not written (`timedOut`).
        context.fireErrorCaught(slow)
        let body = ByteBuffer(bytes: slow.failure.json.jsonBytes)
        let head = HTTPResponse(status: SlowBodyError.status, headerFields: [
            .contentType: "application/json", .contentLength: String(body.readableBytes), .connection: "close",
            .accessControlAllowOrigin: allowedOrigin,
        ])
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(body)), promise: nil)
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in bound.value.close(promise: nil) }
    }
}

extension TimeAmount {
    /// `0.5`, `30`: a number of seconds as a person writes it.
    fileprivate var seconds: String {
        let s = Double(nanoseconds) / 1e9
        return s == s.rounded() ? String(Int(s)) : String(s)
    }
}
