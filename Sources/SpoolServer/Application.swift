import Hummingbird
import Logging
import SpoolSync

/// The sync server: `POST` and `GET /api/sync` (authenticated), `GET /health`, `GET /openapi.json`, CORS on every
/// answer. Run it with `runService()` (graceful shutdown on SIGTERM and SIGINT: requests in flight finish), or
/// test it with HummingbirdTesting's `app.test(.router)`.
///
/// `onListening` is given the port once the server listens (the system's choice when the configuration asks for
/// port 0).
public func buildApplication(configuration: ServerConfiguration, service: SyncService, logger: Logger,
                             onListening: @escaping @Sendable (_ port: Int) async -> Void = { _ in }) -> some ApplicationProtocol {
    // A history that cannot be written to its packs (a full disk) is said once, and so is its recovery.
    service.onPublishReport { failure in
        if let failure {
            logger.warning("cannot write the history's packs and branches; requests are still made durable by the journal while it has room, and other programs see them once this is fixed", metadata: ["error": "\(failure)"])
        } else {
            logger.notice("the history's packs and branches are written again")
        }
    }
    let router = Router(context: ServerRequestContext.self)
    // Outermost first: the log sees the final status, and CORS headers go on every answer, errors included.
    router.add(middleware: RequestLogMiddleware(key: APIKey(configuration.apiKey), proxies: configuration.trustedProxies))
    router.add(middleware: CORSHeadersMiddleware(allowedOrigin: configuration.allowedOrigin))
    router.add(middleware: ErrorResponseMiddleware())

    let sync = SyncRoutes(service: service, key: APIKey(configuration.apiKey), maxBodyBytes: configuration.maxBodyBytes,
                          unauthenticated: BodyBudget(bytes: configuration.unauthenticatedBodyBytes, perClient: configuration.unauthenticatedBodyBytesPerClient),
                          proxies: configuration.trustedProxies)
    router.post("/api/sync", use: sync.post)
    router.get("/api/sync", use: sync.summary)
    let health = Array(#"{"status":"ok"}"#.utf8)
    router.get("/health") { _, _ in Response.json(health) }
    // A health check that asks with HEAD (`wget --spider`, the usual one where an image has no curl): GET's
    // status and headers, no body.
    router.head("/health") { _, _ in
        Response(status: .ok, headers: [.contentType: "application/json", .contentLength: String(health.count)], body: .init())
    }

    let document = OpenAPIDocument.bytes
    router.get("/openapi.json") { _, _ in Response.json(document) }

    return Application(
        router: router,
        server: .http1OnEventLoops(configuration: .init(
            additionalChannelHandlers: [ConnectionGuardHandler(grace: configuration.bodyGrace, window: configuration.bodyRateWindow,
                                                               minimumRate: configuration.bodyMinimumRate,
                                                               allowedOrigin: configuration.allowedOrigin)],
            idleTimeout: .nanoseconds(Int64(configuration.idleTimeout / .nanoseconds(1))))),
        configuration: .init(address: .hostname(configuration.host, port: configuration.port)),
        onServerRunning: { channel in await onListening(channel.localAddress?.port ?? configuration.port) },
        logger: logger
    )
}
