import Hummingbird
import SpoolModel
import SpoolSync
import Synchronization

/// `POST /api/sync` and `GET /api/sync` (SYNC-PROTOCOL.md): authentication first, then the size limit, then the
/// request's checks, then the service. Every refusal is a thrown ``SyncFailure``, answered by
/// ``ErrorResponseMiddleware``.
struct SyncRoutes: Sendable {
    let service: SyncService
    let key: APIKey
    let maxBodyBytes: Int
    /// What the bodies of requests without a right `Authorization` header may hold together while read.
    let unauthenticated: BodyBudget
    /// Whose `X-Forwarded-For` says which client such a request is from.
    var proxies = TrustedProxies()

    func post(_ request: Request, context: ServerRequestContext) async throws -> Response {
        // A wrong header is refused before the body is read; the body can only add a key, not excuse one.
        let header = APIKey.bearer(in: request.headers)
        if header != .absent { try key.authenticate(header: header, body: .absent) }

        // A body read before its key is known counts against a budget all such bodies share, until the key is checked.
        var held = 0
        let client = header == .absent ? proxies.client(peer: context.peer, forwardedFor: request.headers[values: .xForwardedFor]) : ""
        defer { unauthenticated.give(held, client: client) }
        let bytes = try await body(of: request, counted: header == .absent ? { n throws(SyncFailure) in
            if let refusal = unauthenticated.take(n, client: client) { throw SyncFailure(.unavailable, unauthenticated.message(refusal)) }
            held += n
        } : nil)
        // A large body is parsed where it is applied (``lane(bodyBytes:request:)``), not on the connection's loop.
        if bytes.count >= Self.offLoopBytes {
            return try await withTaskExecutorPreference(LongRequests.executor) {
                try await answer(bytes, header: header, context: context) { unauthenticated.give(held, client: client); held = 0 }
            }
        }
        return try await answer(bytes, header: header, context: context) { unauthenticated.give(held, client: client); held = 0 }
    }

    /// Bodies of this many bytes or more are answered off the connection's event loop (a sync of ten spools has 5 KB),
    /// and so are requests of this many changes and deletions or more.
    static let offLoopBytes = 256 << 10
    static let offLoopEntries = 500

    /// Where a request is applied and its answer encoded: `nil`, on its connection's event loop
    /// (``EventLoopAffineHTTP1Channel``), only for a request with a cursor and few entries. A large body (an upload's
    /// batch: seconds for 50,000 spools) or many entries in a small one (40,000 deletions by id are 229 KB) would hold
    /// up every other connection on that loop, a health check's too: they go to ``LongRequests``. One without a cursor
    /// (a first sync, the web app's every sync) may be answered the whole inventory (a device new to this server, a
    /// `lastSyncTime` it never answered: 100,000 spools took 2 s cold, 0.2 s warm): it goes to Swift's pool, where
    /// every request ran before.
    static func lane(bodyBytes: Int, request: SyncRequest) -> (any TaskExecutor)? {
        if bodyBytes >= offLoopBytes || request.changes.count + request.deletions.count >= offLoopEntries { return LongRequests.executor }
        return request.cursor == nil ? globalConcurrentExecutor : nil
    }

    /// The rest of ``post(_:context:)``, once the body is read: `keyChecked` is called once the key is.
    private func answer(_ bytes: [UInt8], header: APIKey.Presented, context: ServerRequestContext, keyChecked: () -> Void) async throws -> Response {
        let parsed = try? JSONParser.parse(bytes, elementsInParallelUnder: "changes")
        try key.authenticate(header: header, body: APIKey.inBody(parsed))
        keyChecked()

        // A body that is not JSON is parsed again only to describe where it breaks.
        let syncRequest = try parsed.map(SyncRequest.init(checking:)) ?? SyncRequest.parse(bytes)
        context.notes["deviceId"] = .string(syncRequest.deviceId)
        context.notes["changes"] = .stringConvertible(syncRequest.changes.count)
        context.notes["deletions"] = .stringConvertible(syncRequest.deletions.count)
        // A device named with the key (logged as `<key>`) would write it where anyone who reads the history sees
        // it: its branch's name, its commits' authors and messages.
        if key.redacted(syncRequest.deviceId) != syncRequest.deviceId {
            let message = "holds the server's key, which would be written into the history (its branch and commits): choose another device id"
            throw SyncFailure(.badRequest, "deviceId: " + message, details: [.init(path: "deviceId", message: message)])
        }

        let apply = { () async throws(SyncFailure) -> (SyncResponse, [UInt8]) in
            let answer = try await service.sync(syncRequest)
            return (answer, answer.jsonBytes)
        }
        let lane = Self.lane(bodyBytes: bytes.count, request: syncRequest)
        let (answer, json) = if let lane { try await withTaskExecutorPreference(lane, operation: apply) } else { try await apply() }
        // Counted as encoded: `changes` would decode every spool of the answer again (a third of a first sync's time).
        context.notes["sentChanges"] = .stringConvertible(answer.encodedChanges.count)
        context.notes["sentDeletions"] = .stringConvertible(answer.deletions.count)
        context.notes["conflicts"] = .stringConvertible(answer.conflicts.count)
        return .json(json)
    }

