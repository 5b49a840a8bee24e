import Foundation
import SpoolModel
import SpoolTestSupport
import Testing

/// `filamentdb sync` and `filamentdb status` as a user runs them, without a server (the runs against a live
/// `filamentdb serve` belong with the server).
@Suite(.serialized) struct SyncCLITests {
    let dir = Fixtures.temporaryDirectory()
    var data: String { dir + "/data" }
    /// Nothing listens on the discard port: the connection is refused at once.
    let unreachable = "http://127.0.0.1:9"

    func status() throws -> [String: JSONValue] {
        let r = try CLI.run(["status", "--json", "--data-dir", data])
        #expect(r.status == 0, "\(r.stderr)")
        return try #require(try JSONParser.parse(r.stdout).objectValue)
    }

    func importTwo() throws {
        let input = try write(#"[{"serial":"S1","lastUpdated":1000,"brand":"Prusament"},{"serial":"S2","lastUpdated":1000}]"#)
        #expect(try CLI.run(["import", input, "--data-dir", data]).status == 0)
    }

    @Test func statusOfAFreshDataFolderSaysNeverAndCreatesNothing() throws {
        let r = try CLI.run(["status", "--data-dir", data])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("server:     none yet ('filamentdb sync --server URL' sets it)"))
        #expect(r.stdout.contains("last sync:  never") && r.stdout.contains("queue:      0 (no history yet"))
        #expect(!r.stdout.contains("last error"))
        let json = try status()
        #expect(json["server"] == .null && json["lastSync"] == .null && json["queue"] == .int(0) && json["lastError"] == .null)
        #expect(!FileManager.default.fileExists(atPath: data))
    }

    @Test func anUnreachableServerExits69AndKeepsTheQueue() throws {
        try importTwo()
        let before = try CLI.run(["log", "--json", "--data-dir", data]).stdout
        #expect(try status()["queue"] == .int(2))
        let r = try CLI.run(["sync", "--server", unreachable, "--device", "desk", "--data-dir", data], environment: ["SYNC_API_KEY": "k"])
        #expect(r.status == 69, "\(r.stderr)")
        #expect(r.stderr.contains("filamentdb: cannot reach \(unreachable): "), "\(r.stderr)")
        #expect(r.stderr.contains("nothing was applied here: 2 changed spools stay queued for the next 'filamentdb sync'"))
        #expect(r.stdout.isEmpty)
        // The history is as it was; the error is recorded; the server is remembered only once a sync succeeds.
        #expect(try CLI.run(["log", "--json", "--data-dir", data]).stdout == before)
        let json = try status()
        #expect(json["queue"] == .int(2) && json["server"] == .null && json["lastSync"] == .null)
        #expect(json["lastError"]?.stringValue?.hasPrefix("cannot reach \(unreachable)") == true && json["lastErrorAt"] != .null)
        let text = try CLI.run(["status", "--data-dir", data]).stdout
        #expect(text.contains("queue:      2 changed spools not yet sent") && text.contains("last error: ") && text.contains("cannot reach"))
        // Still offline: the same queue, exit 69 again.
        #expect(try CLI.run(["sync", "--server", unreachable, "--data-dir", data], environment: ["SYNC_API_KEY": "k"]).status == 69)
        #expect(try status()["queue"] == .int(2))
    }

