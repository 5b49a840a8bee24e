import Foundation
import Hummingbird
import HummingbirdTesting
import SpoolHistory
import SpoolModel
import SpoolServer
import SpoolSync
import SpoolTestSupport
import Testing

/// Hostile values in every field of `POST /api/sync`, authenticated, one at a time: each is answered 200 or
/// 400/413 (never a 5xx, never a crash of the server); a refused request writes nothing (main, the device's
/// branch and the data folder's files are as they were); no serial or device name ever becomes a path outside
/// the history's objects and references; and the history passes `git fsck --strict` and `verify` at the end.
@Suite struct HostileInputTests {
    static let now: Int64 = 1_750_000_000_000

    /// 1,024 bytes: the longest serial; one more byte is refused.
    static let longestSerial = "L" + String(repeating: "/", count: 1000) + String(repeating: "é", count: 11) + "x"
    static let tooLongSerial = longestSerial + "y"

    @Test func serialsThatLookLikePathsStayFilesOfTheHistory() async throws {
        let world = try await World()
        #expect(Self.longestSerial.utf8.count == 1024 && Self.tooLongSerial.utf8.count == 1025)
        let accepted = ["../../x", "..", "/etc/passwd", "a\u{0}b", Self.longestSerial, ".", "spools/../../HEAD", "refs/heads/main"]
        let outside = accepted.flatMap { s in [world.dataDir, world.history, world.history + "/spools"].map { $0 + "/" + s } }
            .filter { !FileManager.default.fileExists(atPath: $0) }
        try await world.run { client in
            for (i, serial) in accepted.enumerated() {
                let r = try await world.probe(client, "serial \(serial.debugDescription)", device: "d\(i)",
                                              changes: [world.spool(serial, ["brand": .string("B\(i)")])], expect: [200])
                #expect(r.json.objectValue?["success"] == .bool(true))
            }
            let refused = try await world.probe(client, "a serial of 1,025 bytes", device: "long",
                                                changes: [world.spool(Self.tooLongSerial)], expect: [400])
            #expect(refused.detailPaths == ["changes[0].serial"], "\(refused.json.jsonText)")
            // A refused serial beside a good one: the good one is not written either (a request is whole or nothing).
            _ = try await world.probe(client, "a good serial and a too long one", device: "long",
                                      changes: [world.spool("GOOD-1"), world.spool(Self.tooLongSerial)], expect: [400])
        }
        for (i, serial) in accepted.enumerated() {
            let stored = try await world.harness.store.spool(serial)
            #expect(stored?.serial == serial && stored?["brand"] == .string("B\(i)"), "\(serial.debugDescription) did not round-trip")
        }
        #expect(try await world.harness.store.spool("GOOD-1") == nil)
        for path in outside { #expect(!FileManager.default.fileExists(atPath: path), "\(path) was created") }
        // Every file of main is a spool's, at the path of its serial.
        let names = try await world.git(["ls-tree", "-r", "--name-only", "main"]).output.split(separator: "\n")
        #expect(names.allSatisfy { $0.hasPrefix("spools/") }, "\(names)")
        #expect(names.count == accepted.count + 2)
        try await world.finish()
    }

    /// Serials are compared by their bytes, as their files' names are: a precomposed "Å" and an "A" with a combining
    /// ring (equal as Swift Strings) are two spools, in one request as in two, each keeping its own fields; the
    /// device's ids come back on each, and a deletion of one leaves the other.
    @Test func serialsEqualOnlyAsUnicodeTextAreTwoSpools() async throws {
        let world = try await World()
        let composed = "\u{C5}-1", decomposed = "A\u{30A}-1"
        #expect(composed == decomposed && Array(composed.utf8) != Array(decomposed.utf8))
        try await world.run { client in
            let first = try await world.probe(client, "both forms in one request", device: "unicode",
                                              changes: [world.spool(composed, ["id": .int(1), "weightRemaining": .int(100)]),
                                                        world.spool(decomposed, ["id": .int(2), "weightRemaining": .int(900)])], expect: [200])
            #expect(first.json.objectValue?["stats"]?.objectValue?["synced"] == .int(2), "\(first.json.jsonText)")
            let other = try await world.probe(client, "another device's first sync", device: "reader", expect: [200])
            let got = (other.json.objectValue?["changes"]?.arrayValue ?? []).compactMap(\.objectValue).compactMap { o in
                o["serial"]?.stringValue.map { (Array($0.utf8), o["weightRemaining"]) }
            }.filter { [Array(composed.utf8), Array(decomposed.utf8)].contains($0.0) }
            #expect(got.map(\.0) == [Array(decomposed.utf8), Array(composed.utf8)] && got.map(\.1) == [.int(900), .int(100)], "\(got) \(other.json.jsonText)")
            // The device's legacy id 1 names the precomposed one only.
            let del = try await world.probe(client, "a deletion by id", device: "unicode", extra: ["lastSyncTime": first.json.objectValue?["serverTime"] ?? .null],
                                      deletions: [.int(1)], expect: [200])
            #expect(del.json.objectValue?["unresolvedDeletions"] == nil, "\(del.json.jsonText)")
        }
        let gone = try await world.harness.store.spool(composed)
        #expect(gone == nil || gone?.isDeleted == true, "\(String(describing: gone))")
        let kept = try await world.harness.store.spool(decomposed)
        #expect(kept.map { Array($0.serial.utf8) } == Array(decomposed.utf8) && kept?["weightRemaining"] == .int(900), "\(String(describing: kept))")
        try await world.finish()
    }

    @Test func deviceIdsThatLookLikeReferencesGetABranchOfTheirOwn() async throws {
        let world = try await World()
        let mainBefore = try #require(try await world.harness.store.head())
        let emoji = String(repeating: "🧵", count: 128)
        // A CR LF is one Character in Swift: a name cleaned character by character kept it in the commits' author
        // line, which libgit2 then could not read back (every command on the history failed, the server did not start).
        let names = ["main", "..", "refs/heads/main", "../../etc", "HEAD", "devices/main", emoji, "x\r\n", "a\r\n<b>\r\nc"]
        try await world.run { client in
            for (i, device) in names.enumerated() {
                _ = try await world.probe(client, "deviceId \(device.prefix(20).debugDescription)", device: device,
                                          changes: [world.spool("DEV-\(i)")], expect: [200])
                #expect(try await world.harness.store.head(device: device) != nil, "\(device.prefix(20)): no branch")
            }
            // main is still main: it moved by merges only, and every device's spool is on it.
            let head = try #require(try await world.harness.store.head())
            #expect(try await world.git(["merge-base", "--is-ancestor", mainBefore.hex, head.hex]).status == 0)
            for i in names.indices { #expect(try await world.harness.store.spool("DEV-\(i)") != nil) }

            // 128 emoji (512 bytes) is a valid device: its second request is answered from where its first left it.
            let first = try await world.probe(client, "emoji device again", device: emoji, changes: [world.spool("EMO-1")], expect: [200])
            _ = try await world.probe(client, "another device", device: "other", changes: [world.spool("OTHER-1")], expect: [200])
            let again = try await world.probe(client, "emoji device, a cursor", device: emoji,
                                              extra: ["cursor": first.json.objectValue?["cursor"] ?? .null], expect: [200])
            #expect(again.serials == ["OTHER-1"], "\(again.json.jsonText.prefix(400))")
            #expect(again.json.objectValue?["fullResync"] == nil)
            let byTime = try await world.probe(client, "emoji device, its lastSyncTime", device: emoji,
                                               extra: ["lastSyncTime": first.json.objectValue?["serverTime"] ?? .null], expect: [200])
            #expect(byTime.serials == ["OTHER-1"], "\(byTime.json.jsonText.prefix(400))")

            // The server's key as a device id, or inside one, is refused: it would be the branch's name, and in every
            // commit's author and message.
            for device in [Harness.key, "phone-" + Harness.key] {
                let r = try await world.probe(client, "the key as a device id", device: device, changes: [world.spool("NEVER")], expect: [400])
                #expect(r.detailPaths == ["deviceId"] && !r.json.jsonText.contains(Harness.key), "\(r.json.jsonText)")
            }

            // 129 characters is one too many, of any kind.
            for device in [String(repeating: "🧵", count: 129), String(repeating: "a", count: 129)] {
                let r = try await world.probe(client, "deviceId of 129 characters", device: device, changes: [world.spool("NEVER")], expect: [400])
                #expect(r.detailPaths == ["deviceId"])
            }
        }
        #expect(try await world.harness.store.spool("NEVER") == nil)
        let branches = try await world.git(["for-each-ref", "--format=%(refname)", "refs/heads"]).output.split(separator: "\n")
        #expect(branches.filter { !$0.hasPrefix("refs/heads/devices/") } == ["refs/heads/main"], "\(branches)")
        try await world.finish()
    }

    @Test func limitsCursorsAndTimesOfEveryShape() async throws {
        let world = try await World()
        try await world.run { client in
            for (name, limit, status) in [("0", JSONValue.int(0), 400), ("-1", .int(-1), 400), ("10^18", .int(1_000_000_000_000_000_000), 200),
                                          ("a string", .string("10"), 400), ("a float", .double(2.5), 400), ("Int64.min", .int(.min), 400),
                                          ("Int64.max", .int(.max), 200)] as [(String, JSONValue, Int)] {
                let r = try await world.probe(client, "limit \(name)", device: "limit-\(name)", extra: ["limit": limit], expect: [status])
                if status == 400 { #expect(r.detailPaths == ["limit"], "\(name): \(r.json.jsonText)") }
                if status == 200 { #expect(r.json.objectValue?["hasMore"] == .bool(false)) }
            }
            for (name, cursor) in [("garbage", "c1.zzz"), ("of 10 KB", "c1." + String(repeating: "ab", count: 5_000)),
                                   ("a paging cursor of garbage", "c1.0.0.zz"), ("of a commit that does not exist", "c1." + String(repeating: "e", count: 40)),
                                   ("of 10 KB of anything", String(repeating: "💥", count: 2_500))] {
                // A cursor the server did not issue asks for a full resync: everything, said so.
                let r = try await world.probe(client, "cursor \(name)", device: "cursor", extra: ["cursor": .string(cursor)], expect: [200])
                #expect(r.json.objectValue?["fullResync"] == .bool(true), "\(name): \(r.json.jsonText.prefix(300))")
                #expect(Set(r.serials) == ["PLA-1", "PETG-2"], "\(name)")
            }
            for (name, time) in [("negative", JSONValue.int(-1)), ("Int64.min", .int(.min)), ("a float", .double(1.5)),
                                 ("a string", .string("1717200000000")), ("1e300", .double(1e300)), ("null", .null), ("true", .bool(true))] {
                let r = try await world.probe(client, "lastSyncTime \(name)", device: "time", extra: ["lastSyncTime": time],
                                              changes: [world.spool("TIME-1")], expect: [400])
                #expect(r.detailPaths == ["lastSyncTime"], "\(name): \(r.json.jsonText)")
            }
            // Far ahead of the server's clock (the web app's lastSyncTime is its own clock): an answer, not an error.
            _ = try await world.probe(client, "lastSyncTime Int64.max", device: "time", extra: ["lastSyncTime": .int(.max)], expect: [200])
        }
        try await world.finish()
    }

    /// A `clientTime` at either end of Int64 shifts every time of the request by an offset that does not fit:
    /// the server answers, and what it stores stays a time (0 to 8.64e15 ms) that later requests can add to.
    @Test func clientTimesAtTheEndsOfInt64() async throws {
        let world = try await World()
        let extremes: [(String, Int64)] = [("Int64.max", .max), ("Int64.min", .min), ("Int64.min + 1", .min + 1),
                                           ("just fits behind", -9_223_370_000_000_000_000), ("0", 0), ("-1", -1)]
        try await world.run { client in
            for (i, (name, clientTime)) in extremes.enumerated() {
                // A new spool, an edit of one on main, a deletion of one on main, of an unknown serial, of an
                // unknown legacy id, and deletions with their own times at either end.
                world.reseed += 1
                let known = "KNOWN-\(i)", gone = "GONE-\(i)"
                _ = try await world.probe(client, "seed \(i)", device: "seed", changes: [world.spool(known, ["color": .string("red")]), world.spool(gone)], expect: [200])
                let r = try await world.probe(client, "clientTime \(name)", device: "skewed-\(i)", extra: ["clientTime": .int(clientTime)],
                                              changes: [world.spool("NEW-\(i)"), world.spool(known, ["brand": .string("Skewed")])],
                                              deletions: [.string(gone), .string("GHOST-\(i)"), .int(99),
                                                          .object(["serial": .string("GHOST-MIN-\(i)"), "deletedAt": .int(0)]),
                                                          .object(["serial": .string("GHOST-MAX-\(i)"), "deletedAt": .int(Timestamps.limit)])],
                                              expect: [200])
                #expect(r.json.objectValue?["unresolvedDeletions"] == .array([.int(99)]), "\(name): \(r.json.jsonText.prefix(300))")
                // The same device again, and another device editing what it touched: both go through.
                _ = try await world.probe(client, "clientTime \(name), again", device: "skewed-\(i)", extra: ["clientTime": .int(clientTime), "cursor": r.json.objectValue?["cursor"] ?? .null],
                                          changes: [world.spool(known, ["brand": .string("Skewed again")])], deletions: [.string("NEW-\(i)")], expect: [200])
                _ = try await world.probe(client, "after clientTime \(name)", device: "seed", changes: [world.spool(known, ["color": .string("blue")])],
                                          deletions: [.string("GHOST-MAX-\(i)")], expect: [200])
            }
            // Deletion times at the ends of Int64, or just past a time's range: refused, each named, like `lastUpdated`.
            let r = try await world.probe(client, "deletedAt at the ends", device: "plain",
                                          deletions: [.object(["serial": .string("PLA-1"), "deletedAt": .int(.max)]),
                                                      .object(["serial": .string("PETG-2"), "deletedAt": .int(.min)]),
                                                      .object(["serial": .string("NOWHERE"), "deletedAt": .int(-1)]),
                                                      .object(["serial": .string("NOWHERE"), "deletedAt": .int(Timestamps.limit + 1)])],
                                          expect: [400])
            #expect(r.detailPaths == (0..<4).map { "deletions[\($0)].deletedAt" }, "\(r.json.jsonText)")
            // The ends of the range are times.
            _ = try await world.probe(client, "deletedAt at the ends of the range", device: "plain",
                                      deletions: [.object(["serial": .string("PLA-1"), "deletedAt": .int(Timestamps.limit)]),
                                                  .object(["serial": .string("NOWHERE"), "deletedAt": .int(0)])],
                                      expect: [200])
        }
        // Every time in main is a time (0 to 8.64e15 ms, what the normalizer takes and JavaScript's Date holds),
        // or 1 ms past the end: a deletion comes 1 ms after the version it deletes, even one at the very end.
        for spool in try await world.harness.store.spools(at: try await world.harness.store.head()) {
            let t = spool.lastUpdated ?? -1
            #expect(t >= 0 && t <= Timestamps.limit + (spool.isDeleted ? 1 : 0), "\(spool.serial): lastUpdated \(t)")
        }
        try await world.finish()
    }

    @Test func deletionsAndChangesOfTheWrongShape() async throws {
        let world = try await World()
        try await world.run { client in
            let deletions: [(String, JSONValue, String)] = [
                ("true", .bool(true), "deletions[0]"), ("a float", .double(1.5), "deletions[0]"), ("null", .null, "deletions[0]"),
                ("an array", .array([.string("PLA-1")]), "deletions[0]"), ("an object without serial", .object(["deletedAt": .int(5)]), "deletions[0].serial"),
                ("a serial that is a number", .object(["serial": .int(5)]), "deletions[0].serial"),
                ("a deletedAt that is a string", .object(["serial": .string("PLA-1"), "deletedAt": .string("now")]), "deletions[0].deletedAt"),
                ("an empty serial", .string(""), "deletions[0]"),
            ]
            for (name, deletion, path) in deletions {
                let r = try await world.probe(client, "deletion \(name)", device: "shapes", changes: [world.spool("SHAPE-1")], deletions: [deletion], expect: [400])
                #expect(r.detailPaths == [path], "\(name): \(r.json.jsonText)")
            }
            _ = try await world.probe(client, "deletions an object", device: "shapes", extra: ["deletions": .object(["0": .string("PLA-1")])], expect: [400])

            let deep = String(repeating: "[", count: 600) + String(repeating: "]", count: 600)
            let deepObject = String(repeating: #"{"a":"#, count: 600) + "1" + String(repeating: "}", count: 600)
            for (name, notes) in [("600 arrays deep", deep), ("600 objects deep", deepObject)] {
                let body = #"{"deviceId":"deep","lastSyncTime":0,"deletions":[],"changes":[{"serial":"DEEP","lastUpdated":1,"notes":\#(notes)}]}"#
                _ = try await world.probe(client, "a change nested \(name)", device: "deep", raw: body, expect: [400])
            }
            let typeson: [(String, JSONValue)] = [
                ("an unknown type", .object(["brand": .string("nonsense")])),
                ("a path that is not there", .object(["no.such.path": .string("date")])),
                ("a number", .int(42)), ("a string", .string("date")), ("null", .null),
                ("the root as a map", .object(["": .string("map")])),
                ("a date of a string", .object(["brand": .string("date")])),
                ("a chain of unknown names", .object(["lastUpdated": .array([.string("date"), .int(3), .null])])),
                ("a reference to nowhere", .object(["brand": .string("#")])),
                ("a blob of garbage", .object(["notes": .string("blob2")])),
                ("bigint of garbage", .object(["brand": .string("bigint")])),
            ]
            for (name, types) in typeson {
                // Refused, naming the entry (typeson is revived before the spool is checked).
                let r = try await world.probe(client, "$types \(name)", device: "typeson",
                                              changes: [world.spool("TYPES-1", ["$types": types, "brand": .string("B"), "notes": .object(["x": .int(1)])])],
                                              expect: [400])
                #expect(r.detailPaths.count == 1 && r.detailPaths[0].hasPrefix("changes[0].$types["), "\(name): \(r.json.jsonText)")
            }
            for (name, time) in [("Int64.max", JSONValue.int(.max)), ("negative", .int(-1)), ("Int64.min", .int(.min)),
                                 ("8.64e15 + 1", .int(Timestamps.limit + 1)), ("1e300", .double(1e300)), ("a string", .string("soon"))] {
                let r = try await world.probe(client, "lastUpdated \(name)", device: "times", changes: [world.spool("TIMES-1", ["lastUpdated": time])], expect: [400])
                #expect(r.detailPaths == ["changes[0].lastUpdated"], "\(name): \(r.json.jsonText)")
            }
            // The ends of the range are times.
            _ = try await world.probe(client, "lastUpdated 0", device: "times", changes: [world.spool("TIMES-0", ["lastUpdated": .int(0)])], expect: [200])
            _ = try await world.probe(client, "lastUpdated 8.64e15", device: "times", changes: [world.spool("TIMES-MAX", ["lastUpdated": .int(Timestamps.limit)])], expect: [200])
            // And the spool at the end of time can be edited, deleted and sent back.
            _ = try await world.probe(client, "edit at the end of time", device: "other", changes: [world.spool("TIMES-MAX", ["brand": .string("X"), "lastUpdated": .int(Timestamps.limit)])], expect: [200])
            _ = try await world.probe(client, "delete at the end of time", device: "times", deletions: [.string("TIMES-MAX")], expect: [200])
        }
        try await world.finish()
    }

    /// Over the batch limit or the body limit: 413, and nothing written.
    @Test func tooManyEntriesOrTooManyBytesIs413() async throws {
        let world = try await World(maxBodyBytes: 4_096, batchLimit: 3)
        try await world.run { client in
            let r = try await world.probe(client, "4 entries", device: "batch", changes: (1...3).map { world.spool("B-\($0)") },
                                          deletions: [.string("PLA-1")], expect: [413])
            #expect(r.json.objectValue?["error"]?.stringValue?.contains("batches") == true, "\(r.json.jsonText)")
            _ = try await world.probe(client, "5 KB", device: "bytes", changes: [world.spool("BIG", ["notes": .string(String(repeating: "x", count: 5_000))])],
                                      expect: [413])
            _ = try await world.probe(client, "3 entries", device: "batch", changes: (1...2).map { world.spool("B-\($0)") },
                                      deletions: [.string("PLA-1")], expect: [200])
        }
        #expect(try await world.harness.store.spool("BIG") == nil)
        try await world.finish()
    }

    /// Deep but legal: the deepest value the request parser takes goes into the history and out again, and a
    /// conflict over it is kept readable.
    @Test func theDeepestLegalValueIsKeptReadable() async throws {
        let world = try await World()
        @Sendable func body(_ device: String, _ levels: Int, leaf: String) -> String {
            let v = String(repeating: "[", count: levels) + "\"\(leaf)\"" + String(repeating: "]", count: levels)
            return #"{"deviceId":"\#(device)","lastSyncTime":0,"deletions":[],"changes":[{"serial":"DEEP","lastUpdated":\#(Self.now + Int64(leaf.count)),"custom":\#(v)}]}"#
        }
        let levels = try #require((400...600).last { (try? JSONParser.parse(Array(body("a", $0, leaf: "x").utf8))) != nil })
        try await world.run { client in
            _ = try await world.probe(client, "\(levels) levels", device: "a", raw: body("a", levels, leaf: "x"), expect: [200])
            _ = try await world.probe(client, "\(levels) levels, a conflict", device: "b", raw: body("b", levels, leaf: "yy"), expect: [200])
            _ = try await world.probe(client, "sent back", device: "c", expect: [200])
        }
        #expect(try await world.harness.store.conflicts().count >= 1)
        try await world.finish()
    }
}

/// One server over a seeded history, and the checks every hostile request gets.
final class World: @unchecked Sendable {
    let harness: Harness
    var dataDir: String { harness.dataDir }
    var history: String { DataFolder.historyPath(in: harness.dataDir) }
    var reseed: Int64 = 0

    init(maxBodyBytes: Int = SpoolServer.ServerConfiguration.defaultMaxBodyBytes, batchLimit: Int = SyncConfiguration().batchLimit) async throws {
        harness = try Harness(maxBodyBytes: maxBodyBytes, batchLimit: batchLimit)
        try await harness.seed()
        // The journal is opened (created) before the first request, not by it.
        try await harness.service.prepare()
    }

    func run(_ body: @escaping @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        try await harness.app().test(.router) { client in try await body(client) }
    }

    func spool(_ serial: String, _ fields: [String: JSONValue] = [:]) -> JSONValue {
        .object(fields.merging(["serial": .string(serial), "lastUpdated": .int(HostileInputTests.now + reseed)]) { a, _ in a })
    }

    /// Sends one request (built from its parts, or `raw`). Its status must be one of `expect`; 5xx never is. A
    /// refused request changed nothing: main, the device's branch, the files of the data folder.
    @discardableResult
    func probe(_ client: any TestClientProtocol, _ name: String, device: String, extra: [String: JSONValue] = [:],
               changes: [JSONValue] = [], deletions: [JSONValue] = [], raw: String? = nil, expect: Set<Int>,
               sourceLocation: SourceLocation = #_sourceLocation) async throws -> TestResponse {
        var fields: [String: JSONValue] = ["deviceId": .string(device), "lastSyncTime": .int(0), "changes": .array(changes), "deletions": .array(deletions)]
        for (k, v) in extra { fields[k] = v }
        let body = raw ?? JSONValue.object(fields).jsonText
        // What earlier requests wrote reaches its files now (the server publishes once idle for 20 ms, on a timer that
        // would otherwise write while the folder is being listed).
        try await harness.service.publish()
        let mainBefore = try await harness.store.head()
        let branchBefore = try? await harness.store.head(device: device)
        let filesBefore = Self.files(under: dataDir)
        let r = try await client.sync(body, bearer: Harness.key)
        let status = Int(r.status.code)
        #expect(expect.contains(status), "\(name): \(r.status) \(r.json.jsonText.prefix(400))", sourceLocation: sourceLocation)
        #expect(status < 500, "\(name): \(r.status) \(r.json.jsonText.prefix(400))", sourceLocation: sourceLocation)
        // A refused request has nothing to publish; an accepted one publishes now, so its files are listed whole.
        if status == 200 { try await harness.service.publish() }
        let filesAfter = Self.files(under: dataDir)
        if status != 200 {
            #expect(r.json.objectValue?["success"] == .bool(false), "\(name)", sourceLocation: sourceLocation)
            #expect(try await harness.store.head() == mainBefore, "\(name): main moved", sourceLocation: sourceLocation)
            let branchAfter = try? await harness.store.head(device: device)
            #expect(branchAfter == branchBefore, "\(name): the device's branch moved", sourceLocation: sourceLocation)
            #expect(filesAfter == filesBefore, "\(name): files written \(filesAfter.symmetricDifference(filesBefore).sorted())", sourceLocation: sourceLocation)
        } else {
            let object = r.json.objectValue
            #expect(object?["changes"]?.arrayValue != nil && object?["deletions"]?.arrayValue != nil, "\(name)", sourceLocation: sourceLocation)
        }
        let foreign = filesAfter.subtracting(filesBefore).filter { !Self.isHistoryFile($0) }
        #expect(foreign.isEmpty, "\(name): files outside the history's objects and references: \(foreign.sorted())", sourceLocation: sourceLocation)
        return r
    }

    /// What a request may add to a data folder: the history's objects, references and journal.
    static func isHistoryFile(_ path: String) -> Bool {
        guard path.hasPrefix("history.git/") else { return false }
        let inside = path.dropFirst("history.git/".count)
        return inside.hasPrefix("objects/") || inside.hasPrefix("refs/") || inside.hasPrefix("logs/")
            || ["filamentdb-journal", "filamentdb-journal.spare", "packed-refs", "HEAD", "config", "description"].contains(inside)
    }

    /// Every file under `dir`, as paths relative to it.
    static func files(under dir: String) -> Set<String> {
        guard let e = FileManager.default.enumerator(atPath: dir) else { return [] }
        var out: Set<String> = []
        while let p = e.nextObject() as? String {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: dir + "/" + p, isDirectory: &isDirectory), !isDirectory.boolValue { out.insert(p) }
        }
        return out
    }

    /// Stock git on the history, once the server has published what it wrote (it does once idle for 20 ms).
    func git(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        try await harness.service.publish()
        return try Command.git(["-C", history] + arguments)
    }

    /// The history is whole: git's strictest check, filamentdb's own, and nothing beside history.git.
    func finish(sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let fsck = try await git(["fsck", "--strict"])
        #expect(fsck.status == 0, "git fsck --strict: \(fsck.output)", sourceLocation: sourceLocation)
        let verify = try await harness.store.verify()
        #expect(verify.problems.isEmpty, "verify: \(verify.problems)", sourceLocation: sourceLocation)
        let top = try FileManager.default.contentsOfDirectory(atPath: dataDir)
        #expect(top == ["history.git"], "\(top)", sourceLocation: sourceLocation)
        #expect(!harness.logs.all.contains { $0.contains("unexpected error") }, "\(harness.logs.all.filter { $0.contains("unexpected") })", sourceLocation: sourceLocation)
    }
}

extension TestResponse {
    /// The serials of `changes` and `deletions`.
    var serials: [String] {
        let o = json.objectValue
        return ((o?["changes"]?.arrayValue ?? []).compactMap { $0.objectValue?["serial"]?.stringValue }
            + (o?["deletions"]?.arrayValue ?? []).compactMap(\.stringValue)).sorted()
    }
}
