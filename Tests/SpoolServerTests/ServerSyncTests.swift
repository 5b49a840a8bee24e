import Hummingbird
import HummingbirdTesting
import SpoolModel
import Testing

/// Requests that the service applies: these need SyncService's real apply (SpoolSync), and fail with 503 while
/// it is a placeholder.
@Suite struct ServerSyncTests {
    /// The web app's client: the key in the body, Dexie ids, numeric deletions, no Authorization header.
    static let webAppFirstSync = #"""
    {"apiKey":"\#(Harness.key)","deviceId":"web-1","lastSyncTime":0,
     "changes":[{"id":1,"serial":"PLA-1","brand":"Prusament","weightRemaining":640,"lastUpdated":1717200000000},
                {"id":2,"serial":"PETG-2","brand":"Sunlu","weightRemaining":1000,"lastUpdated":1717200000000}],
     "deletions":[99]}
    """#

    @Test func aFirstSyncIsAppliedAndAnswered() async throws {
        let harness = try Harness()
        try await harness.app().test(.router) { client in
            let r = try await client.sync(Self.webAppFirstSync)
            #expect(r.status == .ok, "\(r.json.jsonText)")
            #expect(r.headers[.contentType] == "application/json")
            #expect(r.headers[.accessControlAllowOrigin] == "*")
            let body = try #require(r.json.objectValue)
            #expect(body["success"] == .bool(true))
            #expect(body["changes"]?.arrayValue != nil && body["deletions"]?.arrayValue != nil)
            #expect(body["stats"]?.objectValue?["totalSpools"] == .int(2))
            #expect(body["unresolvedDeletions"] == .array([.int(99)]))

            let summary = try await client.execute(uri: "/api/sync", method: .get, headers: [.authorization: "Bearer \(Harness.key)"])
            #expect(summary.status == .ok)
            #expect(summary.json.objectValue?["totalSpools"] == .int(2))
            let head = try await harness.store.head()
            #expect(summary.json.objectValue?["head"] == head.map { .string($0.hex) })
        }
    }

    @Test func aRetryChangesNothing() async throws {
        let harness = try Harness()
        try await harness.app().test(.router) { client in
            #expect(try await client.sync(Self.webAppFirstSync).status == .ok)
            let head = try await harness.store.head()
            #expect(try await client.sync(Self.webAppFirstSync).status == .ok)
            #expect(try await harness.store.head() == head)
        }
    }

    @Test func anotherDeviceReceivesTheSpools() async throws {
        let harness = try Harness()
        try await harness.app().test(.router) { client in
            #expect(try await client.sync(Self.webAppFirstSync).status == .ok)
            let r = try await client.sync(#"{"deviceId":"phone","lastSyncTime":0,"changes":[],"deletions":[]}"#, bearer: Harness.key)
            #expect(r.status == .ok)
            let serials = r.json.objectValue?["changes"]?.arrayValue?.compactMap { $0.objectValue?["serial"]?.stringValue }
            #expect(Set(serials ?? []) == ["PLA-1", "PETG-2"])
            // Dexie ids are local to the browser that sent them.
            #expect(r.json.objectValue?["changes"]?.arrayValue?.allSatisfy { $0.objectValue?["id"] == nil } == true)
        }
    }

    @Test func aSyncOverASocket() async throws {
        try await Harness().app().test(.live) { client in
            let r = try await client.sync(Self.webAppFirstSync)
            #expect(r.status == .ok, "\(r.json.jsonText)")
        }
    }

    @Test(.enabled(if: OpenAPIChecker.available, Comment(rawValue: OpenAPIChecker.unavailable)))
    func appliedAnswersMatchTheDocument() async throws {
        let harness = try Harness()
        let answers = try await harness.app().test(.router) { client in
            let first = try await client.sync(Self.webAppFirstSync)
            let other = try await client.sync(#"{"deviceId":"phone","lastSyncTime":0,"changes":[],"deletions":[],"limit":1}"#, bearer: Harness.key)
            let summary = try await client.execute(uri: "/api/sync", method: .get, headers: [.authorization: "Bearer \(Harness.key)"])
            return [OpenAPIChecker.Answer(method: "post", path: "/api/sync", status: Int(first.status.code), body: first.json),
                    .init(method: "post", path: "/api/sync", status: Int(other.status.code), body: other.json),
                    .init(method: "get", path: "/api/sync", status: Int(summary.status.code), body: summary.json)]
        }
        #expect(answers.allSatisfy { $0.status == 200 }, "\(answers.map(\.status))")
        let (status, report) = try await offTheCooperativePool { [answers] in try OpenAPIChecker.check(answers) }
        #expect(status == 0, "\(report)")
    }
}
