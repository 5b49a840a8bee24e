import Hummingbird
import Logging
import SpoolModel

/// One structured log line per request, when it is answered: method, path (without the query), status, duration
/// in milliseconds, the client's address (its connection's, or what a trusted proxy says, ``TrustedProxies``), and
/// what the route noted (device, counts, the failure's message). Headers and bodies are
/// never logged, nor is the key where a client put it in the path or its device id. What a request chose (its
/// path, its device id) is written with its control characters escaped: a device id holding a newline cannot
/// forge a log line, nor one holding an escape sequence drive the terminal that reads the log (and the handler
/// writes a value holding a space or a `=` in quotes, ``LogFormat``: it cannot read as another field either).
struct RequestLogMiddleware: RouterMiddleware {
    typealias Context = ServerRequestContext
    let key: APIKey
    var proxies = TrustedProxies()

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        do {
            let response = try await next(request, context)
            log(request, context, status: Int(response.status.code), since: start)
            return response
        } catch {
            log(request, context, status: Int((error as? any HTTPResponseError)?.status.code ?? 500), since: start)
            throw error
        }
    }

    private func log(_ request: Request, _ context: Context, status: Int, since start: ContinuousClock.Instant) {
        let elapsed = ContinuousClock.now - start
        let ms = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
        var metadata = context.notes.all
        for (name, value) in metadata { if case .string(let s) = value { metadata[name] = .string(printableText(key.redacted(s))) } }
        let path = printableText(key.redacted(request.uri.path))
        metadata["method"] = .string(request.method.rawValue)
        metadata["path"] = .string(path)
        metadata["status"] = .stringConvertible(status)
        if let address = proxies.address(peer: context.peer, forwardedFor: request.headers[values: .xForwardedFor]),
           let client = TrustedProxies.identity(address) {
            metadata["client"] = .string(client)
        }
        metadata["duration_ms"] = .string(String(Double(Int(ms * 10)) / 10))
        // A 5xx is the server's trouble (a full disk), not the request's: a warning, seen by whoever filters for them.
        context.logger.log(level: status >= 500 ? .warning : .info, "\(request.method.rawValue) \(path) \(status)", metadata: metadata)
    }
}
