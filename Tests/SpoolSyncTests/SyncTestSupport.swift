import Foundation
import SpoolHistory
import SpoolModel
@testable import SpoolSync
import SpoolTestSupport

/// A clock the test moves by hand (milliseconds).
final class ManualClock: @unchecked Sendable {
    private var now: Int64
    private let lock = NSLock()
    init(_ start: Int64 = 1_750_000_000_000) { now = start }
    func read() -> Int64 { lock.withLock { now } }
    func advance(_ ms: Int64) { lock.withLock { now += ms } }
}

/// A sync server over a history in a new temporary folder.
func newService(clock: ManualClock = ManualClock(), configuration: SyncConfiguration = SyncConfiguration()) throws -> (SyncService, InventoryStore, String) {
    let dir = Fixtures.temporaryDirectory() + "/data"
    let store = try InventoryStore(dataFolder: dir)
    return (SyncService(store: store, configuration: configuration, clock: { clock.read() }), store, DataFolder.historyPath(in: dir))
}

func record(_ serial: String, _ time: Int64, _ fields: [String: JSONValue] = [:]) -> JSONValue {
    .object(fields.merging(["serial": .string(serial), "lastUpdated": .int(time)]) { a, _ in a })
}

/// A device that keeps its inventory in memory and syncs by cursor, the way `filamentdb sync` does: it sends
/// what it changed since its last sync and applies what comes back by serial.
final class CursorDevice {
    let id: String
    var spools: [String: [String: JSONValue]] = [:]
    var cursor: String?
    var dirty = Set<String>()
    var deleted: [String: Int64] = [:]
    var limit: Int?

    init(_ id: String, limit: Int? = nil) {
        self.id = id
        self.limit = limit
    }

    func edit(_ serial: String, at time: Int64, _ fields: [String: JSONValue]) {
        var s = spools[serial] ?? ["serial": .string(serial)]
        for (k, v) in fields { s[k] = v }
        s["lastUpdated"] = .int(time)
        spools[serial] = s
        dirty.insert(serial)
        deleted[serial] = nil
    }

    func delete(_ serial: String, at time: Int64) {
        spools[serial] = nil
        dirty.remove(serial)
        deleted[serial] = time
    }

    /// The live inventory, without ids and times (what devices must agree on).
    var contents: [String: JSONValue] {
        spools.mapValues { s in
            var s = s
            s["id"] = nil
            return .object(s)
        }
    }

    @discardableResult
    func sync(_ service: SyncService, clientTime: Int64? = nil) async throws -> [SyncResponse] {
        var responses: [SyncResponse] = []
        var first = true
        repeat {
            let changes = first ? dirty.sorted().compactMap { spools[$0].map(JSONValue.object) } : []
            let deletions = first ? deleted.sorted { $0.key < $1.key }.map { SyncDeletion.serial($0.key, deletedAt: $0.value) } : []
            let request = SyncRequest(deviceId: id, lastSyncTime: 0, cursor: cursor, changes: changes, deletions: deletions,
                                      clientTime: clientTime, limit: limit)
            let response = try await service.sync(request)
            if first {
                dirty.removeAll()
                deleted.removeAll()
            }
            first = false
            apply(response)
            responses.append(response)
        } while responses.last!.hasMore
        return responses
    }

    func apply(_ response: SyncResponse) {
        for spool in response.changes {
            guard case .object(let fields) = spool.jsonObject else { continue }
            if spool.isDeleted { spools[spool.serial] = nil } else { spools[spool.serial] = fields }
        }
        for serial in response.deletions { spools[serial] = nil }
        cursor = response.cursor
    }
}

/// The live spools of main, without ids (what every device must end up with).
func mainContents(_ store: InventoryStore) async throws -> [String: JSONValue] {
    var out: [String: JSONValue] = [:]
    for s in try await store.spools(at: try await store.head()) where !s.isDeleted {
        var s = s
        s["id"] = nil
        out[s.serial] = s.jsonObject
    }
    return out
}

