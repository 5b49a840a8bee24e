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
        let bad = try CLI.run(["sync", "--server", "ftp://example.org", "--data-dir", data], environment: ["SYNC_API_KEY": "k"])
        #expect(bad.status == 64 && bad.stderr.contains("expected an http:// or https:// address"), "\(bad.stderr)")
    }

    @Test func helpListsTheSyncExitStatuses() throws {
        let help = try CLI.run(["--help"]).stdout
        #expect(help.contains("69  the sync server cannot be reached") && help.contains("77  the sync server refused the key"))
        #expect(help.contains("sync") && help.contains("status"))
    }
}
