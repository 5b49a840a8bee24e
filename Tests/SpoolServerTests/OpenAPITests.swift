import Hummingbird
import HummingbirdTesting
import SpoolModel
@testable import SpoolSync
import Testing

/// The committed OpenAPI document describes what the server really answers.
@Suite struct OpenAPITests {
    @Test(.enabled(if: OpenAPIChecker.available, Comment(rawValue: OpenAPIChecker.unavailable)))
    func realAnswersMatchTheDocument() async throws {
        let harness = try Harness(maxBodyBytes: 4_096, batchLimit: 2)
        var answers = try await harness.app().test(.router) { client in
            var answers: [OpenAPIChecker.Answer] = []
            func keep(_ method: String, _ path: String, _ r: TestResponse) {
                answers.append(.init(method: method, path: path, status: Int(r.status.code), body: r.body.readableBytes == 0 ? nil : r.json))
            }
            keep("post", "/api/sync", try await client.sync(Harness.emptySync))
            keep("post", "/api/sync", try await client.sync(Harness.emptySync, bearer: "wrong-key-wrong-key"))
            keep("post", "/api/sync", try await client.sync("{", bearer: Harness.key))
            keep("post", "/api/sync", try await client.sync("{}", bearer: Harness.key))
            keep("post", "/api/sync", try await client.sync(#"{"deviceId":1,"lastSyncTime":"0","changes":[{"serial":""}],"deletions":[{}]}"#, bearer: Harness.key))
            keep("post", "/api/sync", try await client.sync(String(repeating: " ", count: 5_000), bearer: Harness.key))
            keep("post", "/api/sync", try await client.sync(#"{"deviceId":"a","lastSyncTime":0,"changes":[],"deletions":[1,2,3]}"#, bearer: Harness.key))
            // What the service answers a valid request (200 once it applies them; 503 while it cannot).
            keep("post", "/api/sync", try await client.sync(Harness.emptySync, bearer: Harness.key))
            keep("get", "/api/sync", try await client.execute(uri: "/api/sync", method: .get))
            keep("get", "/api/sync", try await client.execute(uri: "/api/sync", method: .get, headers: [.authorization: "Bearer \(Harness.key)"]))
            keep("options", "/api/sync", try await client.execute(uri: "/api/sync", method: .options))
            keep("get", "/health", try await client.execute(uri: "/health", method: .get))
            keep("head", "/health", try await client.execute(uri: "/health", method: .head))
            keep("get", "/openapi.json", try await client.execute(uri: "/openapi.json", method: .get))
            return answers
        }
        #expect(Set(answers.map(\.status)).isSuperset(of: [200, 204, 400, 401, 413]))

        // Every optional field of a 200, as the service's types write it.
        let full = SyncResponse(serverTime: 1_717_200_000_001, cursor: "c1", changes: [Spool(normalizedFields: [
            "serial": .string("PLA-1"), "id": .int(12), "brand": .string("Prusament"), "weightRemaining": .double(640.5),
            "tags": .array([.string("matte")]), "lastUpdated": .int(1_717_200_000_001)])],
            deletions: ["PETG-2"], conflicts: [SyncConflict(serial: "PLA-1", field: "weightRemaining", clientValue: .int(700),
            serverValue: .double(640.5), winner: "server", reason: "the server's change is later", id: "c0ffee")],
            totalSpools: 1, synced: 2, hasMore: true, unresolvedDeletions: [7],
            renamed: [SyncRename(id: 13, serial: "PLA-1", newSerial: "PLA-1~id-13")], fullResync: true, head: "abc")
        let conflictWithoutValues = SyncConflict(serial: "PETG-2", field: "deleted", clientValue: nil, serverValue: .bool(true),
                                                 winner: "server", reason: "deleted later", id: "d00d")
        for response in [full, SyncResponse(serverTime: 2, cursor: "c2", conflicts: [conflictWithoutValues])] {
            answers.append(.init(method: "post", path: "/api/sync", status: 200, body: try JSONParser.parse(response.jsonBytes)))
        }
        for summary in [SyncSummary(totalSpools: 0, lastModified: 0, head: nil), SyncSummary(totalSpools: 3, lastModified: 1, head: "abc"),
                        SyncSummary(totalSpools: 3, lastModified: 1, head: "abc", publishError: "objects/pack: cannot write a pack file: No space left on device")] {
            answers.append(.init(method: "get", path: "/api/sync", status: 200, body: summary.json))
        }

        let (status, report) = try await offTheCooperativePool { [answers] in try OpenAPIChecker.check(answers) }
        #expect(status == 0, "\(report)")
    }

    /// The checker finds a mismatch (it is not a test that always passes).
    @Test(.enabled(if: OpenAPIChecker.available, Comment(rawValue: OpenAPIChecker.unavailable)))
    func theCheckerRejectsAnUndocumentedShape() throws {
        let (status, report) = try OpenAPIChecker.check([
            .init(method: "post", path: "/api/sync", status: 401, body: .object(["success": .bool(false)])),
            .init(method: "post", path: "/api/sync", status: 418, body: .object([:])),
        ])
        #expect(status == 1)
        #expect(report.contains("'error' is a required property"), "\(report)")
        #expect(report.contains("418 is not documented"), "\(report)")
    }
}