    /// The summary takes its key from the header only: a GET has no body.
    func summary(_ request: Request, context: ServerRequestContext) async throws -> Response {
        let header = APIKey.bearer(in: request.headers)
        if header == .absent {
            throw SyncFailure(.unauthorized, "no key: GET /api/sync takes the server's key as \"Authorization: Bearer <key>\"")
        }
        try key.authenticate(header: header, body: .absent)
        return .json(try await service.summary().json.jsonBytes)
    }

    /// The body, refused with 413 as soon as it is known to be over the limit: from its `Content-Length` before a
    /// byte is read, or while it streams in without one.
    private func body(of request: Request, counted: ((Int) throws(SyncFailure) -> Void)?) async throws -> [UInt8] {
        let declared = request.headers[.contentLength].flatMap { Int($0) }
        if let declared, declared > maxBodyBytes { throw tooLarge(declared) }
        var bytes: [UInt8] = []
        // What a client declares is not taken on trust beyond a first megabyte.
        bytes.reserveCapacity(min(declared ?? 0, 1 << 20))
        do {
            for try await chunk in request.body {
                if bytes.count + chunk.readableBytes > maxBodyBytes { throw tooLarge(nil) }
                try counted?(chunk.readableBytes)
                bytes.append(contentsOf: chunk.readableBytesView)
            }
        } catch let failure as SyncFailure {
            throw failure
        } catch let slow as SlowBodyError {
            // Cut off by the connection's guard, which answered 408 itself: logged as that.
            throw slow
        } catch {
            // The body's stream breaks on what the client sent (a chunk's size that is not hexadecimal, a chunk
            // without its CRLF): the client's fault, not the server's, so not a 5xx that says "send it again".
            throw SyncFailure(.badRequest, "the request's body could not be read as HTTP/1.1 sends it (\(error)): nothing was applied")
        }
        return bytes
    }

    private func tooLarge(_ declared: Int?) -> SyncFailure {
        let size = declared.map { "a body of \($0) bytes" } ?? "a body of more than \(maxBodyBytes) bytes"
        return SyncFailure(.tooLarge, "\(size) is over this server's limit of \(maxBodyBytes) bytes: upload the changes in smaller batches")
    }
}

/// Bytes that requests share: taken while a body whose key is not known yet is read, given back once it is. Each
/// client address may hold at most `perClient` of them: one client (four connections sending their bodies at the
/// least rate the connection guard allows) otherwise held them all, and every web app's sync got 503.
final class BodyBudget: Sendable {
    let limit: Int
    let perClient: Int
    private struct Used {
        var total = 0
        var byClient: [String: Int] = [:]
    }
    private let used = Mutex(Used())

    init(bytes: Int, perClient: Int) {
        limit = bytes
        self.perClient = min(perClient, bytes)
    }

    /// Why bytes were not taken.
    enum Refusal {
        case full, client
    }

    /// Takes `n` bytes for `client`; the refusal (nothing taken) when that would pass a limit.
    func take(_ n: Int, client: String) -> Refusal? {
        used.withLock { used in
            let mine = used.byClient[client, default: 0]
            guard mine + n <= perClient else { return .client }
            guard used.total + n <= limit else { return .full }
            used.total += n
            used.byClient[client] = mine + n
            return nil
        }
    }

    func give(_ n: Int, client: String) {
        guard n > 0 else { return }
        used.withLock { used in
            used.total -= n
            let left = used.byClient[client, default: 0] - n
            used.byClient[client] = left > 0 ? left : nil
        }
    }

    func message(_ refusal: Refusal) -> String {
        switch refusal {
        case .full:
            "the server is reading as many bodies from requests without an Authorization header as it holds at once (\(limit >> 20) MiB): send the request again in a moment, or send the key as \"Authorization: Bearer <key>\", whose requests are not held back"
        case .client:
            "this address is sending as many bodies without an Authorization header at once as one address may (\(perClient >> 20) MiB): send the request again once those are read, or send the key as \"Authorization: Bearer <key>\", whose requests are not held back"
        }
    }
}

extension HTTPFields.Element.Name {
    static let xForwardedFor = Self("X-Forwarded-For")!
}
