import Foundation
import Hummingbird
import HummingbirdTesting
import SpoolModel
import SpoolTestSupport
import Testing

/// The web app's `SyncManager` (SYNC-PROTOCOL.md, "The web app's client") against the server on a loopback
/// socket, byte for byte as a browser sends it: `Content-Type: application/json`, the key in the body, no
/// Authorization, cursor, clientTime or limit; numeric Dexie ids; its own clock as `lastSyncTime`.
@Suite struct WebAppOverHTTPTests {
    static let origin = "https://app.example"

    @Test func twoBrowsersWithTheirOwnIdsAndClocks() async throws {
        let harness = try Harness()
        try await harness.app().test(.live) { client in
            let port = try #require(client.port)
            // Both start their ids at 1, as Dexie does: the ids collide, the serials do not.
            let a = HTTPBrowser("browser-a-7f3e", port: port, skew: 0)
            let b = HTTPBrowser("browser-b-91c2", port: port, skew: 3_600_000)
            let aS1 = a.add("S1", ["brand": .string("Prusament"), "weightRemaining": .int(1000), "color": .string("red")])
            let aS2 = a.add("S2", ["brand": .string("Polymaker"), "weightRemaining": .int(750)])
            var answer = try await a.sync()
            #expect(answer.changes.isEmpty && answer.deletions.isEmpty)

            let bS3 = b.add("S3", ["brand": .string("Sunlu"), "weightRemaining": .int(500)])
            #expect(bS3 == aS1)
            answer = try await b.sync()
            // b never sent S1 or S2: they come without an id, and b gives them ids of its own.
            #expect(answer.serials == ["S1", "S2"])
            #expect(answer.changes.allSatisfy { $0["id"] == nil }, "\(answer.text)")
            let bS1 = try #require(b.id(of: "S1")), bS2 = try #require(b.id(of: "S2"))
            #expect(bS1 != aS1)

            // b (an hour ahead) edits S1; a gets it under its own id.
            try await Task.sleep(for: .milliseconds(5))
            b.edit(bS1, ["weightRemaining": .int(640)])
            answer = try await b.sync()
            #expect(answer.changes.isEmpty)
            answer = try await a.sync()
            #expect(answer.serials == ["S1", "S3"])
            #expect(answer.change("S1")?["id"] == .int(aS1) && answer.change("S3")?["id"] == nil, "\(answer.text)")
            #expect(a.rows[aS1]?["weightRemaining"] == .int(640))

            // Both edit S2, different fields: the merge changes what each sent, so it goes back to the sender
            // under the sender's id, later than it was sent.
            try await Task.sleep(for: .milliseconds(5))
            a.edit(aS2, ["color": .string("galaxy black")])
            answer = try await a.sync()
            b.edit(bS2, ["weightRemaining": .int(300)])
            let sentByB = b.rows[bS2]!["lastUpdated"]!.integer!
            answer = try await b.sync()
            let back = try #require(answer.change("S2"), "\(answer.text)")
            #expect(back["id"] == .int(bS2))
            #expect((back.lastUpdated ?? 0) >= sentByB + 1, "sent \(sentByB), back \(back.lastUpdated ?? 0)")
            #expect(b.rows[bS2]?["color"] == .string("galaxy black") && b.rows[bS2]?["weightRemaining"] == .int(300))
            answer = try await a.sync()
            #expect(answer.change("S2")?["id"] == .int(aS2))
            #expect(a.rows[aS2]?["weightRemaining"] == .int(300) && a.rows[aS2]?["color"] == .string("galaxy black"))

            // A soft deletion travels as a's numeric id and reaches b as a serial; an id the server never saw
            // is listed as unresolved, not refused.
            try await Task.sleep(for: .milliseconds(5))
            a.softDelete(aS1)
            answer = try await a.sync(extraDeletions: [424_242])
            #expect(answer.unresolvedDeletions == [424_242], "\(answer.text)")
            #expect(a.rows[aS1] == nil)
            answer = try await b.sync()
            #expect(answer.deletions == ["S1"] && answer.changes.isEmpty, "\(answer.text)")
            #expect(try await harness.store.spool("S1")?.isDeleted == true)

            // Nothing new: both arrays still there, empty; and b's own numeric ids resolve its deletion.
            answer = try await a.sync()
            #expect(answer.changes.isEmpty && answer.deletions.isEmpty, "\(answer.text)")
            b.softDelete(bS3)
            answer = try await b.sync(extraDeletions: [bS1 + 1000])
            #expect(answer.unresolvedDeletions == [bS1 + 1000])
            #expect(try await harness.store.spool("S3")?.isDeleted == true)
            answer = try await a.sync()
            #expect(answer.deletions == ["S3"])

            // Every answer: 200, both arrays, never "id":null, never another browser's id, and CORS.
            for browser in [a, b] {
                #expect(browser.answers.count >= 5)
                for (request, r) in browser.answers {
                    #expect(r.status == 200)
                    #expect(r.headers["access-control-allow-origin"] == "*", "\(request)")
                    #expect(r.json["success"] == .bool(true))
                    #expect(r.json["changes"]?.arrayValue != nil && r.json["deletions"]?.arrayValue != nil, "\(r.text)")
                    #expect(!r.text.contains("\"id\":null") && !r.text.contains("\"id\": null"), "\(r.text)")
                    for spool in r.changes {
                        guard let id = spool["id"] else { continue }
                        #expect(browser.sentIDs[spool.serial] == id, "\(browser.name) got id \(id.jsonText) for \(spool.serial)")
                    }
                }
            }
        }
    }

