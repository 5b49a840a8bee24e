import Hummingbird
import HummingbirdTesting
import Testing

/// The web app served from another origin needs CORS on every answer, or it shows "Failed to fetch".
@Suite struct CORSTests {
    @Test(arguments: ["/api/sync", "/health", "/anything/else"])
    func preflightIsAnsweredOnAnyPath(_ path: String) async throws {
        try await Harness().app().test(.router) { client in
            let r = try await client.execute(uri: path, method: .options, headers: [
                .origin: "https://spools.example.org", .accessControlRequestMethod: "POST",
                .accessControlRequestHeaders: "content-type, authorization",
            ])
            #expect(r.status == .noContent)
            #expect(r.headers[.accessControlAllowOrigin] == "*")
            #expect(r.headers[.accessControlAllowMethods] == "GET, POST, OPTIONS")
            #expect(r.headers[.accessControlAllowHeaders] == "content-type, authorization")
            #expect(r.headers[.accessControlMaxAge].flatMap { Int($0) }.map { $0 > 0 } == true)
        }
    }

    @Test func everyAnswerCarriesTheOrigin() async throws {
        try await Harness(maxBodyBytes: 100).app().test(.router) { client in
            var answers = [
                try await client.sync(Harness.emptySync),
                try await client.sync("[]", bearer: Harness.key),
                try await client.sync(String(repeating: " ", count: 200), bearer: Harness.key),
                try await client.sync(Harness.emptySync, bearer: Harness.key),
                try await client.execute(uri: "/health", method: .get),
                try await client.execute(uri: "/nowhere", method: .get),
            ]
            answers.append(try await client.execute(uri: "/api/sync", method: .put, headers: [.origin: "https://spools.example.org"]))
            #expect(answers.map(\.status.code) == [401, 400, 413, answers[3].status.code, 200, 404, 404])
            for r in answers { #expect(r.headers[.accessControlAllowOrigin] == "*", "\(r.status)") }
        }
    }

    @Test func aConfiguredOriginIsTheOneAllowed() async throws {
        try await Harness(allowedOrigin: "https://spools.example.org").app().test(.router) { client in
            let preflight = try await client.execute(uri: "/api/sync", method: .options)
            #expect(preflight.headers[.accessControlAllowOrigin] == "https://spools.example.org")
            let refused = try await client.sync(Harness.emptySync)
            #expect(refused.headers[.accessControlAllowOrigin] == "https://spools.example.org")
        }
    }
}
