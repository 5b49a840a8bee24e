import Dispatch
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import SpoolHistory
import SpoolModel
import SpoolServer
import SpoolSync
import SpoolTestSupport

/// A server over a fresh history in a temporary data folder, with every log line it writes kept.
struct Harness {
    static let key = "test-key-6f1d2c9a8b7e4f30"
    /// A valid request (once authenticated): a first sync with nothing to send.
    static let emptySync = #"{"deviceId":"laptop","lastSyncTime":0,"changes":[],"deletions":[]}"#

    let dataDir = Fixtures.temporaryDirectory()
    let store: InventoryStore
    let service: SyncService
    let logs = LogCollector()
    var configuration: SpoolServer.ServerConfiguration

    init(maxBodyBytes: Int = SpoolServer.ServerConfiguration.defaultMaxBodyBytes, allowedOrigin: String = "*",
         batchLimit: Int = SyncConfiguration().batchLimit, idleTimeout: Duration = SpoolServer.ServerConfiguration.defaultIdleTimeout) throws {
        store = try InventoryStore(dataFolder: dataDir)
        service = SyncService(store: store, configuration: SyncConfiguration(batchLimit: batchLimit))
        configuration = .init(apiKey: Self.key, port: 0, allowedOrigin: allowedOrigin, maxBodyBytes: maxBodyBytes, idleTimeout: idleTimeout)
    }

    func app() -> some ApplicationProtocol {
        buildApplication(configuration: configuration, service: service, logger: logs.logger)
    }

    /// Commits two spools on main, so that a test can show main did not move.
    func seed() async throws {
        let spools = ["PLA-1", "PETG-2"].map { serial in
            Spool(normalizedFields: ["serial": .string(serial), "brand": .string("Prusament"), "weightRemaining": .int(640),
                                     "lastUpdated": .int(1_717_200_000_000)])
        }
        _ = try await store.importSpools(spools, mode: .unknownBase(device: "seed"), source: "test")
    }
}

extension TestClientProtocol {
    /// `POST /api/sync` with `body`, the key in the Authorization header when `bearer` is given.
    func sync(_ body: some Collection<UInt8>, bearer: String? = nil, headers: HTTPFields = [:]) async throws -> TestResponse {
        var headers = headers
        if let bearer { headers[.authorization] = "Bearer \(bearer)" }
        headers[.contentType] = "application/json"
        return try await execute(uri: "/api/sync", method: .post, headers: headers, body: ByteBuffer(bytes: Array(body)))
    }

    func sync(_ text: String, bearer: String? = nil, headers: HTTPFields = [:]) async throws -> TestResponse {
        try await sync(Array(text.utf8), bearer: bearer, headers: headers)
    }
}

extension TestResponse {
    /// The body as JSON (`null` when it is not JSON).
    var json: JSONValue { (try? JSONParser.parse(Array(body.readableBytesView))) ?? .null }
    var error: String? { json.objectValue?["error"]?.stringValue }
    var detailPaths: [String] { json.objectValue?["details"]?.arrayValue?.compactMap { $0.objectValue?["path"]?.stringValue } ?? [] }
}

/// Keeps every log line (message and metadata, as text), at every level.
final class LogCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []

    var logger: Logger {
        var logger = Logger(label: "filamentdb.test") { _ in Handler(collector: self) }
        logger.logLevel = .trace
        return logger
    }

    var all: [String] { lock.withLock { lines } }

    fileprivate func append(_ line: String) { lock.withLock { lines.append(line) } }

    private struct Handler: LogHandler {
        let collector: LogCollector
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.MetadataValue? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let all = metadata.merging(event.metadata ?? [:]) { $1 }
            let fields = all.sorted { $0.key < $1.key }.map { "\($0.key)=" + LogFormat.value($0.value) }.joined(separator: " ")
            collector.append("\(event.level) \(event.message) \(fields)" + (event.error.map { " error: \($0)" } ?? ""))
        }
    }
}

/// Runs blocking work (a socket, a child process) on a thread of its own, not on Swift's cooperative pool, which
/// the server's handlers need (2 threads on a 2-core machine).
func offTheCooperativePool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(with: Result { try body() }) }
    }
}
