import SpoolModel

extension SyncResponse {
    /// Reads a server's `200` answer (what ``jsonBytes`` writes), checking what the client relies on; the
    /// message of the error says what is missing or wrong, for a person who pointed the client at the wrong URL.
    public static func parse(_ bytes: [UInt8]) throws(SyncClientError) -> SyncResponse {
        func bad(_ what: String) -> SyncClientError { SyncClientError(.badAnswer, "the server's answer is not a sync response: \(what)") }
        guard let value = try? JSONParser.parse(bytes) else { throw bad("not JSON") }
        guard let o = value.objectValue else { throw bad("not a JSON object") }
        guard o["success"] == .bool(true) else { throw bad("no \"success\": true") }
        guard case .int(let serverTime)? = o["serverTime"] else { throw bad("no integer serverTime") }
        guard let cursor = o["cursor"]?.stringValue else { throw bad("no cursor") }
        guard let changes = o["changes"]?.arrayValue, let deletions = o["deletions"]?.arrayValue else { throw bad("no changes or deletions array") }

        var response = SyncResponse(serverTime: serverTime, cursor: cursor)
        for (i, change) in changes.enumerated() {
            guard let object = change.objectValue, let fields = try? Typeson.decodeDocument(object) else { throw bad("changes[\(i)] is not a spool") }
            let spool = Spool(normalizedFields: fields)
            guard !spool.serial.isEmpty, spool.lastUpdated != nil else { throw bad("changes[\(i)] has no serial or no integer lastUpdated") }
            // Appended as encoded: appending to `changes` would decode and encode every spool before it (quadratic).
            response.encodedChanges.append(spool.compactJSON)
        }
        for (i, deletion) in deletions.enumerated() {
            guard let serial = deletion.stringValue, !serial.isEmpty else { throw bad("deletions[\(i)] is not a serial") }
            response.deletions.append(serial)
        }
        for (i, conflict) in (o["conflicts"]?.arrayValue ?? []).enumerated() {
            guard let c = conflict.objectValue, let serial = c["serial"]?.stringValue, let field = c["field"]?.stringValue,
                  let winner = c["winner"]?.stringValue else { throw bad("conflicts[\(i)] has no serial, field or winner") }
            let value = { (key: String) -> JSONValue? in c[key] == .null ? nil : c[key] }
            response.conflicts.append(SyncConflict(serial: serial, field: field, clientValue: value("clientValue"), serverValue: value("serverValue"),
                                                   winner: winner, reason: c["reason"]?.stringValue ?? "", id: c["id"]?.stringValue ?? ""))
        }
        if let stats = o["stats"]?.objectValue {
            if case .int(let n)? = stats["totalSpools"] { response.totalSpools = Int(clamping: n) }
            if case .int(let n)? = stats["synced"] { response.synced = Int(clamping: n) }
        }
        response.hasMore = o["hasMore"] == .bool(true)
        response.fullResync = o["fullResync"] == .bool(true)
        return response
    }
}

extension SyncFailure {
    /// A refusal as the server answered it: the kind from the HTTP status, the server's sentence and details
    /// when the body is the protocol's error document, else the status and the start of the body.
    public init(status: Int, body: [UInt8]) {
        let kind: Kind = switch status {
        case 401: .unauthorized
        case 400: .badRequest
        case 413: .tooLarge
        default: .unavailable
        }
        let object = (try? JSONParser.parse(body))?.objectValue
        let details = (object?["details"]?.arrayValue ?? []).compactMap { d -> Detail? in
            guard let o = d.objectValue, let message = o["message"]?.stringValue else { return nil }
            return Detail(path: o["path"]?.stringValue ?? "", message: message)
        }
        if let message = object?["error"]?.stringValue {
            self.init(kind, message, details: details)
        } else {
            let text = String(decoding: body.prefix(200), as: UTF8.self).split(whereSeparator: \.isNewline).joined(separator: " ")
            self.init(kind, "HTTP status \(status)" + (text.isEmpty ? "" : ": " + text), details: details)
        }
    }
}
