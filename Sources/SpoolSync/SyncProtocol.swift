import SpoolModel

/// Why a sync request was refused, as the HTTP layer answers it (``SyncFailure/Kind`` maps to one status in
/// SpoolServer's `HTTPErrors.swift`).
public struct SyncFailure: Error, Sendable, Equatable {
    public enum Kind: String, Sendable, Equatable {
        /// No key, or a wrong one (401).
        case unauthorized
        /// Not JSON, not an object, wrong types, missing fields, an empty serial (400, the problems in `details`: the first ``SyncFailure/detailsShown``).
        case badRequest
        /// More changes plus deletions than the batch limit, or a body over the size limit (413).
        case tooLarge
        /// The history could not be read or written (503: the request may be sent again; nothing was applied).
        case unavailable
    }

    /// One problem of a malformed request: where (`changes[3].weightRemaining`) and what.
    public struct Detail: Sendable, Equatable {
        public var path: String
        public var message: String
        public init(path: String, message: String) {
            self.path = path
            self.message = message
        }
    }

    public var kind: Kind
    /// A sentence a person can act on.
    public var message: String
    public var details: [Detail]

    public init(_ kind: Kind, _ message: String, details: [Detail] = []) {
        self.kind = kind
        self.message = message
        self.details = details
    }

    /// The most problems a 400 lists: a body of 200,000 bad elements was answered with 40 MB of details.
    public static let detailsShown = 100

    /// The 400 of a request with `count` problems, of which `listed` are the first (at most ``detailsShown``):
    /// the message is the one problem, or how many there are in `what` ("the request", "the request's spools").
    static func malformed(_ listed: [Detail], count: Int, in what: String) -> SyncFailure {
        let shown = Array(listed.prefix(detailsShown))
        let message = count == 1 ? "\(shown[0].path.isEmpty ? "the body" : shown[0].path): \(shown[0].message)"
            : "\(count) problems in \(what); " + (count > shown.count ? "details lists the first \(shown.count)" : "see details")
        return SyncFailure(.badRequest, message, details: shown)
    }

    /// `{"success": false, "error": …, "details": [{"path", "message"}]}`.
    public var json: JSONValue {
        var fields: [String: JSONValue] = ["success": .bool(false), "error": .string(message)]
        if !details.isEmpty {
            fields["details"] = .array(details.map { .object(["path": .string($0.path), "message": .string($0.message)]) })
        }
        return .object(fields)
    }
}

/// A deletion as a request names it.
public enum SyncDeletion: Sendable, Equatable {
    /// A serial (a string entry).
    case serial(String, deletedAt: Int64?)
    /// A legacy Dexie id (an integer entry): resolved through the ids this device sent.
    case legacyID(Int64)
}

/// `POST /api/sync`'s body (SYNC-PROTOCOL.md, "Request"), checked.
public struct SyncRequest: Sendable {
    public var deviceId: String
    public var lastSyncTime: Int64
    public var cursor: String?
    /// The changed spools as sent (objects, each with a non-empty `serial`).
    public var changes: [JSONValue]
    public var deletions: [SyncDeletion]
    public var clientTime: Int64?
    public var limit: Int?

    public init(deviceId: String, lastSyncTime: Int64 = 0, cursor: String? = nil, changes: [JSONValue] = [],
                deletions: [SyncDeletion] = [], clientTime: Int64? = nil, limit: Int? = nil) {
        self.deviceId = deviceId
        self.lastSyncTime = lastSyncTime
        self.cursor = cursor
        self.changes = changes
        self.deletions = deletions
        self.clientTime = clientTime
        self.limit = limit
    }

    /// Longest `deviceId`, in characters.
    public static let maxDeviceIDLength = 128

    /// The body's `apiKey` when the body is a JSON object with a string there (read before anything else is
    /// checked: a request without a valid key gets 401 whatever else is wrong with it).
    public static func apiKey(in body: JSONValue?) -> String? {
        body?.objectValue?["apiKey"]?.stringValue
    }

    /// Parses a body. Every problem is listed (``SyncFailure/details``), not only the first.
    public static func parse(_ bytes: [UInt8]) throws(SyncFailure) -> SyncRequest {
        let value: JSONValue
        do {
            value = try JSONParser.parse(bytes)
        } catch {
            throw SyncFailure(.badRequest, "the body is not valid JSON (\(error.description))", details: [.init(path: "", message: error.description)])
        }
        return try SyncRequest(checking: value)
    }

