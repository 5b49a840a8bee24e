import Foundation
import SpoolHistory
import SpoolModel
@testable import SpoolSync
import SpoolTestSupport

/// The server in process, as `filamentdb serve` answers over HTTP: the request's bytes parsed, the service's
/// answer as bytes with its status. Keeps every request that arrived, and fails like a network on demand.
final class ServiceTransport: SyncTransport, @unchecked Sendable {
    let service: SyncService
    private let lock = NSLock()
    private var count = 0
    private var arrived: [SyncRequest] = []
    /// From this request on (1-based), nothing arrives: `send` throws before the server sees it.
    var downFrom: Int?
    /// This request is applied by the server, then its answer is lost: `send` throws.
    var answerLost: Int?
    /// Runs after the server applied request `n` and before its answer returns (a local edit meanwhile).
    var meanwhile: (@Sendable (Int) async throws -> Void)?

    struct NetworkDown: Error, CustomStringConvertible {
        var description: String { "the network is down (test)" }
    }

    init(_ service: SyncService) { self.service = service }

    /// The requests the server received, in order.
    var requests: [SyncRequest] { lock.withLock { arrived } }

    func send(_ body: [UInt8]) async throws -> (status: Int, body: [UInt8]) {
        let n = lock.withLock { count += 1; return count }
        if let downFrom, n >= downFrom { throw NetworkDown() }
        let request: SyncRequest
        do {
            request = try SyncRequest.parse(body)
        } catch {
            return (400, error.json.jsonBytes)
        }
        lock.withLock { arrived.append(request) }
        let response: SyncResponse
        do {
            response = try await service.sync(request)
        } catch {
            let status = switch error.kind {
            case .unauthorized: 401
            case .badRequest: 400
            case .tooLarge: 413
            case .unavailable: 503
            }
            return (status, error.json.jsonBytes)
        }
        try await meanwhile?(n)
        if answerLost == n { throw NetworkDown() }
        return (200, response.jsonBytes)
    }
}

/// A transport whose server always answers `status` with `body`.
struct FixedAnswer: SyncTransport {
    var status: Int
    var body: [UInt8]
    func send(_ body: [UInt8]) async throws -> (status: Int, body: [UInt8]) { (status, self.body) }
}

/// A device of its own: a data folder with its own history, synced by a ``SyncClient``.
struct LocalDevice {
    let name: String
    let folder: String
    let store: InventoryStore

    init(_ name: String) throws {
        self.name = name
        folder = Fixtures.temporaryDirectory() + "/data"
        store = try InventoryStore(dataFolder: folder)
    }

    func client(_ transport: any SyncTransport, clock: ManualClock, batch: Int = SyncClient.defaultBatchSize,
                server: String = "test://server") -> SyncClient {
        SyncClient(store: store, dataFolder: folder, transport: transport, server: server, device: name, batchSize: batch,
                   clock: { clock.read() })
    }

    @discardableResult
    func sync(_ transport: any SyncTransport, clock: ManualClock, batch: Int = SyncClient.defaultBatchSize,
              server: String = "test://server") async throws -> SyncReport {
        try await client(transport, clock: clock, batch: batch, server: server).run()
    }

    /// Imports spools as a file without a device would be.
    func importSpools(_ spools: [Spool]) async throws {
        _ = try await store.importSpools(spools, mode: .unknownBase(device: "import"), source: "\(name).json")
    }

    /// Sets fields of one spool on main, as an edit at `time`.
    func edit(_ serial: String, at time: Int64, _ fields: [String: JSONValue]) async throws {
        var spool = try await store.spool(serial) ?? Spool(normalizedFields: ["serial": .string(serial)])
        for (k, v) in fields { spool[k] = v }
        spool["lastUpdated"] = .int(time)
        _ = try await store.commit([(serial, spool)], device: "desk", message: "edit \(serial)")
    }

    var state: SyncClientState { get throws { try SyncClientState.load(dataFolder: folder) } }

    var queue: Int { get async throws { try await SyncClient.queueSize(store, try state) } }

    /// The live spools without the fields skew correction and local ids make differ between copies.
    var contents: [String: JSONValue] { get async throws { try await comparable(store) } }
}

func spool(_ serial: String, _ time: Int64, _ fields: [String: JSONValue] = [:]) -> Spool {
    Spool(normalizedFields: fields.merging(["serial": .string(serial), "lastUpdated": .int(time)]) { a, _ in a })
}

/// main's live spools by serial, without `id` and `lastUpdated` (the server shifts a device's times by its
/// clock's offset, here the milliseconds between the client's reading and the server's).
func comparable(_ store: InventoryStore) async throws -> [String: JSONValue] {
    try await mainContents(store).mapValues { value in
        guard case .object(var fields) = value else { return value }
        fields["lastUpdated"] = nil
        return .object(fields)
    }
}