    /// A Python script of the test's own serving on a loopback port, which it writes to `folder/port` (the folder is
    /// its last argument). ``stop()`` ends it.
    class ScriptServer {
        let process = Process()
        let folder = Fixtures.temporaryDirectory()
        var port = 0
        init(script: String, arguments: [String]) throws {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["python3", "-c", script] + arguments + [folder]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            for _ in 0..<200 where port == 0 {
                port = (try? String(contentsOfFile: folder + "/port", encoding: .utf8)).flatMap { Int($0) } ?? 0
                if port == 0 { Thread.sleep(forTimeInterval: 0.05) }
            }
        }
        var url: String { "http://127.0.0.1:\(port)" }
        func stop() {
            // SIGKILL: the test process's children inherit SIGTERM ignored.
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    /// A server of the test's own (Python), answering every request with `status`, `headers` and `body`, and
    /// counting them (``count()``). ``stop()`` ends it.
    final class FixedServer: ScriptServer {
        init(status: Int, headers: [String: String] = [:], body: String) throws {
            let script = """
            import http.server, json, sys, os
            status, headers, body, folder = int(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3].encode(), sys.argv[4]
            class H(http.server.BaseHTTPRequestHandler):
                def log_message(self, *a): pass
                def do_POST(self):
                    self.rfile.read(int(self.headers.get("Content-Length", 0)))
                    open(folder + "/requests", "a").write("x")
                    self.send_response(status)
                    for k, v in headers.items(): self.send_header(k, v)
                    self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
            s = http.server.HTTPServer(("127.0.0.1", 0), H)
            open(folder + "/port.tmp", "w").write(str(s.server_address[1])); os.rename(folder + "/port.tmp", folder + "/port")
            s.serve_forever()
            """
            try super.init(script: script, arguments: [String(status), JSONValue.object(headers.mapValues { .string($0) }).jsonText, body])
        }
        func count() -> Int { (try? String(contentsOfFile: folder + "/requests", encoding: .utf8))?.count ?? 0 }
    }

    /// A server of the test's own on a raw socket (Python), for answers `http.server` will not give: `handler` is
    /// the body of its loop (indented by four spaces), with `c` the connection, `f` a reader of it and `folder` a
    /// folder of the test's to record in. ``stop()`` ends it.
    final class SocketServer: ScriptServer {
        init(handler: String) throws {
            let script = """
            import socket, sys, os
            folder = sys.argv[1]
            s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(8)
            open(folder + "/port.tmp", "w").write(str(s.getsockname()[1])); os.rename(folder + "/port.tmp", folder + "/port")
            while True:
                c, _ = s.accept()
                f = c.makefile("rb")

            """ + handler
            try super.init(script: script, arguments: [])
        }
    }

    /// A redirect is not followed (the key would go to whatever host it names; a 307 sent the body nowhere, and the
    /// queue was emptied), and a server that echoes the key in its error gets it neither printed nor kept.
    @Test func redirectsAreNotFollowedAndAnEchoedKeyIsNotShown() throws {
        try importTwo()
        let key = "the-key-of-this-test-0123456789"
        let elsewhere = try FixedServer(status: 200, body: #"{"success":true}"#)
        defer { elsewhere.stop() }
        let redirect = try FixedServer(status: 307, headers: ["Location": elsewhere.url + "/api/sync"], body: "")
        defer { redirect.stop() }
        #expect(redirect.port > 0 && elsewhere.port > 0)
        let r = try CLI.run(["sync", "--server", redirect.url, "--device", "desk", "--data-dir", data], environment: ["SYNC_API_KEY": key])
        #expect(r.status == 69, "\(r.stderr)")
        #expect(r.stderr.contains("filamentdb: \(redirect.url) gave no usable answer: the server answered 307, a redirect to \(elsewhere.url)/api/sync, which sync does not follow"), "\(r.stderr)")
        #expect(redirect.count() == 1 && elsewhere.count() == 0)
        #expect(try status()["queue"] == .int(2))
        // A redirect whose Location echoes the key: not printed, not kept either.
        let echoing = try FixedServer(status: 302, headers: ["Location": "http://elsewhere.invalid/?k=" + key], body: "")
        defer { echoing.stop() }
        let hidden = try CLI.run(["sync", "--server", echoing.url, "--device", "desk", "--data-dir", data], environment: ["SYNC_API_KEY": key])
        #expect(hidden.status == 69 && hidden.stderr.contains("a redirect to http://elsewhere.invalid/?k=<key>") && !hidden.stderr.contains(key), "\(hidden.stderr)")
        #expect(try status()["lastError"]?.stringValue?.contains(key) == false)
        // An answer that switches protocols is no answer either (it read "cannot take the request now: HTTP status 101").
        let switching = try FixedServer(status: 101, headers: ["Upgrade": "websocket", "Connection": "Upgrade"], body: "")
        defer { switching.stop() }
        let switched = try CLI.run(["sync", "--server", switching.url, "--device", "desk", "--data-dir", data], environment: ["SYNC_API_KEY": key])
        #expect(switched.status == 69, "\(switched.stderr)")
        #expect(switched.stderr.contains("gave no usable answer: the server answered 101 Switching Protocols instead of an answer to the request"), "\(switched.stderr)")
        #expect(try status()["queue"] == .int(2))
        let echo = try FixedServer(status: 401, body: #"{"success":false,"error":"wrong key: Bearer \#(key)"}"#)
        defer { echo.stop() }
        let refused = try CLI.run(["sync", "--server", echo.url, "--device", "desk", "--data-dir", data], environment: ["SYNC_API_KEY": key])
        #expect(refused.status == 77, "\(refused.stderr)")
        #expect(refused.stderr.contains("wrong key: Bearer <key>") && !refused.stderr.contains(key), "\(refused.stderr)")
        let json = try status()
        #expect(json["lastError"]?.stringValue?.contains(key) == false && json["queue"] == .int(2))
    }

    /// A server of the test's own (Python) whose answer is `size` bytes of spaces, with a `Content-Length`
    /// (`declared`) or chunked, written 64 KB at a time; it records how many bytes it got out before the client
    /// closed the connection (``sent()``: `nil` until the answer ended one way or the other).
    final class EndlessServer: ScriptServer {
        init(size: Int, declared: Bool) throws {
            let script = """
            import http.server, sys, os
            size, declared, folder = int(sys.argv[1]), sys.argv[2] == "1", sys.argv[3]
            class H(http.server.BaseHTTPRequestHandler):
                protocol_version = "HTTP/1.1"
                def log_message(self, *a): pass
                def do_POST(self):
                    self.rfile.read(int(self.headers.get("Content-Length", 0)))
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length" if declared else "Transfer-Encoding", str(size) if declared else "chunked")
                    self.end_headers()
                    sent, chunk = 0, b" " * 65536
                    try:
                        while sent < size:
                            self.wfile.write(chunk if declared else b"10000\\r\\n" + chunk + b"\\r\\n")
                            sent += len(chunk)
                        if not declared: self.wfile.write(b"0\\r\\n\\r\\n")
                        self.wfile.flush()
                    finally:
                        open(folder + "/sent", "w").write(str(sent))
            s = http.server.HTTPServer(("127.0.0.1", 0), H)
            open(folder + "/port.tmp", "w").write(str(s.server_address[1])); os.rename(folder + "/port.tmp", folder + "/port")
            s.serve_forever()
            """
            try super.init(script: script, arguments: [String(size), declared ? "1" : "0"])
        }
        /// Waits up to 10 s for the answer to end (written whole, or cut off by the client).
        func sent() -> Int? {
            for _ in 0..<200 {
                if let n = (try? String(contentsOfFile: folder + "/sent", encoding: .utf8)).flatMap({ Int($0) }) { return n }
                Thread.sleep(forTimeInterval: 0.05)
            }
            return nil
        }
    }

    /// An answer larger than `--max-answer-mb` is not read past the limit: one that says its size is refused at
    /// once, one that streams without a size is cut off where it crosses the limit (before, the whole answer
    /// was read into memory, however large, and only then found not to parse). Nothing is applied; the queue stays.
    @Test func anAnswerOverTheLimitIsNotReadFurther() throws {
        try importTwo()
        let before = try CLI.run(["log", "--json", "--data-dir", data]).stdout
        let size = 256 << 20
        for declared in [false, true] {
            let server = try EndlessServer(size: size, declared: declared)
            defer { server.stop() }
            #expect(server.port > 0)
            let r = try CLI.run(["sync", "--server", server.url, "--device", "desk", "--max-answer-mb", "1", "--data-dir", data],
                                environment: ["SYNC_API_KEY": "k"])
            #expect(r.status == 69, "\(r.stderr)")
            let what = declared ? "an answer of \(size) bytes" : "an answer still coming when the client stopped reading"
            #expect(r.stderr.contains("sent more than this client reads in one sync (1 MB of answers, all pages together): \(what), over the 1048576 bytes left to read; it was not read further, and nothing of it is applied"), "\(r.stderr)")
            #expect(r.stderr.contains("a smaller --batch makes the server's pages smaller, --max-answer-mb raises the limit"))
            #expect(r.stderr.contains("nothing was applied here: 2 changed spools stay queued"), "\(r.stderr)")
            // Cut off: the server got out a small part of the answer (what the sockets' buffers hold), not all of it.
            if !declared {
                let sent = try #require(server.sent())
                #expect(sent < size / 4, "the server sent \(sent) of \(size) bytes")
            }
        }
        #expect(try CLI.run(["log", "--json", "--data-dir", data]).stdout == before)
        #expect(try status()["queue"] == .int(2))
        let bad = try CLI.run(["sync", "--server", unreachable, "--max-answer-mb", "0", "--data-dir", data], environment: ["SYNC_API_KEY": "k"])
        #expect(bad.status == 64 && bad.stderr.contains("--max-answer-mb 0: expected 1 to 4096"), "\(bad.stderr)")
    }

    /// The proxy the environment names is used, as curl (and URLSession on Linux, before) used it: `http_proxy` for
    /// an http server, none for a host `no_proxy` names. The test's proxy takes the tunnel to the other host
    /// (AsyncHTTPClient asks for one with CONNECT) and answers the request itself, 503, recording what was asked.
    @Test func theEnvironmentsProxyIsUsed() throws {
        try importTwo()
        let server = try SocketServer(handler: """
            line = f.readline().decode()
            while f.readline() not in (b"\\r\\n", b""): pass
            open(folder + "/asked", "a").write(line.split(" ")[0] + " " + line.split(" ")[1] + "\\n")
            c.sendall(b"HTTP/1.1 200 Connection established\\r\\n\\r\\n")
            length = 0
            f.readline()
            while True:
                h = f.readline()
                if h in (b"\\r\\n", b""): break
                if h.lower().startswith(b"content-length:"): length = int(h.split(b":")[1])
            f.read(length)
            body = b'{"success":false,"error":"from the proxy"}'
            c.sendall(b"HTTP/1.1 503 Service Unavailable\\r\\nContent-Length: %d\\r\\nConnection: close\\r\\n\\r\\n" % len(body) + body)
            c.close()
        """)
        defer { server.stop() }
        let (folder, port) = (server.folder, server.port)
        let asked = { (try? String(contentsOfFile: folder + "/asked", encoding: .utf8)) ?? "" }
        let viaProxy = try CLI.run(["sync", "--server", "http://sync.invalid:8080", "--device", "desk", "--data-dir", data],
                                   environment: ["SYNC_API_KEY": "k", "http_proxy": "http://127.0.0.1:\(port)", "no_proxy": ""])
        #expect(viaProxy.status == 69 && viaProxy.stderr.contains("cannot take the request now") && viaProxy.stderr.contains("from the proxy"), "\(viaProxy.stderr)")
        #expect(asked() == "CONNECT sync.invalid:8080\n", "\(asked())")
        let direct = try CLI.run(["sync", "--server", "http://sync.invalid:8080", "--device", "desk", "--data-dir", data],
                                 environment: ["SYNC_API_KEY": "k", "http_proxy": "http://127.0.0.1:\(port)", "no_proxy": "example.org, .invalid"])
        #expect(direct.status == 69 && direct.stderr.contains("cannot reach http://sync.invalid:8080"), "\(direct.stderr)")
        #expect(asked() == "CONNECT sync.invalid:8080\n")
        #expect(try status()["queue"] == .int(2))
    }

    /// A server (or a proxy) that answers 413 before it reads the request's body, and closes: the status is the
    /// answer, so the batch goes again in halves, as for any 413 (before, the cut-off body made it "no usable
    /// answer" and the run stopped there). One spool cannot be halved: refused, exit 1.
    @Test func anEarly413IsStillA413() throws {
        try importTwo()
        let server = try SocketServer(handler: """
            while f.readline() not in (b"\\r\\n", b""): pass
            open(folder + "/requests", "a").write("x")
            c.sendall(b'HTTP/1.1 413 Payload Too Large\\r\\nContent-Length: 200\\r\\nConnection: close\\r\\n\\r\\n{"success":false,"error":"too large"')
            c.shutdown(socket.SHUT_RDWR); c.close()
        """)
        defer { server.stop() }
        let (folder, port) = (server.folder, server.port)
        let r = try CLI.run(["sync", "--server", "http://127.0.0.1:\(port)", "--device", "desk", "--data-dir", data], environment: ["SYNC_API_KEY": "k"])
        #expect(r.status == 1 && r.stderr.contains("refused the request"), "\(r.stderr)")
        // Two spools, then one: the second 413 ends the run.
        #expect(((try? String(contentsOfFile: folder + "/requests", encoding: .utf8)) ?? "").count == 2)
        #expect(try status()["queue"] == .int(2))
    }

    @Test func theKeyIsNeverTakenFromTheCommandLine() throws {
        try importTwo()
        for arguments in [["--key", "s3cret"], ["--api-key", "s3cret"], ["--key=s3cret"]] {
            let r = try CLI.run(["sync", "--server", unreachable, "--data-dir", data] + arguments)
            #expect(r.status == 64, "\(arguments): \(r.stderr)")
            #expect(r.stderr.contains("the key is never read from the command line") && r.stderr.contains("SYNC_API_KEY"), "\(r.stderr)")
            #expect(!r.stderr.contains("s3cret"))
        }
        let positional = try CLI.run(["sync", "s3cret", "--server", unreachable, "--data-dir", data])
        #expect(positional.status == 64)
        // Refused before anything was tried: no error recorded, and the help never offers such an option.
        #expect(try status()["lastError"] == .null)
        let help = try CLI.run(["sync", "--help"]).stdout
        #expect(help.contains("--key-file") && !help.contains("--key <") && !help.contains("--api-key"))
    }

    @Test func withoutAKeyOrAServerItSaysWhatToGive() throws {
        try importTwo()
        let noServer = try CLI.run(["sync", "--data-dir", data], environment: ["SYNC_API_KEY": "k"])
        #expect(noServer.status == 64 && noServer.stderr.contains("no server yet: give --server URL"), "\(noServer.stderr)")
        let noKey = try CLI.run(["sync", "--server", unreachable, "--data-dir", data], environment: ["SYNC_API_KEY": ""])
        #expect(noKey.status == 77 && noKey.stderr.contains("no key for the server: set $SYNC_API_KEY or give --key-file PATH"), "\(noKey.stderr)")
        let missingFile = try CLI.run(["sync", "--server", unreachable, "--key-file", dir + "/none", "--data-dir", data], environment: ["SYNC_API_KEY": ""])
        #expect(missingFile.status == 74 && missingFile.stderr.contains("cannot read the key file"), "\(missingFile.stderr)")
        // A key file is read (the attempt gets as far as the network).
        let keyFile = dir + "/key"
        try "k\n".write(toFile: keyFile, atomically: false, encoding: .utf8)
        #expect(chmod(keyFile, 0o600) == 0)
        let withFile = try CLI.run(["sync", "--server", unreachable, "--key-file", keyFile, "--data-dir", data], environment: ["SYNC_API_KEY": ""])
        #expect(withFile.status == 69 && !withFile.stderr.contains("warning"), "\(withFile.stderr)")
        for server in ["ftp://example.org", "http://127.0.0.1:99999", "http://127.0.0.1:0"] {
            let bad = try CLI.run(["sync", "--server", server, "--data-dir", data], environment: ["SYNC_API_KEY": "k"])
            #expect(bad.status == 64 && bad.stderr.contains("expected an http:// or https:// address"), "\(server): \(bad.stderr)")
        }
    }

    @Test func helpListsTheSyncExitStatuses() throws {
        let help = try CLI.run(["--help"]).stdout
        #expect(help.contains("69  the sync server cannot be reached") && help.contains("77  the sync server refused the key"))
        #expect(help.contains("sync") && help.contains("status"))
    }
}
