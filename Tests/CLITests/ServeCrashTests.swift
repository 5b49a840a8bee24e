import Foundation
import SpoolModel
import SpoolTestSupport
import Testing

/// `filamentdb serve` killed with SIGKILL in the middle of a burst of requests: every request it answered 200
/// is in the history when it starts again on the same data folder (the journal was flushed before each answer),
/// the history passes `git fsck --strict` and `filamentdb verify`, and every client carries on from its cursor.
@Suite struct ServeCrashTests {
    static let key = "5c1d9e7a3b8f2046a1c3e5f7092b4d6e"
    static let clients = 4

    /// When a round's SIGKILL comes.
    enum Moment: CustomStringConvertible {
        case answers(Int)
        case seconds(Double)
        var description: String {
            switch self {
            case .answers(let n): "after \(n) answers"
            case .seconds(let s): "after \(s) s"
            }
        }
    }

    @Test func everyAnsweredRequestSurvivesSIGKILL() throws {
        let started = Date()
        let dir = Fixtures.temporaryDirectory()
        let data = dir + "/data"
        let keyFile = dir + "/key"
        try (Self.key + "\n").write(toFile: keyFile, atomically: false, encoding: .utf8)
        let arguments = ["serve", "--data-dir", data, "--port", "0", "--key-file", keyFile]

        let clients = (0..<Self.clients).map { CrashClient(index: $0) }
        var server = try ServerProcess(arguments)
        var port = try Self.port(of: server)
        // Each client's spool to edit, and one they all edit.
        for c in clients { #expect(try c.send(port: port, seeding: true) != nil) }

        // At the first answer, after a few, at once (requests still arriving), and after a while.
        let moments: [Moment] = [.answers(1), .answers(30), .seconds(0.05), .seconds(0.4), .seconds(1.0)]
        for (round, moment) in moments.enumerated() {
            let burst = Burst(clients: clients, port: port)
            burst.start()
            let fired = Date()
            switch moment {
            case .answers(let n):
                while burst.answered < n, Date().timeIntervalSince(fired) < 10 { usleep(1_000) }
            case .seconds(let s):
                usleep(UInt32(s * 1_000_000))
                // (At least one answer first: on a machine busy with other tests, 50 ms could pass before any.)
                while burst.answered < 1, Date().timeIntervalSince(fired) < 10 { usleep(1_000) }
            }
            let inFlight = burst.inFlight
            kill(server.process.processIdentifier, SIGKILL)
            server.process.waitUntilExit()
            burst.finish()
            #expect(server.process.terminationReason == .uncaughtSignal && server.process.terminationStatus == SIGKILL)
            #expect(burst.failures.isEmpty, "round \(round): \(burst.failures)")
            #expect(burst.answered > 0, "round \(round): no request was answered before the kill")
            print("round \(round), SIGKILL \(moment): \(burst.answered) answered, \(inFlight) in flight")

            // It starts again on the same data folder: the journal is recovered.
            server = try ServerProcess(arguments)
            port = try Self.port(of: server)
            let fsck = try git(["-C", data + "/history.git", "fsck", "--strict"])
            #expect(fsck.status == 0, "round \(round): \(fsck.output)")
            try checkEverythingAnswered(clients, port: port, round: round)
            // Each client goes on from its cursor: what it was answered is still a state of main.
            for c in clients {
                let answer = try #require(try c.send(port: port))
                #expect(answer["fullResync"] == nil, "round \(round): client \(c.index) lost its place")
            }
        }

        server.process.terminate()
        #expect(try server.waitForExit(timeout: 20) == 0, "\(server.stderr.suffix(2000))")
        let fsck = try git(["-C", data + "/history.git", "fsck", "--strict"])
        #expect(fsck.status == 0, "\(fsck.output)")
        let verify = try CLI.run(["verify", "--data-dir", data], timeout: 60)
        #expect(verify.status == 0, "\(verify.summary)")
        // A last answered serial of each client, read with `show`.
        for c in clients {
            guard let serial = c.answered.last else { continue }
            let show = try CLI.run(["show", serial, "--data-dir", data], timeout: 30)
            #expect(show.status == 0 && show.stdout.contains(serial), "\(serial): \(show.summary)")
        }
        let elapsed = Date().timeIntervalSince(started)
        print("ServeCrashTests: \(clients.map(\.answered.count).reduce(0, +)) answered requests, \(moments.count) kills, \(String(format: "%.1f", elapsed)) s")
    }

    /// SIGKILL between writing a branch's lock file and renaming it over the branch (libgit2's compare-and-swap)
    /// leaves `<branch>.lock` beside a branch still at its old commit, and the journal's record of the move.
    /// `serve` starts again on it (found by the test above, about one run in three: the restart failed with
    /// "the branches kept moving" every time, however old the lock), and the branch ends where the record says.
    @Test func aLockLeftBySIGKILLDoesNotKeepServeFromStarting() throws {
        let dir = Fixtures.temporaryDirectory()
        let data = dir + "/data", history = data + "/history.git"
        let keyFile = dir + "/key"
        try (Self.key + "\n").write(toFile: keyFile, atomically: false, encoding: .utf8)
        let arguments = ["serve", "--data-dir", data, "--port", "0", "--key-file", keyFile]
        let client = CrashClient(index: 0)
        // The device's branch moves with each of its requests (its sync state only at the journal's checkpoint).
        let state = history + "/refs/heads/devices/" + client.deviceId
        var server = try ServerProcess(arguments)
        var port = try Self.port(of: server)
        // A branch file is written once the server has had no request for 20 ms (at most 250 ms under load).
        func file(differentFrom old: String?) throws -> String {
            for _ in 0..<200 {
                if let text = try? String(contentsOfFile: state, encoding: .utf8), text != old { return text }
                usleep(10_000)
            }
            return try String(contentsOfFile: state, encoding: .utf8)
        }
        #expect(try client.send(port: port, seeding: true) != nil)
        let before = try file(differentFrom: nil)
        #expect(try client.send(port: port) != nil)
        let after = try file(differentFrom: before)
        #expect(before != after)
        kill(server.process.processIdentifier, SIGKILL)
        server.process.waitUntilExit()

        // The state as the kill would leave it in the middle of its last move.
        try before.write(toFile: state, atomically: false, encoding: .utf8)
        try after.write(toFile: state + ".lock", atomically: false, encoding: .utf8)
        server = try ServerProcess(arguments)
        port = try Self.port(of: server)
        #expect(try String(contentsOfFile: state, encoding: .utf8) == after)
        #expect(!FileManager.default.fileExists(atPath: state + ".lock"))
        let next = try #require(try client.send(port: port))
        #expect(next["fullResync"] == nil)
        try checkEverythingAnswered([client], port: port, round: 0)
        server.process.terminate()
        #expect(try server.waitForExit(timeout: 20) == 0, "\(server.stderr.suffix(2000))")
        #expect(try git(["-C", history, "fsck", "--strict"]).status == 0)
    }

    /// Every serial of every answered request is in main, as a fresh device downloads it; and each client's
    /// own spool holds its last answered edit or a later one (a request in flight at the kill may have landed).
    func checkEverythingAnswered(_ clients: [CrashClient], port: Int, round: Int) throws {
        let fresh = CrashClient(index: 100 + round)
        let answer = try #require(try fresh.send(port: port, body: .object([
            "deviceId": .string("fresh-\(round)"), "lastSyncTime": .int(0), "changes": .array([]), "deletions": .array([]),
        ])))
        var main: [String: [String: JSONValue]] = [:]
        for s in answer["changes"]?.arrayValue ?? [] {
            if let o = s.objectValue, let serial = o["serial"]?.stringValue { main[serial] = o }
        }
        for c in clients {
            let missing = c.answered.filter { main[$0] == nil }
            #expect(missing.isEmpty, "round \(round): client \(c.index) was answered 200 for \(missing.count) serials not in main: \(missing.prefix(5))")
            var weight: Int64 = -1
            if case .int(let n)? = main[c.ownSerial]?["weightRemaining"] { weight = n }
            #expect(weight >= c.lastAnsweredWeight, "round \(round): client \(c.index)'s spool went back from \(c.lastAnsweredWeight) to \(weight)")
        }
        #expect(main["SHARED"] != nil)
    }

    static func port(of server: ServerProcess) throws -> Int {
        let line = try server.waitForLine(containing: "filamentdb serve: listening on", timeout: 30)
        let prefix = "filamentdb serve: listening on http://127.0.0.1:"
        return try #require(Int(line.dropFirst(prefix.count).prefix { $0.isNumber }), "\(line)")
    }

    func git(_ arguments: [String]) throws -> (status: Int32, output: String) { try Command.git(arguments) }
}

