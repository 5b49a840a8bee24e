import NIOCore
import NIOHTTP1
import NIOHTTPTypesHTTP1

/// An HTTP/1.0 request without `Connection: keep-alive` asks for its connection to be closed after its answer
/// (RFC 9112, 9.3). Hummingbird's pipeline turns the request into an `HTTPRequest`, which has no version, and
/// closes after an answer only when the request says `Connection: close`: an HTTP/1.0 client kept its
/// connection open until the idle timeout (`printf 'GET /health HTTP/1.0\r\n\r\n' | nc HOST PORT`, a health
/// check's usual shape, waited a minute). Put before that conversion, this says `Connection: close` for such a
/// request, so its connection is closed once it is answered.
final class HTTP10CloseHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(var head) = unwrapInboundIn(data), head.version.major == 1, head.version.minor == 0, !head.isKeepAlive else {
            context.fireChannelRead(data)
            return
        }
        head.headers.replaceOrAdd(name: "connection", value: "close")
        context.fireChannelRead(wrapInboundOut(.head(head)))
    }

    /// Puts one before the pipeline's conversion of HTTP/1 parts (``ConnectionGuardHandler`` calls it when it is
    /// added, after that conversion: Hummingbird adds a server's own handlers there).
    static func add(to pipeline: ChannelPipeline.SynchronousOperations) {
        guard let codec = try? pipeline.handler(type: HTTP1ToHTTPServerCodec.self) else { return }
        try? pipeline.addHandler(HTTP10CloseHandler(), position: .before(codec))
    }
}
