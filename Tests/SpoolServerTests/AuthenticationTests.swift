import Foundation
import Hummingbird
import HummingbirdTesting
import SpoolModel
@testable import SpoolServer
import Testing

/// The key is checked first: a request without a valid key gets 401 whatever else is wrong with it.
@Suite struct AuthenticationTests {
    static let withBodyKey = #"{"apiKey":"\#(Harness.key)","deviceId":"laptop","lastSyncTime":0,"changes":[],"deletions":[]}"#
    static let withWrongBodyKey = #"{"apiKey":"test-key-6f1d2c9a8b7e4f31","deviceId":"laptop","lastSyncTime":0,"changes":[],"deletions":[]}"#

    @Test func noKeyIsRefused() async throws {
        try await Harness().app().test(.router) { client in
            let r = try await client.sync(Harness.emptySync)
            #expect(r.status == .unauthorized)
            #expect(r.error?.contains("Authorization: Bearer") == true)
            #expect(r.headers[.wwwAuthenticate] == "Bearer")
        }
    }

    @Test(arguments: [
        ("wrong header key", withBodyKey.replacingOccurrences(of: Harness.key, with: "x"), Optional("test-key-6f1d2c9a8b7e4f31")),
        ("wrong body key", withWrongBodyKey, nil),
        ("right header, wrong body key", withWrongBodyKey, Optional(Harness.key)),
        ("wrong header, right body key", withBodyKey, Optional("test-key-6f1d2c9a8b7e4f31")),
        ("a prefix of the key", Harness.emptySync, Optional(String(Harness.key.dropLast()))),
        ("the key and more", Harness.emptySync, Optional(Harness.key + "0")),
        ("an empty key", #"{"apiKey":"","deviceId":"laptop","lastSyncTime":0,"changes":[],"deletions":[]}"#, nil),
        ("a body key that is not a string", #"{"apiKey":12345,"deviceId":"laptop","lastSyncTime":0,"changes":[],"deletions":[]}"#, Optional(Harness.key)),
        ("malformed body, no key", #"{"apiKey": "\#(Harness.key)", "deviceId": "#, nil),
        ("not an object, no key", #"["\#(Harness.key)"]"#, nil),
        ("malformed body, wrong header", "{{{", Optional("test-key-6f1d2c9a8b7e4f31")),
    ] as [(String, String, String?)])
    func wrongOrMissingKeysAreRefusedWhateverElseIsWrong(_ name: String, body: String, bearer: String?) async throws {
        try await Harness().app().test(.router) { client in
            let r = try await client.sync(body, bearer: bearer)
            #expect(r.status == .unauthorized, "\(name): \(r.status) \(r.error ?? "")")
            #expect(r.json.objectValue?["success"] == .bool(false))
        }
    }

    @Test func anAuthorizationHeaderOfAnotherSchemeIsRefused() async throws {
        try await Harness().app().test(.router) { client in
            let r = try await client.sync(Self.withBodyKey, headers: [.authorization: "Basic \(Harness.key)"])
            #expect(r.status == .unauthorized)
            #expect(r.error?.contains("Bearer <key>") == true)
        }
    }

    /// Past authentication the request reaches the service (whose answer depends on it; never 401 or 400 here).
    @Test(arguments: [
        ("header", Harness.emptySync, Optional(Harness.key)),
        ("body", withBodyKey, nil),
        ("both", withBodyKey, Optional(Harness.key)),
    ] as [(String, String, String?)])
    func theRightKeyInTheHeaderOrTheBodyIsAccepted(_ name: String, body: String, bearer: String?) async throws {
        try await Harness().app().test(.router) { client in
            let r = try await client.sync(body, bearer: bearer)
            #expect(![.unauthorized, .badRequest].contains(r.status), "\(name): \(r.status) \(r.error ?? "")")
        }
    }

    @Test func theBearerSchemeNameIsReadInAnyCase() async throws {
        try await Harness().app().test(.router) { client in
            let r = try await client.sync(Harness.emptySync, headers: [.authorization: "bearer \(Harness.key)"])
            #expect(r.status != .unauthorized)
        }
    }

    @Test func aMalformedBodyWithTheRightHeaderIsABadRequest() async throws {
        try await Harness().app().test(.router) { client in
            let r = try await client.sync("{{{", bearer: Harness.key)
            #expect(r.status == .badRequest)
        }
    }

    @Test func theSummaryTakesItsKeyFromTheHeaderOnly() async throws {
        try await Harness().app().test(.router) { client in
            let none = try await client.execute(uri: "/api/sync", method: .get)
            #expect(none.status == .unauthorized)
            #expect(none.error?.contains("Authorization: Bearer") == true)
            let wrong = try await client.execute(uri: "/api/sync", method: .get, headers: [.authorization: "Bearer nope-nope-nope-nope"])
            #expect(wrong.status == .unauthorized)
            let right = try await client.execute(uri: "/api/sync", method: .get, headers: [.authorization: "Bearer \(Harness.key)"])
            #expect(right.status != .unauthorized)
        }
    }

    @Test func keysAreComparedWhole() {
        let key = APIKey("0123456789abcdef")
        #expect(key.matches("0123456789abcdef"))
        #expect(!key.matches("0123456789abcdeF"))
        #expect(!key.matches("0123456789abcde"))
        #expect(!key.matches("0123456789abcdef0"))
        #expect(!key.matches(""))
        #expect(!APIKey("").matches(""), "an empty key authenticates nothing")
    }

    @Test func weakKeysAreNamed() {
        #expect(APIKeyPolicy.problem(with: nil) != nil)
        #expect(APIKeyPolicy.problem(with: "") != nil)
        #expect(APIKeyPolicy.problem(with: "short-key") != nil)
        #expect(APIKeyPolicy.problem(with: "dev-key-change-in-production") != nil)
        #expect(APIKeyPolicy.problem(with: "your-secret-key-here") != nil)
        #expect(APIKeyPolicy.problem(with: "a key with spaces in it") != nil)
        #expect(APIKeyPolicy.problem(with: Harness.key) == nil)
        let generated = APIKeyPolicy.generate()
        #expect(generated.count == 64 && generated.allSatisfy(\.isHexDigit))
        #expect(APIKeyPolicy.problem(with: generated) == nil)
        #expect(generated != APIKeyPolicy.generate())
    }
}
