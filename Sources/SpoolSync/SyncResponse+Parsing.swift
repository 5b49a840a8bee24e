import SpoolModel

extension SyncResponse {
    /// Reads a server's `200` answer (what ``jsonBytes`` writes), checking what the client relies on; the
    /// message of the error says what is missing or wrong, for a person who pointed the client at the wrong URL.
    /// `entries`: the most spools and deletions together the answer may hold (a page's), checked before they are.
    public static func parse(_ bytes: [UInt8], entries: Int = .max) throws(SyncClientError) -> SyncResponse {
        func bad(_ what: String) -> SyncClientError { SyncClientError(.badAnswer, "the server's answer is not a sync response: \(what)") }
        let value: JSONValue
        do { value = try JSONParser.parse(bytes) } catch { throw bad("not JSON (\(printableText(error.description, limit: 200)))") }
        guard let o = value.objectValue else { throw bad("not a JSON object") }
        guard o["success"] == .bool(true) else { throw bad("no \"success\": true") }
        guard case .int(let serverTime)? = o["serverTime"] else { throw bad("no integer serverTime") }
        // What the client keeps and sends back (a negative time, or a cursor of megabytes, would have every later
        // request refused by a correct server), and what goes into its commits' messages (a control character).
        guard (0...Timestamps.limit).contains(serverTime) else { throw bad("serverTime \(serverTime) is not a time (0 to \(Timestamps.limit) ms)") }
        guard let cursor = o["cursor"]?.stringValue else { throw bad("no cursor") }
        guard cursor.utf8.count <= Self.cursorLimit else { throw bad("a cursor of \(cursor.utf8.count) bytes (at most \(Self.cursorLimit))") }
        guard !cursor.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else { throw bad("a cursor with a control character") }
        guard let changes = o["changes"]?.arrayValue, let deletions = o["deletions"]?.arrayValue else { throw bad("no changes or deletions array") }
        guard changes.count + deletions.count <= entries else {
            throw bad("\(changes.count) spools and \(deletions.count) deletions, more than the \(entries) the page asked for may hold")
        }

        var response = SyncResponse(serverTime: serverTime, cursor: cursor)
        // Each spool checked as an import checks it (types, ranges, the serial's length), so that nothing enters
        // the history that the project's own tools, or a correct server, would refuse.
        var records: [RawRecord] = []
        records.reserveCapacity(changes.count)
        for (i, change) in changes.enumerated() {
            guard let object = change.objectValue else { throw bad("changes[\(i)] is not a spool") }
            guard object["serial"]?.stringValue?.isEmpty == false, case .int? = object["lastUpdated"] else {
                throw bad("changes[\(i)] has no serial or no integer lastUpdated")
            }
            records.append(RawRecord(object: change, row: i + 1))
        }
        let (spools, outcome) = SpoolNormalizer(now: serverTime).normalize(records)
        if let rejected = outcome.rejected.first {
            let problem = rejected.problems.first.map { ($0.field.isEmpty ? "" : $0.field + ": ") + $0.message } ?? "refused"
            throw bad("changes[\(rejected.location.row - 1)] is not a valid spool (\(printableText(problem, limit: 200)))")
        }
        if let twice = outcome.renamed.first { throw bad("changes[\(twice.location.row - 1)] repeats serial \(JSONValue.string(twice.serial).jsonText)") }
        // Appended as encoded: appending to `changes` would decode and encode every spool before it (quadratic).
        for spool in spools { response.encodedChanges.append(spool.compactJSON) }
        // What the checks changed to store them (a null field removed, a date string read), counted for the report.
        response.normalized = NormalizerCounts(outcome)
        for (i, deletion) in deletions.enumerated() {
            guard let serial = deletion.stringValue, !serial.isEmpty else { throw bad("deletions[\(i)] is not a serial") }
            response.deletions.append(serial)
        }
        for (i, conflict) in (o["conflicts"]?.arrayValue ?? []).enumerated() {
            guard let c = conflict.objectValue, let serial = c["serial"]?.stringValue, let field = c["field"]?.stringValue,
                  let winner = c["winner"]?.stringValue else { throw bad("conflicts[\(i)] has no serial, field or winner") }
            let value = { (key: String) -> JSONValue? in c[key] == .null ? nil : c[key] }
            // Its words are printed: escaped and cut short (the serial is printed quoted, as JSON).
            response.conflicts.append(SyncConflict(serial: serial, field: printableText(field, limit: 200), clientValue: value("clientValue"),
                                                   serverValue: value("serverValue"), winner: printableText(winner, limit: 20),
                                                   reason: printableText(c["reason"]?.stringValue ?? "", limit: 500),
                                                   id: printableText(c["id"]?.stringValue ?? "", limit: 80)))
        }
        if let stats = o["stats"]?.objectValue {
            if case .int(let n)? = stats["totalSpools"] { response.totalSpools = Int(clamping: n) }
            if case .int(let n)? = stats["synced"] { response.synced = Int(clamping: n) }
        }
        response.hasMore = o["hasMore"] == .bool(true)
        response.fullResync = o["fullResync"] == .bool(true)
        return response
    }

    /// The longest cursor a client keeps (this server's are under 1.2 KB: a commit, and a serial for a page).
    static let cursorLimit = 4_096
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
        // The server's words are printed and kept (in the sync state's last error): escaped, and cut short.
        let shown = details.prefix(Self.detailsShown).map { Detail(path: printableText($0.path, limit: 200), message: printableText($0.message, limit: 500)) }
        if let message = object?["error"]?.stringValue {
            self.init(kind, printableText(message, limit: 1_000), details: Array(shown))
        } else {
            let text = String(decoding: body.prefix(200), as: UTF8.self).split(whereSeparator: \.isNewline).joined(separator: " ")
            self.init(kind, "HTTP status \(status)" + (text.isEmpty ? "" : ": " + printableText(text)), details: Array(shown))
        }
    }
}
