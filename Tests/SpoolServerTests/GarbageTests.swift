import Foundation
import Hummingbird
import HummingbirdTesting
import SpoolModel
import SpoolTestSupport
import Testing

/// Hostile input never gets a 5xx and never changes the history.
@Suite struct GarbageTests {
    static let count = 10_000

    @Test func tenThousandGarbageRequestsGetNo5xxAndLeaveMainAlone() async throws {
        let harness = try Harness(maxBodyBytes: 64 << 10)
        try await harness.seed()
        let before = try await harness.store.head()
        var generator = SeededGenerator(seed: 20_240_601)
        let requests = (0..<Self.count).map { _ in GarbageRequest.random(using: &generator) }

        let started = ContinuousClock.now
        let statuses = try await harness.app().test(.router) { client in
            var statuses: [Int: Int] = [:]
            for request in requests {
                let r = try await client.execute(uri: request.path, method: request.method, headers: request.headers,
                                                 body: ByteBuffer(bytes: request.body))
                statuses[Int(r.status.code), default: 0] += 1
                if r.status.code >= 500 || (r.status == .ok && request.method == .post) {
                    Issue.record("\(r.status) for \(request.method) \(request.path) \(request.headers) \(String(decoding: request.body.prefix(200), as: UTF8.self))")
                }
            }
            return statuses
        }
        let elapsed = ContinuousClock.now - started

        #expect(try await harness.store.head() == before, "main moved")
        #expect(Set(statuses.keys).isSubset(of: [200, 400, 401, 404, 413]), "\(statuses)")
        #expect(!harness.logs.all.contains { $0.contains(Harness.key) }, "the key was logged")
        print("\(Self.count) garbage requests in \(elapsed): \(statuses.sorted { $0.key < $1.key })")
    }
}

/// A request that no server should accept: random bytes, JSON of the wrong shape, truncated or deeply nested
/// bodies, wrong keys, paths and methods the API does not have. None is a valid sync request, so none may
/// reach the history.
struct GarbageRequest {
    var method: HTTPRequest.Method = .post
    var path = "/api/sync"
    var headers: HTTPFields = [:]
    var body: [UInt8] = []

    static let valid = Array(#"{"deviceId":"laptop","lastSyncTime":0,"changes":[{"serial":"PLA-1","lastUpdated":1}],"deletions":["PETG-2"]}"#.utf8)

    static func random(using g: inout SeededGenerator) -> GarbageRequest {
        var r = GarbageRequest()
        switch Int.random(in: 0..<4, using: &g) {
        case 0: break
        case 1: r.headers[.authorization] = "Bearer \(randomText(using: &g))"
        case 2: r.headers[.authorization] = ["Basic x", "Bearer", "bearer  ", "\(Harness.key)"].randomElement(using: &g)!
        default: r.headers[.authorization] = "Bearer \(Harness.key)"
        }
        switch Int.random(in: 0..<8, using: &g) {
        case 0:
            r.body = (0..<Int.random(in: 0..<512, using: &g)).map { _ in UInt8.random(in: 0...255, using: &g) }
        case 1:
            r.body = Array(randomValue(depth: 0, using: &g).jsonText.utf8)
            if r.body.first == UInt8(ascii: "{") { r.body = Array("[\(String(decoding: r.body, as: UTF8.self))]".utf8) }
        case 2:
            r.body = Array(malformedObject(using: &g).jsonText.utf8)
        case 3:
            r.body = Array(valid[..<Int.random(in: 0..<(valid.count - 1), using: &g)])
        case 4:
            let depth = Int.random(in: 100..<20_000, using: &g)
            r.body = Array(repeating: UInt8(ascii: "["), count: depth) + Array(repeating: UInt8(ascii: "]"), count: Int.random(in: 0...depth, using: &g))
        case 5:
            // The right shape, but a change without a usable serial.
            let serial: JSONValue = [.string(""), .int(7), .null, .bool(true)].randomElement(using: &g)!
            r.body = Array(JSONValue.object(["deviceId": .string("laptop"), "lastSyncTime": .int(0), "deletions": .array([]),
                                             "changes": .array([.object(["serial": serial, "lastUpdated": .int(1)])])]).jsonText.utf8)
        case 6:
            r.method = [.get, .put, .delete, .patch, .head].randomElement(using: &g)!
            r.path = ["/api/sync/", "/api", "/", "/api/sync/../health", "/%00", "/api/sync?apiKey=\(Harness.key)", "/" + randomText(using: &g)].randomElement(using: &g)!
            // No key: a GET that reaches the summary or /health is an answer, not garbage.
            r.headers[.authorization] = nil
        default:
            // Bytes that are not UTF-8 inside strings.
            r.body = Array(#"{"deviceId":""#.utf8) + [0xC3, 0x28, 0xFF] + Array(#"","lastSyncTime":0,"changes":[],"deletions":[]}"#.utf8)
        }
        if Int.random(in: 0..<4, using: &g) == 0 { r.headers[.contentType] = ["text/plain", "application/x-www-form-urlencoded", "💥"].randomElement(using: &g)! }
        return r
    }

    static func randomText(using g: inout SeededGenerator) -> String {
        String((0..<Int.random(in: 0..<40, using: &g)).map { _ in Character(Unicode.Scalar(UInt8.random(in: 0x21...0x7E, using: &g))) })
    }

    static func randomValue(depth: Int, using g: inout SeededGenerator) -> JSONValue {
        switch Int.random(in: 0..<(depth > 3 ? 5 : 7), using: &g) {
        case 0: return .null
        case 1: return .bool(Bool.random(using: &g))
        case 2: return .int(Int64.random(in: .min ... .max, using: &g))
        case 3: return .double(Double.random(in: -1e300...1e300, using: &g))
        case 4: return .string(randomText(using: &g))
        case 5: return .array((0..<Int.random(in: 0..<5, using: &g)).map { _ in randomValue(depth: depth + 1, using: &g) })
        default:
            return .object(Dictionary((0..<Int.random(in: 0..<5, using: &g)).map { _ in (randomText(using: &g), randomValue(depth: depth + 1, using: &g)) }) { a, _ in a })
        }
    }

    /// An object with the request's fields where at least one required field is missing or of the wrong type,
    /// sometimes with a body key (right or wrong).
    static func malformedObject(using g: inout SeededGenerator) -> JSONValue {
        let good: [String: JSONValue] = ["deviceId": .string("laptop"), "lastSyncTime": .int(0), "changes": .array([]), "deletions": .array([])]
        let wrong: [String: JSONValue] = ["deviceId": .int(1), "lastSyncTime": .string("0"), "changes": .object([:]), "deletions": .string("all")]
        var fields: [String: JSONValue] = [:]
        let broken = good.keys.sorted().randomElement(using: &g)!
        for key in good.keys {
            switch key == broken ? Int.random(in: 0..<2, using: &g) : Int.random(in: 0..<6, using: &g) {
            case 0: break
            case 1: fields[key] = wrong[key]
            default: fields[key] = good[key]
            }
        }
        switch Int.random(in: 0..<3, using: &g) {
        case 0: fields["apiKey"] = .string(Harness.key)
        case 1: fields["apiKey"] = .string(randomText(using: &g))
        default: break
        }
        return .object(fields)
    }
}