    /// Checks a parsed body.
    public init(checking value: JSONValue) throws(SyncFailure) {
        guard let object = value.objectValue else {
            throw SyncFailure(.badRequest, "the body must be a JSON object, not \(value.kindDescription)",
                              details: [.init(path: "", message: "expected an object, found \(value.kindDescription)")])
        }
        // Every problem is counted; the answer lists the first ones (``SyncFailure/detailsShown``).
        var problems: [SyncFailure.Detail] = []
        var problemCount = 0
        func problem(_ path: String, _ message: String) {
            problemCount += 1
            if problems.count < SyncFailure.detailsShown { problems.append(.init(path: path, message: message)) }
        }
        func integer(_ key: String, _ v: JSONValue?, unit: String = " (milliseconds)") -> Int64? {
            guard let v else { return nil }
            if case .int(let n) = v { return n }
            problem(key, "expected an integer\(unit), found \(v.kindDescription)")
            return nil
        }

        var deviceId = ""
        switch object["deviceId"] {
        case nil: problem("deviceId", "missing: every request names its device (a stable id of 1 to \(Self.maxDeviceIDLength) characters)")
        case .string(let s)?:
            if s.isEmpty { problem("deviceId", "empty: a device id has 1 to \(Self.maxDeviceIDLength) characters") }
            else if s.count > Self.maxDeviceIDLength { problem("deviceId", "\(s.count) characters: a device id has at most \(Self.maxDeviceIDLength)") }
            deviceId = s
        case let v?: problem("deviceId", "expected a string, found \(v.kindDescription)")
        }

        var lastSyncTime: Int64 = 0
        if object["lastSyncTime"] == nil {
            problem("lastSyncTime", "missing: send 0 on a device's first sync, then the serverTime of its last response")
        } else if let t = integer("lastSyncTime", object["lastSyncTime"]) {
            if t < 0 { problem("lastSyncTime", "negative: send 0 on a device's first sync") } else { lastSyncTime = t }
        }

        var cursor: String?
        switch object["cursor"] {
        case nil, .null?: break
        case .string(let s)?: cursor = s
        case let v?: problem("cursor", "expected the string of a previous response's cursor, found \(v.kindDescription)")
        }

        var changes: [JSONValue] = []
        switch object["changes"] {
        case nil: problem("changes", "missing: send the spools changed since the last sync (an empty array if none)")
        case .array(let items)?:
            changes.reserveCapacity(items.count)
            for (i, item) in items.enumerated() {
                let path = "changes[\(i)]"
                guard let spool = item.objectValue else {
                    problem(path, "expected a spool object, found \(item.kindDescription)")
                    continue
                }
                switch spool["serial"] {
                case nil: problem(path + ".serial", "missing: a spool's serial is its identity")
                case .string(let s)?: if s.isEmpty { problem(path + ".serial", "empty: a spool's serial is its identity") }
                case let v?: problem(path + ".serial", "expected a string, found \(v.kindDescription)")
                }
                switch spool["lastUpdated"] {
                case nil: problem(path + ".lastUpdated", "missing: the time of the spool's last change, in milliseconds")
                case .int?: break
                case let v?: problem(path + ".lastUpdated", "expected an integer (milliseconds), found \(v.kindDescription)")
                }
                changes.append(item)
            }
        case let v?: problem("changes", "expected an array of spools, found \(v.kindDescription)")
        }

        var deletions: [SyncDeletion] = []
        switch object["deletions"] {
        case nil: problem("deletions", "missing: send the spools deleted since the last sync (an empty array if none)")
        case .array(let items)?:
            for (i, item) in items.enumerated() {
                let path = "deletions[\(i)]"
                switch item {
                case .string(let s):
                    if s.isEmpty { problem(path, "empty serial") } else { deletions.append(.serial(s, deletedAt: nil)) }
                case .int(let n):
                    deletions.append(.legacyID(n))
                case .object(let o):
                    var serial: String?
                    switch o["serial"] {
                    case .string(let s)? where !s.isEmpty: serial = s
                    case .string?: problem(path + ".serial", "empty serial")
                    case nil: problem(path + ".serial", "missing")
                    case let v?: problem(path + ".serial", "expected a string, found \(v.kindDescription)")
                    }
                    var at: Int64?
                    switch o["deletedAt"] {
                    case nil, .null?: break
                    case .int(let n)? where (0...Timestamps.limit).contains(n): at = n
                    case .int(let n)?: problem(path + ".deletedAt", "\(n) is out of range: a time is 0 to \(Timestamps.limit) milliseconds")
                    case let v?: problem(path + ".deletedAt", "expected an integer (milliseconds), found \(v.kindDescription)")
                    }
                    if let serial { deletions.append(.serial(serial, deletedAt: at)) }
                default:
                    problem(path, "expected a serial (string), a legacy id (integer) or {\"serial\", \"deletedAt\"}, found \(item.kindDescription)")
                }
            }
        case let v?: problem("deletions", "expected an array, found \(v.kindDescription)")
        }

        let clientTime = object["clientTime"] == .null ? nil : integer("clientTime", object["clientTime"])
        var limit: Int?
        if let v = object["limit"], v != .null, let n = integer("limit", v, unit: " (spools per page)") {
            if n < 1 { problem("limit", "must be at least 1") } else { limit = Int(clamping: n) }
        }
        if problemCount > 0 {
            // The spools' own problems too (those the normaliser finds once the request's shape is right), so that
            // one answer lists everything to mend: each spool checked with its serial and time set aside.
            var records: [RawRecord] = []
            for (i, change) in (object["changes"]?.arrayValue ?? []).enumerated() {
                guard var spool = change.objectValue else { continue }
                spool["serial"] = .string("s"); spool["lastUpdated"] = .int(0)
                records.append(RawRecord(object: .object(spool), row: i + 1))
            }
            for rejected in SpoolNormalizer(now: 0).normalize(records).outcome.rejected {
                for p in rejected.problems where p.field != "serial" && p.field != "lastUpdated" {
                    problem("changes[\(rejected.location.row - 1)]" + (p.field.isEmpty ? "" : "." + p.field), p.message)
                }
            }
            throw SyncFailure.malformed(problems, count: problemCount, in: "the request")
        }
        self.init(deviceId: deviceId, lastSyncTime: lastSyncTime, cursor: cursor, changes: changes, deletions: deletions,
                  clientTime: clientTime, limit: limit)
    }