/// One device sending request after request, each adding a serial of its own and editing its own spool and
/// the shared one; it keeps its cursor and what it was answered.
final class CrashClient: @unchecked Sendable {
    let index: Int
    var cursor: String?
    var counter: Int64 = 0
    var lastTime: Int64 = 0
    /// The serials added by requests answered 200.
    var answered: [String] = []
    var lastAnsweredWeight: Int64 = 0

    init(index: Int) { self.index = index }

    var deviceId: String { "crash-client-\(index)" }
    var ownSerial: String { "EDIT-\(index)" }

    func nextTime() -> Int64 {
        lastTime = max(Int64(Date().timeIntervalSince1970 * 1000), lastTime + 1)
        return lastTime
    }

    /// The next request: a new serial, an edit of this client's spool and of the shared one.
    func nextRequest(seeding: Bool) -> (body: JSONValue, serial: String?, weight: Int64) {
        counter += 1
        let t = nextTime()
        let weight = counter
        var changes: [JSONValue] = [
            .object(["serial": .string(ownSerial), "lastUpdated": .int(t), "weightRemaining": .int(weight), "brand": .string("Crash")]),
            .object(["serial": .string("SHARED"), "lastUpdated": .int(t), "notes": .string("\(index)-\(counter)")]),
        ]
        var serial: String?
        if !seeding {
            serial = "C\(index)-\(counter)"
            changes.append(.object(["serial": .string(serial!), "lastUpdated": .int(t), "brand": .string("Burst"), "weightRemaining": .int(1000)]))
        }
        var body: [String: JSONValue] = ["deviceId": .string(deviceId), "lastSyncTime": .int(0), "changes": .array(changes), "deletions": .array([])]
        if let cursor { body["cursor"] = .string(cursor) }
        return (.object(body), serial, weight)
    }

