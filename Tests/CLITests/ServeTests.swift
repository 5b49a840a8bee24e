import Foundation
import SpoolTestSupport
import Testing

/// `filamentdb serve`: refuses to start without a key fit to protect it, and serves until SIGTERM.
@Suite struct ServeTests {
    let dir = Fixtures.temporaryDirectory()
    static let goodKey = "0f4e8c2a9b7d6e5f1a3c5e7f9b2d4f6a"

    @Test(arguments: [
        ("missing", ""),
        ("short", "abc123"),
        ("the plan's placeholder", "dev-key-change-in-production"),
        ("the guide's placeholder", "your-secret-key-here"),
    ])
    func refusesAKeyThatCannotProtectIt(_ name: String, key: String) throws {
        let r = try CLI.run(["serve", "--data-dir", dir, "--port", "0"], timeout: 30, environment: ["SYNC_API_KEY": key])
        #expect(r.status == 64, "\(name): \(r.summary)")
        #expect(r.stderr.contains("openssl rand -hex 32"), "\(name): \(r.stderr)")
        #expect(r.stderr.contains("--generate-key"), "\(name): \(r.stderr)")
        #expect(!r.stderr.contains("listening"))
    }

    @Test func refusesAPlaceholderInAKeyFile() throws {
        let file = dir + "/key"
        try "your-secret-key-here\n".write(toFile: file, atomically: false, encoding: .utf8)
        let r = try CLI.run(["serve", "--data-dir", dir, "--key-file", file], timeout: 30, environment: ["SYNC_API_KEY": Self.goodKey])
        #expect(r.status == 64, "\(r.summary)")
        #expect(r.stderr.contains("(from \(file))"), "\(r.stderr)")
    }

    @Test func anUnreadableKeyFileIsNamed() throws {
        let r = try CLI.run(["serve", "--data-dir", dir, "--key-file", dir + "/none"], timeout: 30)
        #expect(r.status == 74, "\(r.summary)")
        #expect(r.stderr.contains(dir + "/none"))
    }

    /// A key given on the command line would show in `ps`: there is no option for it.
    @Test func noOptionTakesTheKey() throws {
        for option in ["--key", "--api-key"] {
            let r = try CLI.run(["serve", "--data-dir", dir, option, Self.goodKey], timeout: 30)
            #expect(r.status == 64, "\(option): \(r.summary)")
        }
    }

    /// A proxy is named by its address; anything else is refused before the server starts, naming it.
    @Test func aTrustedProxyMustBeAnAddress() throws {
        let r = try CLI.run(["serve", "--data-dir", dir, "--port", "0", "--trusted-proxy", "127.0.0.1", "--trusted-proxy", "proxy.local"],
                            timeout: 30, environment: ["SYNC_API_KEY": Self.goodKey])
        #expect(r.status == 64, "\(r.summary)")
        #expect(r.stderr.contains("--trusted-proxy \"proxy.local\" is not an IP address"), "\(r.stderr)")
        #expect(!r.stderr.contains("listening"))
    }

    @Test func generatesAKey() throws {
        let first = try CLI.run(["serve", "--generate-key"], timeout: 30, environment: ["SYNC_API_KEY": ""])
        let second = try CLI.run(["serve", "--generate-key"], timeout: 30)
        #expect(first.status == 0 && second.status == 0)
        let key = first.stdout.trimmingCharacters(in: .newlines)
        #expect(key.count == 64 && key.allSatisfy(\.isHexDigit), "\(first.stdout)")
        #expect(key != second.stdout.trimmingCharacters(in: .newlines))
    }

