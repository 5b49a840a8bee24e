import SpoolHistory

/// What one ``SyncClient`` run did, for the summary a person reads.
public struct SyncReport: Sendable {
    public var server: String
    public var device: String
    /// Spools sent whole, and deletions sent (tombstones and removed files), over `requests` requests.
    public var sentChanges = 0
    public var sentDeletions = 0
    public var requests = 0
    /// Spools and deletions the server sent that were news here (each serial once; what it read back of this
    /// run's own earlier batches, unchanged, is not).
    public var receivedChanges = 0
    public var receivedDeletions = 0
    /// Every decision of last-write-wins the server reported, `winner` `client` meaning this device's value.
    public var conflicts: [SyncConflict] = []
    /// What the checks changed in the server's spools to store them (each migration rule's count, and each value
    /// left empty), also recorded in the sync commit's trailers.
    public var normalized = NormalizerCounts()
    /// The local commit that applied the answers; `nil` when they changed nothing here.
    public var commit: ObjectID?
    /// Local main after the sync.
    public var head: ObjectID?
    /// The last answer's `serverTime`, and the server's number of live spools then.
    public var serverTime: Int64 = 0
    public var totalSpools = 0
    /// Every local spool was sent again as on a first sync: the server no longer knew this client's place
    /// (a new server at the same address, a replaced history), or the local history no longer holds the
    /// commit the server had.
    public var fullResync = false

    public init(server: String, device: String) {
        self.server = server
        self.device = device
    }
}