    /// Sends the next request (or `body`): the answer's fields when it was 200, `nil` when there was none
    /// (the server is gone); a status other than 200 throws.
    func send(port: Int, seeding: Bool = false, body: JSONValue? = nil) throws -> [String: JSONValue]? {
        let next = body.map { ($0, nil as String?, Int64(0)) } ?? nextRequest(seeding: seeding)
        let bytes = next.0.jsonBytes
        let answer: LoopbackHTTP.Answer
        do {
            let connection = try LoopbackHTTP(host: "127.0.0.1", port: port)
            let head = "POST /api/sync HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer \(ServeCrashTests.key)\r\nContent-Type: application/json\r\nContent-Length: \(bytes.count)\r\n\r\n"
            guard connection.send(Array(head.utf8) + bytes) else { return nil }
            answer = try connection.readAnswer()
        } catch {
            return nil
        }
        guard answer.status == 200, let fields = (try? JSONParser.parse(answer.body))?.objectValue else {
            throw LoopbackHTTP.Failure(description: "client \(index): \(answer.status) \(String(decoding: answer.body.prefix(300), as: UTF8.self))")
        }
        guard body == nil else { return fields }
        cursor = fields["cursor"]?.stringValue
        if let serial = next.1 { answered.append(serial) }
        lastAnsweredWeight = next.2
        return fields
    }
}

/// The clients sending continuously on threads of their own until the server is gone.
final class Burst: @unchecked Sendable {
    let clients: [CrashClient]
    let port: Int
    private let lock = NSLock()
    private var _answered = 0
    private var _inFlight = 0
    private var _failures: [String] = []
    private var stopped = false
    private let group = DispatchGroup()

    init(clients: [CrashClient], port: Int) {
        self.clients = clients
        self.port = port
    }

    var answered: Int { lock.withLock { _answered } }
    var inFlight: Int { lock.withLock { _inFlight } }
    var failures: [String] { lock.withLock { _failures } }

    func start() {
        for client in clients {
            group.enter()
            Thread.detachNewThread { [self] in
                defer { group.leave() }
                while !lock.withLock({ stopped }) {
                    lock.withLock { _inFlight += 1 }
                    let result = Result { try client.send(port: port) }
                    lock.withLock { _inFlight -= 1 }
                    switch result {
                    case .success(nil): return
                    case .success: lock.withLock { _answered += 1 }
                    case .failure(let error): lock.withLock { _failures.append("\(error)") }
                    }
                }
            }
        }
    }

    /// After the kill: every client's request fails (or was answered) and the threads end.
    func finish() {
        lock.withLock { stopped = true }
        _ = group.wait(timeout: .now() + 30)
    }
}