    /// The body as JSON (what a client sends; `apiKey` only when given).
    public func json(apiKey: String? = nil) -> JSONValue {
        var fields: [String: JSONValue] = [
            "deviceId": .string(deviceId), "lastSyncTime": .int(lastSyncTime), "changes": .array(changes),
            "deletions": .array(deletions.map { d in
                switch d {
                case .serial(let s, nil): return .string(s)
                case .serial(let s, let at?): return .object(["serial": .string(s), "deletedAt": .int(at)])
                case .legacyID(let n): return .int(n)
                }
            }),
        ]
        if let apiKey { fields["apiKey"] = .string(apiKey) }
        if let cursor { fields["cursor"] = .string(cursor) }
        if let clientTime { fields["clientTime"] = .int(clientTime) }
        if let limit { fields["limit"] = .int(Int64(limit)) }
        return .object(fields)
    }
}

/// One decision of last-write-wins, as the response reports it.
public struct SyncConflict: Sendable, Equatable {
    public var serial: String
    public var field: String
    public var clientValue: JSONValue?
    public var serverValue: JSONValue?
    /// `client` or `server`.
    public var winner: String
    public var reason: String
    /// The conflict's id in the history (`filamentdb conflicts show ID`).
    public var id: String

    public var json: JSONValue {
        var f: [String: JSONValue] = ["serial": .string(serial), "field": .string(field), "winner": .string(winner),
                                      "reason": .string(reason), "id": .string(id)]
        f["clientValue"] = clientValue ?? .null
        f["serverValue"] = serverValue ?? .null
        return .object(f)
    }
}

/// A legacy id of this device that was given a serial of its own, because another record of the same request
/// (or an earlier one) holds its serial.
public struct SyncRename: Sendable, Equatable {
    public var id: Int64
    public var serial: String
    public var newSerial: String
}

