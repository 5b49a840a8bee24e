import Hummingbird
import Logging
import SpoolModel
import SpoolSync

/// Every HTTP status the server answers a failure with is decided in this file.
extension SyncFailure.Kind {
    var status: HTTPResponse.Status {
        switch self {
        case .unauthorized: .unauthorized
        case .badRequest: .badRequest
        case .tooLarge: .contentTooLarge
        case .unavailable: .serviceUnavailable
        }
    }
}

/// A request body that came too slowly: ``ConnectionGuardHandler`` answers it 408 itself, below the router, and
/// closes the connection; the route still reading the body gets this error from it, for the request's log line.
struct SlowBodyError: Error {
    static let status = HTTPResponse.Status.requestTimeout
    let message: String
    var failure: SyncFailure { SyncFailure(.badRequest, message) }
}

extension SyncFailure {
    /// `{"success": false, "error", "details"?}` with the kind's status.
    var response: Response {
        var response = Response.json(json.jsonBytes, status: kind.status)
        // RFC 9110: a 401 names the scheme that would be accepted.
        if kind == .unauthorized { response.headers[.wwwAuthenticate] = "Bearer" }
        return response
    }
}

/// Turns whatever a route throws into a JSON answer a client can act on: a ``SyncFailure`` with its kind's
/// status; Hummingbird's own errors (a path or method it has no route for) with theirs; anything else, which
/// is the server's fault and never the input's, 503 with the error in the log.
struct ErrorResponseMiddleware: RouterMiddleware {
    typealias Context = ServerRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let failure as SyncFailure {
            return answer(failure, context)
        } catch let slow as SlowBodyError {
            // (Its client has the guard's answer already: this one is for the log, and is not written.)
            return answer(slow.failure, status: SlowBodyError.status, context)
        } catch let error as any HTTPResponseError where error.status == .notFound {
            context.notes["error"] = "no route"
            return .notFound("no route for \(request.method) \(request.uri.path): this server answers POST and GET /api/sync, GET /health and GET /openapi.json")
        } catch let error as any HTTPResponseError where error.status.kind == .clientError {
            // Kept as Hummingbird decided it (its own 4xx), in the API's error shape.
            return answer(SyncFailure(.badRequest, (error as? HTTPError)?.body ?? error.status.reasonPhrase), status: error.status, context)
        } catch {
            context.logger.error("unexpected error answering \(request.method) \(request.uri.path)", metadata: ["error": "\(String(reflecting: error))"])
            return answer(SyncFailure(.unavailable, "the server could not answer (an internal error, logged): send the request again; if it fails again, tell the server's administrator"), context)
        }
    }

    private func answer(_ failure: SyncFailure, status: HTTPResponse.Status? = nil, _ context: Context) -> Response {
        context.notes["error"] = .string(failure.message)
        var response = failure.response
        if let status { response.status = status }
        return response
    }
}

extension Response {
    /// 404 in the API's error shape: `{"success": false, "error": message}`.
    static func notFound(_ message: String) -> Response {
        var response = SyncFailure(.badRequest, message).response
        response.status = .notFound
        return response
    }

    /// A JSON answer (`Content-Type: application/json`).
    static func json(_ bytes: [UInt8], status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    static func json(_ text: String, status: HTTPResponse.Status = .ok) -> Response { json(Array(text.utf8), status: status) }
}
