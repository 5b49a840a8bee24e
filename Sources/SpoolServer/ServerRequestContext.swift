import Foundation
import Hummingbird
import Logging
import NIOCore

/// The context of one request: Hummingbird's core, and the notes the routes leave for the request's log line.
struct ServerRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    /// Shared by every copy of the context (middlewares and the route each get their own copy).
    let notes = RequestNotes()
    /// The request's connection.
    let channel: any Channel
    /// The connection's address. Read only for the requests counted against ``BodyBudget`` (no key in a header),
    /// whose client is ``TrustedProxies/client(peer:forwardedFor:)``.
    var peer: SocketAddress? { channel.remoteAddress }

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}

/// What a route learned about a request (its device, how much it carried, why it failed), for the one log line
/// the request gets when it is answered. Never the key.
final class RequestNotes: @unchecked Sendable {
    private let lock = NSLock()
    private var metadata: Logger.Metadata = [:]

    subscript(key: String) -> Logger.MetadataValue? {
        get { lock.withLock { metadata[key] } }
        set { lock.withLock { metadata[key] = newValue } }
    }

    var all: Logger.Metadata { lock.withLock { metadata } }
}
