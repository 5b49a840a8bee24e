import NIOCore
import NIOHTTP1
import NIOHTTPTypesHTTP1

/// A request that asks for its connection to be closed after its answer has it closed (RFC 9112, 9.3 and 9.6):
/// one whose `Connection` header has the `close` option, in any case and among other options, in any of its
/// lines; an HTTP/1.0 one without the `keep-alive` option; and an HTTP/1.0 one with `Transfer-Encoding`, a
/// framing HTTP/1.0 does not have (6.1: whatever sits between may have read its body otherwise).
///
/// Hummingbird's pipeline turns the request into an `HTTPRequest`, which has no version, and closes after an
/// answer only when the request's `Connection` is exactly `close`: an HTTP/1.0 client kept its connection open
/// until the idle timeout (`printf 'GET /health HTTP/1.0\r\n\r\n' | nc HOST PORT`, a health check's usual shape,
/// waited a minute), and so did `Connection: Close` or `close, foo`. Put before that conversion, this makes such a
/// request's header exactly `Connection: close`.
final class ConnectionCloseHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(var head) = unwrapInboundIn(data), Self.closes(head) else {
            context.fireChannelRead(data)
            return
        }
        head.headers.replaceOrAdd(name: "connection", value: "close")
        context.fireChannelRead(wrapInboundOut(.head(head)))
    }

    /// Whether the connection is to be closed after the answer to `head`.
    static func closes(_ head: HTTPRequestHead) -> Bool {
        // (NIO's `canonicalForm`: every line's comma-separated options, trimmed.)
        let options = head.headers[canonicalForm: "connection"]
        func has(_ option: String) -> Bool { options.contains { $0.lowercased() == option } }
        if has("close") { return true }
        guard head.version.major == 1, head.version.minor == 0 else { return false }
        return !has("keep-alive") || head.headers.contains(name: "transfer-encoding")
    }

    /// Puts one before the pipeline's conversion of HTTP/1 parts (``ConnectionGuardHandler`` calls it when it is
    /// added, after that conversion: Hummingbird adds a server's own handlers there).
    static func add(to pipeline: ChannelPipeline.SynchronousOperations) {
        guard let codec = try? pipeline.handler(type: HTTP1ToHTTPServerCodec.self) else { return }
        try? pipeline.addHandler(ConnectionCloseHandler(), position: .before(codec))
    }
}
