import AsyncHTTPClient
import Foundation
import Synchronization
import NIOCore
import NIOHTTP1
import SpoolModel
import SpoolSync

/// `POST <server>/api/sync` over HTTP(S) with AsyncHTTPClient. The key goes in the `Authorization` header, never
/// in the body. An answer is read only as fast as it is taken, and no further than the client's limit
/// (``SyncClient/maxAnswerBytes``): the client's memory stays within it whatever the server sends. (URLSession on Linux, used before, reads
/// the socket ahead of its delegate without bound: a server streaming without end took a client past 12 GB
/// before the delegate had counted the limit's 256 MB.)
struct HTTPSyncTransport: SyncTransport {
    let endpoint: URL
    let key: String
    /// Seconds without a byte from the server before a request is given up: a batch of `--batch` spools is
    /// one commit on the server, seconds at most, and an unanswered host should not hold the command long.
    static let timeout: TimeInterval = 60
    /// The longest a whole exchange may take (a slow server sending its answer a byte at a time held the command
    /// for as long as it liked: ``timeout`` counts only silence).
    static let resourceTimeout: TimeInterval = 30 * 60

    /// The endpoint of a server address: `/api/sync` added unless the address already ends with it.
    /// `nil` for an address that is not http(s) with a host.
    static func endpoint(of server: String) -> URL? {
        guard let url = URL(string: server), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https",
              let host = url.host, !host.isEmpty, url.port.map({ (1...65_535).contains($0) }) ?? true else { return nil }
        if url.path.hasSuffix("/api/sync") { return url }
        return url.appendingPathComponent("api").appendingPathComponent("sync")
    }

    /// Whether the key would cross the network unencrypted: plain http to a host other than this machine.
    static func sendsKeyInClear(_ url: URL) -> Bool {
        url.scheme?.lowercased() == "http" && !isThisMachine(url)
    }

    /// Whether `url` names this machine by one of its loopback names.
    static func isThisMachine(_ url: URL) -> Bool {
        ["localhost", "127.0.0.1", "::1", "[::1]"].contains(url.host?.lowercased() ?? "")
    }

