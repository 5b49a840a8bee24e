import Hummingbird
import HummingbirdTesting
import SpoolModel
@testable import SpoolServer
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

/// An error no route expected is the server's fault, never the input's: 503 with a message, and the error in the log.
@Suite struct UnexpectedErrorTests {
    struct Breakdown: Error {}

    @Test func anUnexpectedErrorIs503AndLogged() async throws {
        let logs = LogCollector()
        let router = Router(context: ServerRequestContext.self)
        router.add(middleware: RequestLogMiddleware(key: APIKey("route-test-key-0123456789")))
        router.add(middleware: ErrorResponseMiddleware())
        router.get("/breaks") { _, _ -> Response in throw Breakdown() }
        router.get("/works") { _, _ -> Response in Response(status: .ok) }
        try await Application(router: router, logger: logs.logger).test(.router) { client in
            let r = try await client.execute(uri: "/breaks", method: .get)
            #expect(r.status == .serviceUnavailable)
            #expect(r.error?.contains("send the request again") == true)
            #expect(!(r.error ?? "").contains("Breakdown"), "the answer tells the cause only to the log")
            #expect(try await client.execute(uri: "/works", method: .get).status == .ok)
        }
        #expect(logs.all.contains { $0.hasPrefix("error") && $0.contains("Breakdown") }, "\(logs.all)")
        // The request's line: a warning for the 503 (the server's trouble), info for the 200.
        #expect(logs.all.contains { $0.hasPrefix("warning GET /breaks 503") }, "\(logs.all)")
        #expect(logs.all.contains { $0.hasPrefix("info GET /works 200") }, "\(logs.all)")
    }
}
