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
    /// The connection's address (its IP, without the port; empty when unknown). Worked out only for the requests
    /// that are counted against ``BodyBudget`` (no key in a header); the client there is ``TrustedProxies/client(peer:forwardedFor:)``.
    var peer: String { channel.remoteAddress?.ipAddress ?? "" }

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