    /// The client for `endpoint`, one per proxy for the process (a command makes its requests one after another,
    /// to one server): no redirect followed (the key would go to whatever host the answer names), ``timeout`` of
    /// silence at most, no decompression (a small compressed answer would not be small once read), through the
    /// proxy the environment names (``proxy(for:environment:)``). Never shut down: it lives as long as the command.
    static func client(for endpoint: URL) -> HTTPClient {
        let proxy = Self.proxy(for: endpoint, environment: ProcessInfo.processInfo.environment)
        let key = proxy.map { "\($0.host):\($0.port)" } ?? ""
        return clients.withLock { clients in
            if let known = clients[key] { return known }
            var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow,
                                                         timeout: .init(connect: .seconds(Int64(timeout)), read: .seconds(Int64(timeout))))
            configuration.decompression = .disabled
            configuration.proxy = proxy
            // A refused or failed connection is said at once (the queue stays for the next run), not tried again with a
            // growing back-off until the connect timeout ran out (a minute for a server that is simply down).
            configuration.connectionPool.retryConnectionEstablishment = false
            let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
            clients[key] = client
            return client
        }
    }

    private static let clients = Mutex<[String: HTTPClient]>([:])

    /// The proxy curl would use for `url` (as URLSession did on Linux, through libcurl): `https_proxy` or
    /// `HTTPS_PROXY` for https, `http_proxy` for http (not `HTTP_PROXY`, which a CGI environment lets a request
    /// set), none for this machine's own addresses or a host `no_proxy` names (a name, `.domain`, or `*`).
    static func proxy(for url: URL, environment: [String: String]) -> HTTPClient.Configuration.Proxy? {
        guard let host = url.host?.lowercased(), !isThisMachine(url) else { return nil }
        let noProxy = environment["no_proxy"] ?? environment["NO_PROXY"] ?? ""
        for entry in noProxy.split(separator: ",") {
            var name = entry.trimmingCharacters(in: .whitespaces).lowercased()
            if name == "*" { return nil }
            if name.hasPrefix(".") { name.removeFirst() }
            if !name.isEmpty, host == name || host.hasSuffix("." + name) { return nil }
        }
        let https = url.scheme?.lowercased() == "https"
        guard var value = (https ? environment["https_proxy"] ?? environment["HTTPS_PROXY"] : environment["http_proxy"]), !value.isEmpty else { return nil }
        if !value.contains("://") { value = "http://" + value }
        guard let proxy = URL(string: value), let proxyHost = proxy.host, !proxyHost.isEmpty else { return nil }
        let authorization = proxy.user.map { HTTPClient.Authorization.basic(username: $0.removingPercentEncoding ?? $0, password: (proxy.password ?? "").removingPercentEncoding ?? "") }
        return .server(host: proxyHost, port: proxy.port ?? 1080, authorization: authorization)
    }

    func send(_ body: [UInt8]) async throws -> (status: Int, body: [UInt8]) {
        try await send(body, answerLimit: SyncClient.defaultMaxAnswerBytes)
    }

    /// The most bytes of an error's answer read (its message is printed cut to a few hundred characters).
    static let errorAnswerKept = 64 << 10

    func send(_ body: [UInt8], answerLimit: Int) async throws -> (status: Int, body: [UInt8]) {
        var request = HTTPClientRequest(url: endpoint.absoluteString)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Authorization", value: "Bearer " + key)
        request.body = .bytes(ByteBuffer(bytes: body))
        let deadline = NIODeadline.now() + .seconds(Int64(Self.resourceTimeout))
        let response: HTTPClientResponse
        do {
            response = try await Self.client(for: endpoint).execute(request, deadline: deadline)
        } catch {
            throw SyncTransportFailure(Self.describe(error), reached: Self.answered(error))
        }
        let status = Int(response.status.code)
        let secret = Array(key.utf8)
        if status < 200 {
            // An informational status as the answer (101 Switching Protocols): what answered speaks another
            // protocol, or is no sync server.
            throw SyncTransportFailure("the server answered \(status) \(printableText(response.status.reasonPhrase, limit: 80)) instead of an answer to the request: it is not a sync server, or something on the way speaks another protocol", reached: true)
        }
        if (300..<400).contains(status) {
            // Not followed: the key would go to whatever host the answer names (and a 307 sent the body nowhere).
            // A Location that echoes the key does not get it printed, nor kept as the last error.
            let location = response.headers.first(name: "Location").map {
                " to \(printableText(String(decoding: redacting(secret, in: Array($0.utf8)), as: UTF8.self), limit: 200))"
            } ?? ""
            throw SyncTransportFailure("the server answered \(status), a redirect\(location), which sync does not follow (the key would go with it): give that address with --server if it is the right one", reached: true)
        }
        let ok = (200..<300).contains(status)
        let declared = response.headers.first(name: "Content-Length").flatMap { Int($0) }
        if ok, let declared, declared > answerLimit { throw SyncAnswerTooLarge(limit: answerLimit, declared: declared) }
        // Read as it comes, no further than the limit (``read(_:ok:answerLimit:declared:)``).
        var answer: [UInt8]
        do {
            // The deadline holds for the body too: AsyncHTTPClient keeps it only until the answer's head came, and a
            // server sending a byte a minute is never silent for the read timeout. The body is read in a task of its
            // own, cancelled (and the connection with it) when the deadline comes first.
            answer = try await withThrowingTaskGroup(of: [UInt8]?.self) { group in
                group.addTask { try await Self.read(response.body, ok: ok, answerLimit: answerLimit, declared: declared) }
                // What is left of the exchange's deadline (the head took some of it), not a deadline of its own.
                let left = deadline - NIODeadline.now()
                group.addTask {
                    try await Task.sleep(for: .nanoseconds(max(0, left.nanoseconds)))
                    throw HTTPClientError.deadlineExceeded
                }
                defer { group.cancelAll() }
                while let read = try await group.next() {
                    if let read { return read }
                }
                throw HTTPClientError.deadlineExceeded
            }
        } catch let error as SyncAnswerTooLarge {
            throw error
        } catch let error as BrokenOff {
            // An error's status is known: what came of its answer is enough (a proxy that answers 413 before reading
            // the body, then closes, is a 413 the client halves its batch for).
            if !ok { return (status, redacting(secret, in: error.read)) }
            throw SyncTransportFailure("the answer (HTTP \(status)) broke off after \(error.read.count) bytes: \(Self.describe(error.error))", reached: true)
        } catch {
            throw SyncTransportFailure("the answer (HTTP \(status)) did not come whole: \(Self.describe(error))", reached: true)
        }
        // A server that echoes the key in its error does not get it printed, nor kept in the sync state's last error.
        if !ok { answer = redacting(secret, in: answer) }
        return (status, answer)
    }

    /// An answer's body that broke off: what came of it, and why.
    struct BrokenOff: Error {
        var read: [UInt8]
        var error: any Error
    }

    /// An answer's body as it comes, no further than its limit: leaving the loop ends the request (the rest is never
    /// read). A successful answer (`ok`) past `answerLimit` is refused; of an error's answer the first
    /// ``errorAnswerKept`` bytes are kept.
    static func read(_ body: HTTPClientResponse.Body, ok: Bool, answerLimit: Int, declared: Int?) async throws -> [UInt8] {
        let limit = ok ? answerLimit : errorAnswerKept
        var answer: [UInt8] = []
        // Room for the answer as it says it is, else for a few MB, then at once for all the limit allows: grown by
        // doubling, a 256 MB answer held up to twice that. (Pages of the room not written to are not in memory.)
        answer.reserveCapacity(min(declared ?? (8 << 20), limit))
        do {
            for try await part in body {
                if answer.count + part.readableBytes > limit {
                    if ok { throw SyncAnswerTooLarge(limit: answerLimit, declared: declared) }
                    answer += part.readableBytesView.prefix(limit - answer.count)
                    break
                }
                if answer.count + part.readableBytes > answer.capacity { answer.reserveCapacity(limit) }
                answer += part.readableBytesView
            }
        } catch let error as SyncAnswerTooLarge {
            throw error
        } catch {
            throw BrokenOff(read: answer, error: error)
        }
        return answer
    }

    /// Whether an error that came instead of an answer's head means the server answered (its head broke HTTP's
    /// rules), rather than that it could not be reached.
    static func answered(_ error: any Error) -> Bool {
        if error is HTTPParserError { return true }
        if let e = error as? HTTPClientError, e == .invalidProxyResponse || e == .remoteConnectionClosed { return true }
        return false
    }

    /// A failed exchange in words (the errors' own descriptions name types, fields and the library's source files).
    static func describe(_ error: any Error) -> String {
        if let e = error as? HTTPClientError {
            switch e {
            case .readTimeout, .connectTimeout, .tlsHandshakeTimeout: return "nothing came within \(Int(timeout)) s"
            case .deadlineExceeded: return "the whole answer did not come within \(Int(resourceTimeout / 60)) minutes"
            case .remoteConnectionClosed: return "the server closed the connection before its answer was whole"
            default: break
            }
        }
        if let e = error as? IOError { return String(cString: strerror(e.errnoCode)) }
        if error is HTTPParserError { return "the server's answer is not HTTP/1.1 (\(error))" }
        var text = "\(error)"
        if text.contains("CERTIFICATE_VERIFY_FAILED") { return "the server's TLS certificate is not one this machine trusts (CERTIFICATE_VERIFY_FAILED)" }
        // No build paths: "… at /path/to/file.cc:320".
        while let at = text.range(of: " at /") {
            let end = text[at.upperBound...].firstIndex(where: { $0 == "]" || $0 == ")" || $0 == "," || $0 == "\"" }) ?? text.endIndex
            text.removeSubrange(at.lowerBound..<end)
        }
        return printableText(text, limit: 300)
    }
}
