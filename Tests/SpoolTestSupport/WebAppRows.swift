import SpoolModel

/// The web app's IndexedDB table as its `SyncManager` keeps it (SYNC-PROTOCOL.md, "The web app's client"): rows
/// by a local numeric id, and what a sync answer brings applied by that id only. Shared by the tests that act
/// as the web app, in process and over HTTP.
public struct WebAppRows {
    public var rows: [Int64: [String: JSONValue]] = [:]
    public var nextID: Int64 = 1
    /// The client's own clock when its last sync started.
    public var lastSyncTime: Int64 = 0

    public init() {}

    /// A new row at `now`, with the next id.
    @discardableResult
    public mutating func add(_ serial: String, _ fields: [String: JSONValue], at now: Int64) -> Int64 {
        let id = nextID
        nextID += 1
        rows[id] = fields.merging(["id": .int(id), "serial": .string(serial), "lastUpdated": .int(now)]) { a, _ in a }
        return id
    }

    /// The rows changed since the last sync, by id.
    public var changed: [[String: JSONValue]] {
        rows.sorted { $0.key < $1.key }.map(\.value).filter { ($0["lastUpdated"]?.integer ?? 0) > lastSyncTime }
    }

    /// An answer's spools, by id: a row changed here since the last sync keeps its version unless the answer's
    /// is later (equal: the smaller weight wins); a spool without a known id is a new row. Deletions come by
    /// numeric key only: a serial deletes nothing here (a limit of the web app, not of the server).
    public mutating func apply(_ changes: [Spool]) {
        for spool in changes {
            guard case .object(var fields) = spool.jsonObject else { continue }
            if case .int(let id)? = fields["id"], let local = rows[id] {
                let localTime = local["lastUpdated"]?.integer ?? 0, theirs = spool.lastUpdated ?? 0
                if localTime > lastSyncTime {
                    if theirs < localTime { continue }
                    if theirs == localTime, let a = local["weightRemaining"]?.numberValue, let b = fields["weightRemaining"]?.numberValue, a <= b { continue }
                }
                rows[id] = fields
            } else {
                let id = nextID
                nextID += 1
                fields["id"] = .int(id)
                rows[id] = fields
            }
        }
    }

    /// Soft-deleted rows go once their sync is done; the sync's start becomes `lastSyncTime`.
    public mutating func finishSync(startedAt start: Int64) {
        for (id, row) in rows where row["deleted"] == .bool(true) { rows[id] = nil }
        lastSyncTime = start
    }
}

extension JSONValue {
    /// The value as an integer, when it is one.
    public var integer: Int64? {
        if case .int(let n) = self { return n }
        return nil
    }
}
