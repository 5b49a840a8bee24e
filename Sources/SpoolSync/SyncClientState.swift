import Foundation
import SpoolHistory
import SpoolModel

/// What a sync client remembers between runs, in its data folder's `sync.json`: the server, the device name,
/// where the server's key is read from (never the key), the last answer's cursor and the local commit the
/// server has (the queue is what main changed since), when the last sync succeeded, and the last error.
///
/// The file is replaced whole (written beside, flushed, renamed over), so a crash leaves the old state or
/// the new one, never half of each.
public struct SyncClientState: Sendable, Equatable {
    public var server: String?
    public var device: String?
    public var keyFile: String?
    public var cursor: String?
    /// The local commit whose spools the server has: main's head when the last sync began, or the commit that
    /// applied its answer.
    public var syncedCommit: ObjectID?
    /// The last answer's `serverTime` (sent as `lastSyncTime` beside the cursor, for servers of the plan).
    public var lastServerTime: Int64 = 0
    /// When the last sync succeeded, milliseconds on this machine's clock.
    public var lastSync: Int64?
    public var lastError: String?
    public var lastErrorAt: Int64?

    public static let fileName = "sync.json"

    public init() {}

    public static func path(in dataFolder: String) -> String {
        URL(fileURLWithPath: dataFolder).appendingPathComponent(fileName).path
    }

    /// The state of a data folder; empty when it has none yet.
    public static func load(dataFolder: String) throws(HistoryError) -> SyncClientState {
        let path = path(in: dataFolder)
        guard FileManager.default.fileExists(atPath: path) else { return SyncClientState() }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw HistoryError(.io, "cannot read the sync state", path: path)
        }
        guard let o = (try? JSONParser.parse([UInt8](data)))?.objectValue else {
            throw HistoryError(.io, "is not a sync state (a JSON object); remove it to start over (the next sync sends every spool again)", path: path)
        }
        var state = SyncClientState()
        state.server = o["server"]?.stringValue
        state.device = o["device"]?.stringValue
        state.keyFile = o["keyFile"]?.stringValue
        state.cursor = o["cursor"]?.stringValue
        state.syncedCommit = o["syncedCommit"]?.stringValue.flatMap(ObjectID.init(hex:))
        if case .int(let t)? = o["lastServerTime"] { state.lastServerTime = t }
        if case .int(let t)? = o["lastSync"] { state.lastSync = t }
        state.lastError = o["lastError"]?.stringValue
        if case .int(let t)? = o["lastErrorAt"] { state.lastErrorAt = t }
        return state
    }

    public var json: JSONValue {
        var o: [String: JSONValue] = ["lastServerTime": .int(lastServerTime)]
        o["server"] = server.map(JSONValue.string)
        o["device"] = device.map(JSONValue.string)
        o["keyFile"] = keyFile.map(JSONValue.string)
        o["cursor"] = cursor.map(JSONValue.string)
        o["syncedCommit"] = syncedCommit.map { .string($0.hex) }
        o["lastSync"] = lastSync.map(JSONValue.int)
        o["lastError"] = lastError.map(JSONValue.string)
        o["lastErrorAt"] = lastErrorAt.map(JSONValue.int)
        return .object(o)
    }

    /// Replaces the data folder's state file whole.
    public func save(dataFolder: String) throws(HistoryError) {
        let path = Self.path(in: dataFolder)
        let temporary = path + ".tmp-\(getpid())"
        let bytes = json.jsonBytes + [0x0A]
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { throw HistoryError(.io, "cannot write the sync state: \(String(cString: strerror(errno)))", path: temporary) }
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        let failure = written != bytes.count ? errno : fsync(fd) != 0 ? errno : 0
        close(fd)
        if failure == 0, rename(temporary, path) == 0 { return }
        let reason = String(cString: strerror(failure != 0 ? failure : errno))
        unlink(temporary)
        throw HistoryError(.io, "cannot write the sync state: \(reason)", path: path)
    }
}
