/// How a ``SyncClient`` reaches a sync server: one `POST /api/sync` body out, the status and body back.
///
/// The client knows the protocol, not HTTP: the CLI plugs in a URLSession transport (which also carries the
/// key, so it never enters the body), tests plug in one that calls a ``SyncService`` in process.
public protocol SyncTransport: Sendable {
    /// Sends one request's body and returns the answer's HTTP status and body. Throws when no answer came
    /// (the network is down, the server unreachable, the connection cut): the client then keeps its queue.
    func send(_ body: [UInt8]) async throws -> (status: Int, body: [UInt8])

    /// The same, reading no more than `answerLimit` bytes of a successful answer (``SyncAnswerTooLarge`` past
    /// them): what is left of the run's ``SyncClient/maxAnswerBytes``. A transport over a network reads only
    /// as fast as it takes the bytes, so that its memory stays within the limit whatever the server sends.
    func send(_ body: [UInt8], answerLimit: Int) async throws -> (status: Int, body: [UInt8])
}

extension SyncTransport {
    /// For transports in memory (tests): the answer is whole already; only its size is checked.
    public func send(_ body: [UInt8], answerLimit: Int) async throws -> (status: Int, body: [UInt8]) {
        let answer = try await send(body)
        if (200..<300).contains(answer.status), answer.body.count > answerLimit { throw SyncAnswerTooLarge(limit: answerLimit, declared: answer.body.count) }
        return answer
    }
}

/// What a transport throws when the server was reached but gave no usable answer (a redirect, a connection cut
/// in the middle of the answer, silence after the headers): said as such, not as "cannot reach".
public struct SyncTransportFailure: Error, Sendable, CustomStringConvertible {
    public var message: String
    /// Whether the server answered at all (its status line came).
    public var reached: Bool

    public init(_ message: String, reached: Bool) {
        self.message = message
        self.reached = reached
    }

    public var description: String { message }
}

/// What a transport throws when the server's answer is larger than the client takes: it stops reading at the
/// limit (or at once, from the answer's `Content-Length`), so a server that sends without end costs the client no
/// more memory than the limit.
public struct SyncAnswerTooLarge: Error, Sendable, CustomStringConvertible {
    /// The limit, in bytes (what was left of the run's).
    public var limit: Int
    /// The size the answer declared, when it did.
    public var declared: Int?

    public init(limit: Int, declared: Int?) {
        self.limit = limit
        self.declared = declared
    }

    public var description: String {
        let size = declared.map { "an answer of \($0) bytes" } ?? "an answer still coming when the client stopped reading"
        return "\(size), over the \(limit) bytes left to read"
    }
}