    /// Started as a user would, on any free port: it says where it listens, answers, and stops on SIGTERM once the
    /// request in flight is answered.
    @Test func servesUntilSIGTERM() throws {
        let keyFile = dir + "/key"
        try (Self.goodKey + "\n").write(toFile: keyFile, atomically: false, encoding: .utf8)
        let server = try ServerProcess(["serve", "--data-dir", dir + "/data", "--port", "0", "--key-file", keyFile])
        defer { server.stop() }
        let line = try server.waitForLine(containing: "filamentdb serve: listening on", timeout: 30)
        let prefix = "filamentdb serve: listening on http://127.0.0.1:"
        #expect(line.hasPrefix(prefix), "\(line)")
        #expect(line.hasSuffix("(history: \(dir)/data/history.git)"), "\(line)")
        let port = try #require(Int(line.dropFirst(prefix.count).prefix { $0.isNumber }))
        #expect(port > 0)
        // The key file was written with the usual umask: other users can read it.
        #expect(server.stderr.contains("filamentdb serve: warning: \(keyFile): other users can read the key file (chmod 600 it)"), "\(server.stderr)")

        let health = try LoopbackHTTP(host: "127.0.0.1", port: port)
        health.send("GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n")
        #expect(try health.readAnswer().status == 200)
        let refused = try LoopbackHTTP(host: "127.0.0.1", port: port)
        refused.send("POST /api/sync HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer wrong-wrong-wrong-wrong\r\nContent-Length: 2\r\n\r\n{}")
        #expect(try refused.readAnswer().status == 401)
        // Each request's line, as swift-log's StreamLogHandler writes one: the local time, the level, the label, the
        // metadata by key (the client's address first), the source and the message.
        let logged = try server.waitForLine(containing: "POST /api/sync 401", timeout: 10)
        let shape = try Regex(#"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4} info filamentdb\.serve: client=127\.0\.0\.1 duration_ms=\S+ .* \[SpoolServer\] POST /api/sync 401$"#)
        #expect(logged.wholeMatch(of: shape) != nil, "\(logged)")
        let at = ["client=", " duration_ms=", " error=", " method=", " path=", " status="].map { logged.range(of: $0)?.lowerBound }
        #expect(at.allSatisfy { $0 != nil } && at.compactMap { $0 } == at.compactMap { $0 }.sorted(), "metadata by key: \(logged)")
        #expect(logged.contains(" method=POST ") && logged.contains(" path=/api/sync ") && logged.contains(" status=401 "), "\(logged)")
        // The refusal's message holds spaces: one field, in quotes (LogFormat), in the line the server itself writes.
        #expect(logged.contains(#" error=""#), "\(logged)")

        // A request in flight when SIGTERM comes is still answered.
        let inFlight = try LoopbackHTTP(host: "127.0.0.1", port: port)
        inFlight.send("POST /api/sync HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer \(Self.goodKey)\r\nContent-Length: 6\r\n\r\n[1, ")
        usleep(200_000)
        server.process.terminate()
        usleep(300_000)
        inFlight.send("2]")
        #expect(try inFlight.readAnswer().status == 400)

        let status = try server.waitForExit(timeout: 20)
        #expect(status == 0, "\(server.stderr)")
        #expect(!server.stderr.contains(Self.goodKey), "the key was printed")
    }
}

extension ServeTests {
    /// --cache-mb takes 0 to 65536 MiB (the server started with a small budget serves).
    @Test func theCacheBudgetIsChecked() throws {
        for bad in ["-1", "70000", "lots"] {
            let r = try CLI.run(["serve", "--data-dir", dir + "/data", "--cache-mb", bad], timeout: 30, environment: ["SYNC_API_KEY": Self.goodKey])
            #expect(r.status == 64 && r.stderr.contains("--cache-mb"), "\(bad): \(r.summary)")
        }
        let keyFile = dir + "/small-key"
        try (Self.goodKey + "\n").write(toFile: keyFile, atomically: false, encoding: .utf8)
        let server = try ServerProcess(["serve", "--data-dir", dir + "/data", "--port", "0", "--key-file", keyFile, "--cache-mb", "16"])
        defer { server.stop() }
        _ = try server.waitForLine(containing: "filamentdb serve: listening on", timeout: 30)
    }

    /// The executable alone, copied away from its build folder as an install does, serves the committed OpenAPI
    /// document byte for byte (it is compiled in; a resource bundle beside the build's executable was not copied).
    @Test func anInstalledBinaryServesTheOpenAPIDocument() throws {
        let installed = dir + "/bin/filamentdb"
        try FileManager.default.createDirectory(atPath: dir + "/bin", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: CLI.binary, toPath: installed)
        let keyFile = dir + "/openapi-key"
        try (Self.goodKey + "\n").write(toFile: keyFile, atomically: false, encoding: .utf8)
        let server = try ServerProcess(["serve", "--data-dir", dir + "/data", "--port", "0", "--key-file", keyFile], executable: installed)
        defer { server.stop() }
        let line = try server.waitForLine(containing: "filamentdb serve: listening on", timeout: 30)
        let prefix = "filamentdb serve: listening on http://127.0.0.1:"
        let port = try #require(Int(line.dropFirst(prefix.count).prefix { $0.isNumber }))
        let client = try LoopbackHTTP(host: "127.0.0.1", port: port)
        client.send("GET /openapi.json HTTP/1.1\r\nHost: localhost\r\n\r\n")
        let answer = try client.readAnswer()
        #expect(answer.status == 200)
        let committed = try #require(FileManager.default.contents(atPath: Fixtures.repositoryRoot.appendingPathComponent("Sources/SpoolServer/openapi.json").path))
        #expect(answer.body == [UInt8](committed))
    }

    /// A key file only its owner can read gets no warning.
    @Test func aPrivateKeyFileGetsNoWarning() throws {
        let keyFile = dir + "/private-key"
        try (Self.goodKey + "\n").write(toFile: keyFile, atomically: false, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: keyFile)
        let server = try ServerProcess(["serve", "--data-dir", dir + "/data", "--port", "0", "--key-file", keyFile])
        defer { server.stop() }
        _ = try server.waitForLine(containing: "filamentdb serve: listening on", timeout: 30)
        #expect(!server.stderr.contains("warning"), "\(server.stderr)")
    }
}

/// `filamentdb serve` running in the background, its standard error collected.
final class ServerProcess {
    let process = Process()
    private let errPath: String

    init(_ arguments: [String], executable: String = CLI.binary) throws {
        errPath = Fixtures.temporaryDirectory() + "/stderr"
        _ = FileManager.default.createFile(atPath: errPath, contents: nil)
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env["SYNC_API_KEY"] = nil
        process.environment = env
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle(forWritingAtPath: errPath)
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    var stderr: String { String(decoding: FileManager.default.contents(atPath: errPath) ?? Data(), as: UTF8.self) }

    func waitForLine(containing text: String, timeout: TimeInterval) throws -> String {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let line = stderr.split(separator: "\n").first(where: { $0.contains(text) }) { return String(line) }
            guard process.isRunning else { break }
            usleep(20_000)
        }
        throw LoopbackHTTP.Failure(description: "no line with \"\(text)\" on standard error: \(stderr)")
    }

    /// Waits for the exit status (killed after `timeout` seconds).
    func waitForExit(timeout: TimeInterval) throws -> Int32 {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning, Date() < deadline { usleep(20_000) }
        guard !process.isRunning else {
            stop()
            throw LoopbackHTTP.Failure(description: "still running after \(Int(timeout)) s")
        }
        return process.terminationStatus
    }

    func stop() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }
}
