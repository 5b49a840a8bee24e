import Hummingbird
import Logging
import SpoolModel

/// One structured log line per request, when it is answered: method, path (without the query), status, duration
/// in milliseconds, and what the route noted (device, counts, the failure's message). Headers and bodies are
/// never logged, nor is the key where a client put it in the path or its device id. What a request chose (its
/// path, its device id) is written with its control characters escaped: a device id holding a newline cannot
/// forge a log line, nor one holding an escape sequence drive the terminal that reads the log; and in quotes when
/// it holds a space or a `=` (``field(_:)``): it cannot read as another field either.
struct RequestLogMiddleware: RouterMiddleware {
    typealias Context = ServerRequestContext
    let key: APIKey

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
        for (name, value) in metadata { if case .string(let s) = value { metadata[name] = .string(Self.field(printableText(key.redacted(s)))) } }
        let path = printableText(key.redacted(request.uri.path))
        metadata["method"] = .string(request.method.rawValue)
        metadata["path"] = .string(Self.field(path))
        metadata["status"] = .stringConvertible(status)
        metadata["duration_ms"] = .string(String(Double(Int(ms * 10)) / 10))
        // A 5xx is the server's trouble (a full disk), not the request's: a warning, seen by whoever filters for them.
        context.logger.log(level: status >= 500 ? .warning : .info, "\(request.method.rawValue) \(path) \(status)", metadata: metadata)
    }

    /// A value as logfmt writes one: in quotes (its `"` and `\` escaped) when it holds a space, a `=` or a quote, or
    /// nothing, so that what a request chose cannot read as more fields: a device id of `x status=500` made a line
    /// that a parser of `key=value` pairs read as status 500 (found by an attacker's probe).
    static func field(_ value: String) -> String {
        guard value.isEmpty || value.utf8.contains(where: { $0 == 0x20 || $0 == 0x3D || $0 == 0x22 }) else { return value }
        var out = "\""
        for c in value.unicodeScalars {
            if c == "\"" || c == "\\" { out.unicodeScalars.append("\\") }
            out.unicodeScalars.append(c)
        }
        return out + "\""
    }
}
