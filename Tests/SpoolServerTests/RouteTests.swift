import Hummingbird
import HummingbirdTesting
import SpoolModel
import Testing

/// The routes that need no key, and the answer for a path the server does not have.
@Suite struct RouteTests {
    @Test func healthNeedsNoKey() async throws {
        try await Harness().app().test(.router) { client in
            let r = try await client.execute(uri: "/health", method: .get)
            #expect(r.status == .ok)
            #expect(r.json == .object(["status": .string("ok")]))
            #expect(r.headers[.contentType] == "application/json")
        }
    }

    @Test func theOpenAPIDocumentIsServed() async throws {
        try await Harness().app().test(.router) { client in
            let r = try await client.execute(uri: "/openapi.json", method: .get)
            #expect(r.status == .ok)
            #expect(r.json.objectValue?["openapi"]?.stringValue?.hasPrefix("3.1") == true)
            #expect(r.json.objectValue?["paths"]?.objectValue?["/api/sync"] != nil)
        }
    }

    @Test func anUnknownPathOrMethodIs404InTheAPIsShape() async throws {
        try await Harness().app().test(.router) { client in
            for (path, method) in [("/nowhere", HTTPRequest.Method.get), ("/api/sync", .delete), ("/health", .post)] {
                let r = try await client.execute(uri: path, method: method)
                #expect(r.status == .notFound)
                #expect(r.json.objectValue?["success"] == .bool(false))
                #expect(r.error?.contains("/api/sync") == true)
            }
        }
    }
}
