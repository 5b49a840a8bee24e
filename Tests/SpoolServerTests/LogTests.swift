import Hummingbird
import HummingbirdTesting
import Testing

/// One structured line per request, and never a key, right or wrong, header or body.
@Suite struct LogTests {
    static let wrongKey = "wrong-secret-ABCDEF1234567890"

    @Test func keysNeverReachTheLog() async throws {
        let harness = try Harness()
        try await harness.app().test(.router) { client in
            _ = try await client.sync(Harness.emptySync, bearer: Harness.key)
            _ = try await client.sync(Harness.emptySync, bearer: Self.wrongKey)
            _ = try await client.sync(Harness.emptySync, headers: [.authorization: "Basic \(Self.wrongKey)"])
            _ = try await client.sync(#"{"apiKey":"\#(Harness.key)","deviceId":"laptop","lastSyncTime":0,"changes":[],"deletions":[]}"#)
            _ = try await client.sync(#"{"apiKey":"\#(Self.wrongKey)","deviceId":"laptop","lastSyncTime":0,"changes":[],"deletions":[]}"#)
            _ = try await client.sync(#"{"apiKey":"\#(Harness.key)","deviceId":5"#)
            _ = try await client.sync(#"{"apiKey":"\#(Harness.key)","deviceId":5}"#, bearer: Harness.key)
            _ = try await client.execute(uri: "/api/sync", method: .get, headers: [.authorization: "Bearer \(Harness.key)"])
            _ = try await client.execute(uri: "/api/sync?apiKey=\(Harness.key)", method: .get)
        }
        let lines = harness.logs.all
        #expect(lines.count >= 9)
        for secret in [Harness.key, Self.wrongKey] {
            #expect(!lines.contains { $0.contains(secret) }, "\(secret) logged: \(lines.filter { $0.contains(secret) })")
        }
    }

    @Test func eachRequestIsOneLineWithItsFields() async throws {
        let harness = try Harness()
        try await harness.app().test(.router) { client in
            _ = try await client.sync(#"{"deviceId":"laptop","lastSyncTime":0,"changes":[],"deletions":["a","b"]}"#, bearer: Harness.key)
            _ = try await client.sync("[]", bearer: Harness.key)
        }
        let lines = harness.logs.all.filter { $0.contains("path=/api/sync") }
        #expect(lines.count == 2, "\(harness.logs.all)")
        let applied = try #require(lines.first)
        for field in ["method=POST", "deviceId=laptop", "changes=0", "deletions=2", "duration_ms=", "status="] {
            #expect(applied.contains(field), "\(field) missing from \(applied)")
        }
        let refused = try #require(lines.last)
        #expect(refused.contains("status=400") && refused.contains("error="), "\(refused)")
    }
}
