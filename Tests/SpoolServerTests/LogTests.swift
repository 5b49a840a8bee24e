import Hummingbird
import HummingbirdTesting
import SpoolModel
import SpoolHistory
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
            // The key as a device id (a client that mixed up its settings), alone and within one: refused, and logged.
            for device in [Harness.key, "phone-\(Harness.key)"] {
                let r = try await client.sync(#"{"deviceId":"\#(device)","lastSyncTime":0,"changes":[],"deletions":[]}"#, bearer: Harness.key)
                #expect(r.status == .badRequest)
            }
        }
        let lines = harness.logs.all
        #expect(lines.count >= 11)
        #expect(lines.contains { $0.contains("deviceId=<key> ") } && lines.contains { $0.contains("deviceId=phone-<key> ") }, "\(lines)")
        for secret in [Harness.key, Self.wrongKey] {
            #expect(!lines.contains { $0.contains(secret) }, "\(secret) logged: \(lines.filter { $0.contains(secret) })")
        }
    }

    /// A history whose packs cannot be written (a full disk) is said in the log, once, and so is its recovery:
    /// requests go on through the journal meanwhile, so nothing else would show it (found by probing a full disk).
    @Test func aHistoryThatCannotBeWrittenIsLoggedOnceAndSoIsItsRecovery() async throws {
        let harness = try Harness()
        let packs = harness.store.path + "/objects/pack"
        PackWriter.failingFolders.fail(packs, true)
        defer { PackWriter.failingFolders.fail(packs, false) }
        @Sendable func change(_ n: Int) -> String {
            #"{"deviceId":"laptop","lastSyncTime":0,"changes":[{"serial":"LOG-\#(n)","lastUpdated":\#(1_717_200_000_000 + n)}],"deletions":[]}"#
        }
        @Sendable func logged(_ text: String) -> Int { harness.logs.all.filter { $0.contains(text) }.count }
        try await harness.app().test(.router) { client in
            for n in 0..<3 {
                #expect(try await client.sync(change(n), bearer: Harness.key).status == .ok)
                // The server's own publish, once it is idle.
                try await Task.sleep(nanoseconds: 150_000_000)
            }
            #expect(logged("cannot write the history's packs") == 1, "\(harness.logs.all)")
            #expect(logged("No space left on device") == 1)
            // GET /api/sync says it too, while it lasts.
            let during = try await client.execute(uri: "/api/sync", method: .get, headers: [.authorization: "Bearer \(Harness.key)"])
            #expect(String(buffer: during.body).contains(#""publishError":"#) && String(buffer: during.body).contains("No space left on device"), "\(String(buffer: during.body))")
            PackWriter.failingFolders.fail(packs, false)
            #expect(try await client.sync(change(3), bearer: Harness.key).status == .ok)
            try await Task.sleep(nanoseconds: 300_000_000)
            #expect(logged("packs and branches are written again") == 1, "\(harness.logs.all)")
            let after = try await client.execute(uri: "/api/sync", method: .get, headers: [.authorization: "Bearer \(Harness.key)"])
            #expect(after.status == .ok && !String(buffer: after.body).contains("publishError"), "\(String(buffer: after.body))")
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

    /// What a request chose reaches the log with its control characters escaped (a device id holding a newline
    /// forged a line of its own, found by an attacker's probe), and a key a client put in its URL's path is
    /// written as `<key>`.
    @Test func aRequestCannotForgeALineNorPutTheKeyInTheLog() async throws {
        let harness = try Harness()
        let forged = "x\n2026-11-30T00:00:00+0000 critical filamentdb.serve: FAKE"
        let devices = [forged, "a\u{0}b", "\u{1B}[31mred", "line\u{2028}separator", "c1\u{85}control"]
        try await harness.app().test(.router) { client in
            for device in devices {
                let r = try await client.sync(#"{"deviceId":\#(JSONValue.string(device).jsonText),"lastSyncTime":0,"changes":[],"deletions":[]}"#, bearer: Harness.key)
                #expect(r.status == .ok, "\(device.debugDescription): \(r.status)")
            }
            for path in ["/\(Harness.key)", "/api/\(Harness.key)/sync", "/x\(Harness.key)\(Harness.key)y"] {
                _ = try await client.execute(uri: path, method: .get)
            }
        }
        let lines = harness.logs.all
        #expect(lines.count >= devices.count + 3)
        for line in lines {
            #expect(!line.unicodeScalars.contains { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) || $0.value == 0x2028 },
                    "a control character in \(line.debugDescription)")
            #expect(!line.contains(Harness.key), "the key in \(line)")
        }
        #expect(lines.contains { $0.contains(#"deviceId="x\\u{a}2026-11-30T00:00:00+0000 critical filamentdb.serve: FAKE" "#) }, "\(lines)")
        #expect(lines.contains { $0.contains("path=/x<key><key>y") }, "\(lines)")
    }

    /// Each field of a line reads as what it is, whatever a request chose: a device id holding ` status=500` or a
    /// quote is one value, in quotes (a parser of `key=value` pairs read the line as status 500, found by an
    /// attacker's probe).
    @Test func aDeviceIDCannotReadAsAnotherField() async throws {
        let harness = try Harness()
        let devices = ["x status=500 error=boom", #"q" status="500"#, "a=b", #"back\slash "quoted""#]
        try await harness.app().test(.router) { client in
            for device in devices {
                let r = try await client.sync(#"{"deviceId":\#(JSONValue.string(device).jsonText),"lastSyncTime":0,"changes":[],"deletions":[]}"#, bearer: Harness.key)
                #expect(r.status == .ok)
            }
        }
        let lines = harness.logs.all.filter { $0.contains("path=/api/sync") }
        #expect(lines.count == devices.count, "\(harness.logs.all)")
        for (line, device) in zip(lines, devices) {
            let fields = Self.logfmt(line)
            #expect(fields["status"] == ["200"], "\(line)")
            #expect(fields["deviceId"] == [device], "\(line)")
            #expect(fields["error"] == nil, "\(line)")
        }
    }

    /// The `key=value` pairs of a line as logfmt reads them (a value in quotes holds escaped quotes and backslashes).
    static func logfmt(_ line: String) -> [String: [String]] {
        var out: [String: [String]] = [:]
        var chars = Array(line)[...]
        while !chars.isEmpty {
            while chars.first == " " { chars.removeFirst() }
            let key = String(chars.prefix { $0 != "=" && $0 != " " })
            chars.removeFirst(key.count)
            guard chars.first == "=" else { continue }
            chars.removeFirst()
            var value = ""
            if chars.first == "\"" {
                chars.removeFirst()
                while let c = chars.first, c != "\"" {
                    chars.removeFirst()
                    if c == "\\", let next = chars.first { value.append(next); chars.removeFirst() } else { value.append(c) }
                }
                if !chars.isEmpty { chars.removeFirst() }
            } else {
                value = String(chars.prefix { $0 != " " })
                chars.removeFirst(value.count)
            }
            out[key, default: []].append(value)
        }
        return out
    }
}
