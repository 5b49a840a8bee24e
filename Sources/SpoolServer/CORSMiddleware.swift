import Hummingbird

/// Cross-origin access for the web app served from another origin (a hosted build, the mobile app): a preflight
/// (`OPTIONS`, any path) is answered 204 at once, and every other answer, errors included, carries
/// `Access-Control-Allow-Origin`, or the browser shows "Failed to fetch" instead of the status.
///
/// Hummingbird's `CORSMiddleware` acts only on requests that carry an `Origin`; this one answers every request
/// alike, as SYNC-PROTOCOL.md promises, so what curl sees is what the browser sees.
struct CORSHeadersMiddleware: RouterMiddleware {
    typealias Context = ServerRequestContext

    let allowedOrigin: String
    /// How long a browser may reuse a preflight's answer, in seconds.
    static let maxAge = 86_400

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if request.method == .options {
            return Response(status: .noContent, headers: [
                .accessControlAllowOrigin: allowedOrigin,
                .accessControlAllowMethods: "GET, POST, OPTIONS",
                .accessControlAllowHeaders: "content-type, authorization",
                .accessControlMaxAge: String(Self.maxAge),
            ])
        }
        var response = try await next(request, context)
        response.headers[.accessControlAllowOrigin] = allowedOrigin
        return response
    }
}
