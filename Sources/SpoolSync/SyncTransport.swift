/// How a ``SyncClient`` reaches a sync server: one `POST /api/sync` body out, the status and body back.
///
/// The client knows the protocol, not HTTP: the CLI plugs in a URLSession transport (which also carries the
/// key, so it never enters the body), tests plug in one that calls a ``SyncService`` in process.
public protocol SyncTransport: Sendable {
    /// Sends one request's body and returns the answer's HTTP status and body. Throws when no answer came
    /// (the network is down, the server unreachable, the connection cut): the client then keeps its queue.
    func send(_ body: [UInt8]) async throws -> (status: Int, body: [UInt8])
}
