import Foundation
import SpoolHistory
import SpoolModel

/// What a sync server may be told.
public struct SyncConfiguration: Sendable {
    /// Most changes plus deletions in one request (more gets 413, "upload in batches").
    public var batchLimit: Int
    /// How far ahead of the server's clock a timestamp may be, when the request has no `clientTime`.
    public var futureTolerance: Int64

    public init(batchLimit: Int = 50_000, futureTolerance: Int64 = 60_000) {
        self.batchLimit = batchLimit
        self.futureTolerance = futureTolerance
    }
}

/// The server side of the sync protocol over the history (SYNC-PROTOCOL.md): one per repository, the single
/// writer of its sync state; requests are applied one after another, each whole or not at all.
public actor SyncService {
    public let store: InventoryStore
    public let configuration: SyncConfiguration
    let clock: @Sendable () -> Int64

    public static let systemClock: @Sendable () -> Int64 = { Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)) }

    public init(store: InventoryStore, configuration: SyncConfiguration = SyncConfiguration(),
                clock: @escaping @Sendable () -> Int64 = SyncService.systemClock) {
        self.store = store
        self.configuration = configuration
        self.clock = clock
    }

    /// Applies one request and answers it.
    public func sync(_ request: SyncRequest) async throws(SyncFailure) -> SyncResponse {
        if request.changes.count + request.deletions.count > configuration.batchLimit {
            throw SyncFailure(.tooLarge, "\(request.changes.count + request.deletions.count) changes and deletions in one request; the limit is \(configuration.batchLimit): upload in batches")
        }
        throw SyncFailure(.unavailable, "not yet")
    }

    /// `GET /api/sync`.
    public func summary() async throws(SyncFailure) -> SyncSummary {
        throw SyncFailure(.unavailable, "not yet")
    }
}