    /// With `Origin: https://app.example`, a 200, a 400 and a 401 all carry `Access-Control-Allow-Origin`, or
    /// the browser shows "Failed to fetch" instead of the error.
    @Test func everyStatusCarriesCORS() async throws {
        try await Harness().app().test(.live) { client in
            let port = try #require(client.port)
            let good = #"{"apiKey":"\#(Harness.key)","deviceId":"cors","lastSyncTime":0,"changes":[],"deletions":[]}"#
            let bad = #"{"apiKey":"\#(Harness.key)","deviceId":"cors","lastSyncTime":"yesterday","changes":[],"deletions":[]}"#
            let wrongKey = #"{"apiKey":"not-the-key-not-the-key","deviceId":"cors","lastSyncTime":0,"changes":[],"deletions":[]}"#
            for (body, status) in [(good, 200), (bad, 400), (wrongKey, 401), (#"{"deviceId":"cors"}"#, 401), ("{", 401)] {
                let r = try await HTTPBrowser.post(port: port, body: body, origin: Self.origin)
                #expect(r.status == status, "\(body): \(r.status) \(r.text)")
                #expect(r.headers["access-control-allow-origin"] == "*", "\(status): \(r.headers)")
                #expect(r.headers["content-type"] == "application/json")
                if status != 200 { #expect(r.json["success"] == .bool(false) && r.json["error"]?.stringValue?.isEmpty == false) }
            }
            // 413 from the Content-Length, before the body (which is never sent).
            let r413 = try await offTheCooperativePool {
                let c = try LoopbackHTTP(host: "127.0.0.1", port: port)
                c.send("POST /api/sync HTTP/1.1\r\nHost: localhost\r\nOrigin: \(Self.origin)\r\nContent-Type: application/json\r\nContent-Length: \(33 << 20)\r\n\r\n")
                return try c.readAnswer()
            }
            #expect(r413.status == 413 && r413.headers["access-control-allow-origin"] == "*")
            let preflight = try await offTheCooperativePool {
                let c = try LoopbackHTTP(host: "127.0.0.1", port: port)
                c.send("OPTIONS /api/sync HTTP/1.1\r\nHost: localhost\r\nOrigin: \(Self.origin)\r\nAccess-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: content-type\r\n\r\n")
                return try c.readAnswer()
            }
            #expect((200..<300).contains(preflight.status) && preflight.headers["access-control-allow-origin"] == "*")
            #expect(preflight.headers["access-control-allow-headers"]?.lowercased().contains("content-type") == true)
        }
    }
}

/// What came back over the socket: the status, headers, the raw text and its JSON.
struct RawAnswer: Sendable {
    var status: Int
    var headers: [String: String]
    var text: String
    var json: [String: JSONValue]

    var changes: [Spool] { (json["changes"]?.arrayValue ?? []).compactMap { $0.objectValue.map(Spool.init(normalizedFields:)) } }
    var deletions: [String] { (json["deletions"]?.arrayValue ?? []).compactMap(\.stringValue) }
    var unresolvedDeletions: [Int64] { (json["unresolvedDeletions"]?.arrayValue ?? []).compactMap { if case .int(let n) = $0 { n } else { nil } } }
    var serials: [String] { (changes.map(\.serial) + deletions).sorted() }
    func change(_ serial: String) -> Spool? { changes.first { $0.serial == serial } }
}

/// A browser running the web app: rows keyed by a numeric Dexie id, its own clock (`skew` from the real one)
/// as `lastSyncTime`, soft deletions sent as ids, what comes back applied by id only (as `WebAppDevice` in
/// SpoolSyncTests, but through HTTP).
final class HTTPBrowser: @unchecked Sendable {
    let name: String
    let port: Int
    let skew: Int64
    var table = WebAppRows()
    var rows: [Int64: [String: JSONValue]] { get { table.rows } set { table.rows = newValue } }
    var lastSyncTime: Int64 { table.lastSyncTime }
    /// The id this browser last sent for each serial (what the server may send back to it).
    var sentIDs: [String: JSONValue] = [:]
    var answers: [(request: String, answer: RawAnswer)] = []

    init(_ name: String, port: Int, skew: Int64) {
        self.name = name
        self.port = port
        self.skew = skew
    }

    var now: Int64 { Int64(Date().timeIntervalSince1970 * 1000) + skew }

    func id(of serial: String) -> Int64? { rows.first { $0.value["serial"] == .string(serial) }?.key }

    @discardableResult
    func add(_ serial: String, _ fields: [String: JSONValue]) -> Int64 { table.add(serial, fields, at: now) }

    func edit(_ id: Int64, _ fields: [String: JSONValue]) {
        for (k, v) in fields { rows[id]?[k] = v }
        let time = max(now, (rows[id]?["lastUpdated"]?.integer ?? 0) + 1)
        rows[id]?["lastUpdated"] = .int(time)
    }

    func softDelete(_ id: Int64) {
        rows[id]?["deleted"] = .bool(true)
        let time = max(now, (rows[id]?["lastUpdated"]?.integer ?? 0) + 1)
        rows[id]?["lastUpdated"] = .int(time)
    }

    /// `SyncManager.sync()`: what changed since the last sync, posted; the answer applied; the clock kept.
    func sync(extraDeletions: [Int64] = []) async throws -> RawAnswer {
        // The sync starts after the last edit's millisecond (in the same one, a spool sent back at sent + 1
        // counts as changed since the sync and is sent once more: the same fields, a later lastUpdated).
        let lastEdit = rows.values.compactMap { $0["lastUpdated"]?.integer }.max() ?? 0
        while now <= lastEdit, now > lastEdit - 1_000 { try await Task.sleep(for: .milliseconds(1)) }
        let start = now
        let changed = table.changed
        let changes = changed.filter { $0["deleted"] != .bool(true) }
        let deletions = changed.filter { $0["deleted"] == .bool(true) }.map { $0["id"]! } + extraDeletions.map { JSONValue.int($0) }
        for c in changes { sentIDs[c["serial"]!.stringValue!] = c["id"] }
        let body = JSONValue.object([
            "apiKey": .string(Harness.key), "deviceId": .string(name), "lastSyncTime": .int(lastSyncTime),
            "changes": .array(changes.map { .object($0) }), "deletions": .array(deletions),
        ]).jsonText
        let answer = try await Self.post(port: port, body: body, origin: WebAppOverHTTPTests.origin)
        answers.append((body, answer))
        guard answer.status == 200 else {
            throw LoopbackHTTP.Failure(description: "\(name): \(answer.status) \(answer.text)")
        }
        table.apply(answer.changes)
        table.finishSync(startedAt: start)
        return answer
    }

    /// One `fetch` as the web app makes it: a new connection, `Content-Type: application/json`, no Authorization.
    static func post(port: Int, body: String, origin: String) async throws -> RawAnswer {
        try await offTheCooperativePool {
            let connection = try LoopbackHTTP(host: "127.0.0.1", port: port)
            let bytes = Array(body.utf8)
            let head = "POST /api/sync HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nOrigin: \(origin)\r\nContent-Type: application/json\r\nAccept: */*\r\nContent-Length: \(bytes.count)\r\n\r\n"
            guard connection.send(Array(head.utf8) + bytes) else { throw LoopbackHTTP.Failure(description: "the server closed the connection") }
            let a = try connection.readAnswer()
            let text = String(decoding: a.body, as: UTF8.self)
            return RawAnswer(status: a.status, headers: a.headers, text: text, json: (try? JSONParser.parse(a.body))?.objectValue ?? [:])
        }
    }
}

