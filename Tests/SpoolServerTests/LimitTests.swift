import Hummingbird
import HummingbirdTesting
import SpoolModel
import Testing

/// A body over the limit gets 413 before it is read; so does a batch over the service's limit.
@Suite struct LimitTests {
    static let limit = 4_096
    static var oversized: String {
        #"{"deviceId":"laptop","lastSyncTime":0,"changes":[],"deletions":["# + String(repeating: #""PLA-0001","#, count: 500) + #""x"]}"#
    }

    @Test func aBodyOverTheLimitIsRefusedFromItsLength() async throws {
        try await Harness(maxBodyBytes: Self.limit).app().test(.router) { client in
            let r = try await client.sync(Self.oversized, bearer: Harness.key)
            #expect(r.status == .contentTooLarge)
            #expect(r.error?.contains("\(Self.limit)") == true)
            #expect(r.error?.contains("smaller batches") == true)
            #expect(r.headers[.accessControlAllowOrigin] == "*")
        }
    }

    /// Without a header the key would be in the body, which is not read when too large: 413, not 401.
    @Test func anOversizedBodyWithoutAHeaderGets413() async throws {
        try await Harness(maxBodyBytes: Self.limit).app().test(.router) { client in
            let r = try await client.sync(Self.oversized)
            #expect(r.status == .contentTooLarge)
        }
    }

    /// A wrong header is refused before the size is looked at.
    @Test func aWrongHeaderIsRefusedBeforeTheSize() async throws {
        try await Harness(maxBodyBytes: Self.limit).app().test(.router) { client in
            let r = try await client.sync(Self.oversized, bearer: "wrong-key-wrong-key")
            #expect(r.status == .unauthorized)
        }
    }

    @Test func aBodyAtTheLimitIsRead() async throws {
        try await Harness(maxBodyBytes: Self.limit).app().test(.router) { client in
            let body = Harness.emptySync + String(repeating: " ", count: Self.limit - Harness.emptySync.utf8.count)
            let r = try await client.sync(body, bearer: Harness.key)
            #expect(r.status != .contentTooLarge)
            #expect(r.status != .badRequest)
        }
    }

    @Test func moreEntriesThanTheBatchLimitAskForBatches() async throws {
        try await Harness(batchLimit: 2).app().test(.router) { client in
            let r = try await client.sync(#"{"deviceId":"laptop","lastSyncTime":0,"changes":[],"deletions":["a","b","c"]}"#, bearer: Harness.key)
            #expect(r.status == .contentTooLarge)
            #expect(r.error?.contains("batches") == true)
        }
    }
}
