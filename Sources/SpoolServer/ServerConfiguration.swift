/// How a sync server listens and whom it answers. The key is checked by the caller with ``APIKeyPolicy`` first
/// (`filamentdb serve` refuses to start with a weak one); an empty key authenticates no request.
public struct ServerConfiguration: Sendable {
    /// The address to listen on: the loopback by default, so that exposing the inventory is a decision.
    public var host: String
    /// The port; 0 asks the system for any free one (the real port is given to `onListening`).
    public var port: Int
    /// The shared secret every request must carry (`Authorization: Bearer <key>` or the body's `apiKey`).
    public var apiKey: String
    /// The `Access-Control-Allow-Origin` of every answer: `*` lets the web app be served from any origin (no
    /// cookies are used, so the key is the only credential).
    public var allowedOrigin: String
    /// The largest body read; a larger one gets 413 from its `Content-Length`, before it is read.
    public var maxBodyBytes: Int
    /// How many bytes the bodies of requests not authenticated by their `Authorization` header may hold in memory
    /// together while they are read (their key, if any, is in the body: the web app's): past it, such a request
    /// gets 503 at once. Without it, anyone who reaches the port holds `maxBodyBytes` of memory per connection
    /// (10 connections sending 31 MiB and holding back their last byte took 380 MB). Four bodies of the largest size
    /// by default; a request whose header carries the key is not counted.
    public var unauthenticatedBodyBytes: Int
    /// How much of ``unauthenticatedBodyBytes`` the requests from one client address may hold together: one body of
    /// the largest size by default. (Behind a reverse proxy every client has the proxy's address, and shares this,
    /// unless the proxy is in ``trustedProxies``.)
    public var unauthenticatedBodyBytesPerClient: Int
    /// The reverse proxies whose `X-Forwarded-For` names the client (for its part of the budget); none by default.
    public var trustedProxies: TrustedProxies
    /// How long a connection may stay open with no request in progress (before its first one, or between two)
    /// before the server closes it: anyone who can reach the port can open connections, key or not, and each
    /// open one holds a file descriptor. Keep-alive clients reconnect (nginx closes after 75 s).
    public var idleTimeout: Duration
    /// How long a request's body may take before ``bodyMinimumRate`` applies: from then on, each
    /// ``bodyRateWindow`` must bring that rate's worth of the body, or the request gets 408 and its connection is
    /// closed (``ConnectionGuardHandler``). A body of 32 MiB at the least rate takes about 35 minutes.
    public var bodyGrace: Duration
    /// How often, after ``bodyGrace``, the body's progress is checked.
    public var bodyRateWindow: Duration
    /// The least rate, in bytes per second, at which a request's body must arrive in each window after ``bodyGrace``.
    public var bodyMinimumRate: Int

    public static let defaultHost = "127.0.0.1"
    public static let defaultPort = 8080
    public static let defaultMaxBodyBytes = 32 << 20
    public static let defaultIdleTimeout = Duration.seconds(60)
    public static let defaultBodyGrace = Duration.seconds(30)
    public static let defaultBodyRateWindow = Duration.seconds(10)
    public static let defaultBodyMinimumRate = 16 << 10

    public init(apiKey: String, host: String = defaultHost, port: Int = defaultPort, allowedOrigin: String = "*",
                maxBodyBytes: Int = defaultMaxBodyBytes, unauthenticatedBodyBytes: Int? = nil,
                unauthenticatedBodyBytesPerClient: Int? = nil, idleTimeout: Duration = defaultIdleTimeout,
                bodyGrace: Duration = defaultBodyGrace, bodyRateWindow: Duration = defaultBodyRateWindow,
                bodyMinimumRate: Int = defaultBodyMinimumRate, trustedProxies: TrustedProxies = TrustedProxies()) {
        self.apiKey = apiKey
        self.host = host
        self.port = port
        self.allowedOrigin = allowedOrigin
        self.maxBodyBytes = maxBodyBytes
        self.unauthenticatedBodyBytes = unauthenticatedBodyBytes ?? 4 * maxBodyBytes
        self.unauthenticatedBodyBytesPerClient = unauthenticatedBodyBytesPerClient ?? maxBodyBytes
        self.idleTimeout = idleTimeout
        self.bodyGrace = bodyGrace
        self.bodyRateWindow = bodyRateWindow
        self.bodyMinimumRate = bodyMinimumRate
        self.trustedProxies = trustedProxies
    }
}
