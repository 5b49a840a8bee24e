import Hummingbird
import HummingbirdTesting
import SpoolModel
import SpoolSync
import Testing

/// An authenticated request that is malformed gets 400 with every problem in `details`.
@Suite struct BadRequestTests {
    @Test(arguments: [
        ("not JSON", "{\"deviceId\": ", [""]),
        ("empty body", "", [""]),
        ("an array", "[1, 2]", [""]),
        ("a number", "42", [""]),
        ("a string", "\"sync\"", [""]),
        ("null", "null", [""]),
        ("every field missing", "{}", ["deviceId", "lastSyncTime", "changes", "deletions"]),
        ("wrong types", #"{"deviceId":5,"lastSyncTime":"yesterday","changes":{},"deletions":"all"}"#,
         ["deviceId", "lastSyncTime", "changes", "deletions"]),
        ("empty serials", #"{"deviceId":"laptop","lastSyncTime":0,"changes":[{"serial":"","lastUpdated":1}],"deletions":[""]}"#,
         ["changes[0].serial", "deletions[0]"]),
        ("a change without serial or time", #"{"deviceId":"laptop","lastSyncTime":0,"changes":[{"brand":"X"}, 7],"deletions":[]}"#,
         ["changes[0].serial", "changes[0].lastUpdated", "changes[1]"]),
        ("optional fields of the wrong type", #"{"deviceId":"laptop","lastSyncTime":0,"changes":[],"deletions":[],"cursor":1,"clientTime":"now","limit":0}"#,
         ["cursor", "clientTime", "limit"]),
        ("an empty device id and a negative time", #"{"deviceId":"","lastSyncTime":-1,"changes":[],"deletions":[]}"#,
         ["deviceId", "lastSyncTime"]),
        // The spools' own problems come in the same answer as the request's (found by a new user: the bad weight
        // was reported only once the missing time was mended).
        ("a spool's time and its weight", #"{"deviceId":"laptop","lastSyncTime":0,"changes":[7,{"serial":"S2","weightRemaining":"x"},{"serial":"S3","lastUpdated":1,"deleted":"yes"}],"deletions":[]}"#,
         ["changes[0]", "changes[1].lastUpdated", "changes[1].weightRemaining", "changes[2].deleted"]),
    ] as [(String, String, [String])])
    func malformedRequestsListEveryProblem(_ name: String, body: String, paths: [String]) async throws {
        try await Harness().app().test(.router) { client in
            let r = try await client.sync(body, bearer: Harness.key)
            #expect(r.status == .badRequest, "\(name): \(r.status)")
            #expect(r.headers[.contentType] == "application/json")
            #expect(r.json.objectValue?["success"] == .bool(false))
            #expect(r.error?.isEmpty == false)
            #expect(r.detailPaths == paths, "\(name): \(r.json.jsonText)")
        }
    }

    /// A body of many bad elements is answered with the first problems and their count, not one entry each (200,000
    /// bad elements, 600 KB, were answered with 40 MB of details): the two checks, the request's shape and each spool's
    /// fields.
    @Test(arguments: [("1", "changes[0]", "changes[99]"), (#"{"serial":"s","lastUpdated":1,"weightRemaining":"heavy"}"#, "changes[0].weightRemaining", "changes[99].weightRemaining")])
    func manyProblemsAreListedUpToALimit(_ element: String, first: String, last: String) async throws {
        let count = 5 * SyncFailure.detailsShown
        let body = #"{"deviceId":"laptop","lastSyncTime":0,"deletions":[],"changes":["# + Array(repeating: element, count: count).joined(separator: ",") + "]}"
        try await Harness().app().test(.router) { client in
            let r = try await client.sync(body, bearer: Harness.key)
            #expect(r.status == .badRequest)
            #expect(r.detailPaths.count == SyncFailure.detailsShown, "\(r.detailPaths.count) details")
            #expect(r.detailPaths.first == first && r.detailPaths.last == last, "\(r.detailPaths.prefix(2)) … \(r.detailPaths.suffix(1))")
            #expect(r.error?.contains("\(count) problems") == true, "\(r.error ?? "")")
        }
    }

    /// The web app's client sends its own clock as lastSyncTime, far ahead of the server's: never a 400.
    @Test func aLastSyncTimeFromTheFutureIsNotABadRequest() async throws {
        try await Harness().app().test(.router) { client in
            let r = try await client.sync(#"{"deviceId":"laptop","lastSyncTime":99999999999999,"changes":[],"deletions":[42]}"#, bearer: Harness.key)
            #expect(r.status != .badRequest, "\(r.json.jsonText)")
        }
    }
}
