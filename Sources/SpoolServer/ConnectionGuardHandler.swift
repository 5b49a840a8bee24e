import Hummingbird
import NIOCore
import NIOHTTPTypes
import SpoolModel
import SpoolSync
import Synchronization

/// Two guards on every connection, below the routes, where Hummingbird's own answers pass too:
///
/// - **A body must keep arriving.** After a grace period from the request's head, the body must have come at a
///   least rate on average (``ServerConfiguration/bodyGrace``, ``ServerConfiguration/bodyMinimumRate``). A body
///   trickled a byte at a time otherwise held its connection for as long as its client liked (the idle timeout
///   covers only the time between requests) and, sent without a key in a header, its share of the budget that
///   such bodies have together: a few such connections made every web app's sync a 503, for good. The client is
///   answered 408 in the API's shape when no answer has started, and the connection is closed; an answer of the
///   route that comes later is not written. (Here rather than as a deadline in the route: it sees the body's
///   parts as they arrive, without a timer task per request, and it can close the connection, which a route
///   cannot: Hummingbird reads the rest of an unread body before the next request.)
/// - **Every answer carries `Access-Control-Allow-Origin`.** The middleware puts it on the routes' answers; the
///   400 Hummingbird writes itself for a request its HTTP parser refuses (a malformed header line) never reaches
///   a middleware, and went without it, unreadable to a browser's script.
final class ConnectionGuardHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let grace: TimeAmount
    private let minimumRate: Int
    private let allowedOrigin: String
    private let slowBodies: SlowBodies
    /// When the request being read began (its head), and how much of its body has arrived.
    private var started: NIODeadline?
    private var received = 0
    private var check: Scheduled<Void>?
    /// Whether the answer to the request being read has started (its head written).
    private var answering = false
    private var timedOut = false

    init(grace: Duration, minimumRate: Int, allowedOrigin: String, slowBodies: SlowBodies) {
        self.slowBodies = slowBodies
        self.grace = .nanoseconds(Int64(grace / .nanoseconds(1)))
        self.minimumRate = max(1, minimumRate)
        self.allowedOrigin = allowedOrigin
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if timedOut { return }
        switch unwrapInboundIn(data) {
        case .head:
            started = .now()
            received = 0
            answering = false
            schedule(context, at: started! + grace)
        case .body(let buffer):
            received += buffer.readableBytes
        case .end:
            started = nil
            check?.cancel()
            check = nil
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if timedOut {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        guard case .head(var head) = unwrapOutboundIn(data) else {
            context.write(data, promise: promise)
            return
        }
        // (An interim answer, `100 Continue`, is not the answer: the body it asks for is still to come.)
        if head.status.kind != .informational { answering = true }
        if head.headerFields[.accessControlAllowOrigin] == nil {
            head.headerFields[.accessControlAllowOrigin] = allowedOrigin
            context.write(wrapOutboundOut(.head(head)), promise: promise)
        } else {
            context.write(data, promise: promise)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        check?.cancel()
        check = nil
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        check?.cancel()
        check = nil
    }

    /// The time by which the body must have reached what has arrived so far (grace, then the least rate).
    private func deadline(_ start: NIODeadline) -> NIODeadline {
        start + grace + .nanoseconds(Int64(received) * 1_000_000_000 / Int64(minimumRate))
    }

    private func schedule(_ context: ChannelHandlerContext, at time: NIODeadline) {
        check?.cancel()
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        check = context.eventLoop.scheduleTask(deadline: time) {
            let (handler, context) = bound.value
            handler.checkBody(context)
        }
    }

    private func checkBody(_ context: ChannelHandlerContext) {
        check = nil
        guard let started, !timedOut else { return }
        let due = deadline(started)
        if due > .now() {
            schedule(context, at: due)
            return
        }
        timedOut = true
        let seconds = Double(grace.nanoseconds) / 1e9
        let failure = SyncFailure(.badRequest, "the request's body came too slowly: \(received) bytes arrived, and a body must arrive at \(minimumRate) bytes per second after its first \(seconds.formatted()) s. Nothing was applied; the connection is closed")
        guard !answering else {
            context.close(promise: nil)
            return
        }
        // The route, whose reading of the body now fails, logs the request as this 408, not as a broken body.
        slowBodies.mark(ObjectIdentifier(context.channel), failure.message)
        let body = ByteBuffer(bytes: failure.json.jsonBytes)
        let head = HTTPResponse(status: .requestTimeout, headerFields: [
            .contentType: "application/json", .contentLength: String(body.readableBytes), .connection: "close",
            .accessControlAllowOrigin: allowedOrigin,
        ])
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(body)), promise: nil)
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in bound.value.close(promise: nil) }
    }
}

extension Double {
    /// `0.5`, `30`: a number of seconds as a person writes it.
    fileprivate func formatted() -> String { self == rounded() ? String(Int(self)) : String(self) }
}

/// The connections ``ConnectionGuardHandler`` cut off for a body that came too slowly, and why: the route whose
/// reading of that body then fails says so (its log line is that 408, not a body broken by its client).
final class SlowBodies: Sendable {
    private let cut = Mutex<[ObjectIdentifier: String]>([:])

    func mark(_ connection: ObjectIdentifier, _ message: String) {
        cut.withLock { cut in
            // A mark no route took (the connection's request was not reading its body) goes with the others, in time.
            if cut.count >= 1_024 { cut.removeAll() }
            cut[connection] = message
        }
    }

    /// Why the connection was cut off, once (`nil`: it was not).
    func take(_ connection: ObjectIdentifier) -> String? { cut.withLock { $0.removeValue(forKey: connection) } }
}