/// `POST /api/sync`'s answer (SYNC-PROTOCOL.md, "Response 200").
public struct SyncResponse: Sendable {
    public var serverTime: Int64
    public var cursor: String
    /// Each spool as this device should store it (its own `id`, or none), decoded from ``encodedChanges`` on
    /// every read: count or add with ``encodedChanges`` (read-only, so that no caller appends through it, which
    /// decoded and encoded every spool before each one).
    public var changes: [Spool] { encodedChanges.compactMap { Spool(canonicalJSON: $0) } }
    /// The changed spools as they go out: each one JSON object (a server copies most of them from the history's
    /// files as they are, without decoding them).
    public var encodedChanges: [[UInt8]] = []
    public var deletions: [String]
    public var conflicts: [SyncConflict]
    public var totalSpools: Int
    /// Entries of the request that were applied (changes plus deletions, a retry's included).
    public var synced: Int
    public var hasMore: Bool
    public var unresolvedDeletions: [Int64]
    public var renamed: [SyncRename]
    public var fullResync: Bool
    /// The main commit the answer was computed from (the state the device now has when `hasMore` is false).
    public var head: String?
    /// What a client's checks changed in the answer's spools to store them (``parse(_:)``; not sent).
    public var normalized = NormalizerCounts()

    public init(serverTime: Int64, cursor: String, changes: [Spool] = [], deletions: [String] = [], conflicts: [SyncConflict] = [],
                totalSpools: Int = 0, synced: Int = 0, hasMore: Bool = false, unresolvedDeletions: [Int64] = [],
                renamed: [SyncRename] = [], fullResync: Bool = false, head: String? = nil) {
        self.serverTime = serverTime
        self.cursor = cursor
        self.encodedChanges = changes.map(\.compactJSON)
        self.deletions = deletions
        self.conflicts = conflicts
        self.totalSpools = totalSpools
        self.synced = synced
        self.hasMore = hasMore
        self.unresolvedDeletions = unresolvedDeletions
        self.renamed = renamed
        self.fullResync = fullResync
        self.head = head
    }

    /// The body, written directly (a first sync of 10,000 spools is one response).
    public var jsonBytes: [UInt8] {
        var w = JSONWriter(reservingCapacity: 256 + encodedChanges.reduce(0) { $0 + $1.count + 1 })
        w.append("{\"success\":true,\"serverTime\":")
        w.appendRaw(String(serverTime))
        w.append(",\"cursor\":")
        w.writeString(cursor)
        w.append(",\"changes\":[")
        for (i, spool) in encodedChanges.enumerated() {
            if i > 0 { w.append(",") }
            w.appendBytes(spool)
        }
        w.append("],\"deletions\":[")
        for (i, serial) in deletions.enumerated() {
            if i > 0 { w.append(",") }
            w.writeString(serial)
        }
        w.append("],\"conflicts\":")
        w.write(.array(conflicts.map(\.json)))
        w.append(",\"stats\":{\"totalSpools\":")
        w.appendRaw(String(totalSpools))
        w.append(",\"synced\":")
        w.appendRaw(String(synced))
        w.append(",\"conflictsResolved\":")
        w.appendRaw(String(conflicts.count))
        w.append("},\"hasMore\":")
        w.append(hasMore ? "true" : "false")
        if !unresolvedDeletions.isEmpty {
            w.append(",\"unresolvedDeletions\":")
            w.write(.array(unresolvedDeletions.map { .int($0) }))
        }
        if !renamed.isEmpty {
            w.append(",\"renamed\":")
            w.write(.array(renamed.map { .object(["id": .int($0.id), "serial": .string($0.serial), "newSerial": .string($0.newSerial)]) }))
        }
        if fullResync { w.append(",\"fullResync\":true") }
        w.append("}")
        return w.bytes
    }
}

/// `GET /api/sync`'s answer.
public struct SyncSummary: Sendable, Equatable {
    public var totalSpools: Int
    /// Milliseconds: when main last changed (0 for an empty history).
    public var lastModified: Int64
    /// main's head commit, `nil` for an empty history.
    public var head: String?
    /// Why the history's packs and branches cannot be written now (a full disk), while requests go on through the
    /// journal; absent when they can.
    public var publishError: String?

    public init(totalSpools: Int, lastModified: Int64, head: String?, publishError: String? = nil) {
        (self.totalSpools, self.lastModified, self.head, self.publishError) = (totalSpools, lastModified, head, publishError)
    }

    public var json: JSONValue {
        var o: [String: JSONValue] = ["success": .bool(true), "totalSpools": .int(Int64(totalSpools)), "lastModified": .int(lastModified),
                                      "head": head.map { .string($0) } ?? .null]
        if let publishError { o["publishError"] = .string(publishError) }
        return .object(o)
    }
}
