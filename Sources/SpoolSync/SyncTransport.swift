/// How a ``SyncClient`` reaches a sync server: one `POST /api/sync` body out, the status and body back.
///
/// The client knows the protocol, not HTTP: the CLI plugs in a URLSession transport (which also carries the
/// key, so it never enters the body), tests plug in one that calls a ``SyncService`` in process.
public protocol SyncTransport: Sendable {
    /// Sends one request's body and returns the answer's HTTP status and body. Throws when no answer came
    /// (the network is down, the server unreachable, the connection cut): the client then keeps its queue.
    func send(_ body: [UInt8]) async throws -> (status: Int, body: [UInt8])
}

/// What a transport throws when the server's answer is larger than the client takes: it stops reading at the
/// limit (or at once, from the answer's `Content-Length`), so a server that sends without end costs the client no
/// more memory than the limit.
public struct SyncAnswerTooLarge: Error, Sendable, CustomStringConvertible {
    /// The limit, in bytes.
    public var limit: Int
    /// The size the answer declared, when it did.
    public var declared: Int?

    public init(limit: Int, declared: Int?) {
        self.limit = limit
        self.declared = declared
    }

    public var description: String {
        let size = declared.map { "its answer of \($0) bytes" } ?? "its answer (still coming when the client stopped reading)"
        return "\(size) is over this client's limit of \(limit >> 20) MB"
    }
}
