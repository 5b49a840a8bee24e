import ArgumentParser
import Foundation
import SpoolHistory
import SpoolModel
import SpoolSync

struct Sync: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Send this history's changes to a sync server and apply what the server sends back.",
        discussion: """
        The history is the device: what main changed since the last sync ('import', 'restore', 'conflicts resolve')
        is sent, whole spools and deletions, in batches of --batch; what the server has that this history has not
        seen comes back, in pages, and is applied as one commit on main by the device 'sync'. Conflicts the server
        decided are listed ('filamentdb conflicts' on the server's history has them too).
        The server, the device name and the key file are remembered after a successful sync: then 'filamentdb sync'
        is enough. The key is read from --key-file (its whole content, spaces and line breaks around it removed),
        else $SYNC_API_KEY, else the remembered key file; never from the command line, where any user of the
        machine can read it with ps.
        If the server cannot be reached, nothing changes here but the recorded error: the changes stay queued for
        the next run (exit 69). 'filamentdb status' shows the last sync, the queue and the last error.
        """)

    @Option(help: "The server's address, such as https://sync.example.org (its /api/sync is used); remembered.") var server: String?
    @Option(help: "This history's name on the server (1 to 128 characters); default: the remembered one, else the host name.") var device: String?
    @Option(help: "Most changes and deletions per request, and per page of the answer.") var batch = SyncClient.defaultBatchSize
    @Option(help: "The most one sync reads of the server's answers, all pages together, in MB (1 to 4096): reading stops there, and nothing is applied.") var maxAnswerMb = SyncClient.defaultMaxAnswerBytes >> 20
    @Option(help: "A file holding the server's key (remembered, the key itself never is); default: $SYNC_API_KEY.") var keyFile: String?
    /// Refused with a message: a key given here would already be in the process list.
    @Option(name: [.customLong("key"), .customLong("api-key")], help: .hidden) var keyOnCommandLine: String?
    @OptionGroup var history: HistoryOptions

    static let keyVariable = "SYNC_API_KEY"

    func validate() throws {
        if keyOnCommandLine != nil {
            throw ValidationError("the key is never read from the command line, where any user of this machine can see it (ps): put it in $\(Self.keyVariable) or in a file named by --key-file, and count the one just typed as seen")
        }
        if batch < 1 { throw ValidationError("--batch \(batch): at least 1") }
        guard (1...4_096).contains(maxAnswerMb) else { throw ValidationError("--max-answer-mb \(maxAnswerMb): expected 1 to 4096") }
        if let server, HTTPSyncTransport.endpoint(of: server) == nil {
            throw ValidationError("--server \(server): expected an http:// or https:// address with a host, such as https://sync.example.org")
        }
        if let device, !(1...SyncRequest.maxDeviceIDLength).contains(device.count) {
            throw ValidationError("--device: a device name has 1 to \(SyncRequest.maxDeviceIDLength) characters; this one has \(device.count)")
        }
    }

    func run() async throws {
        let folder = history.folder
        let state = try historyCall { () throws(HistoryError) in try SyncClientState.load(dataFolder: folder) }
        guard let server = server ?? state.server else {
            throw usage("no server yet: give --server URL (it is remembered after the first successful sync)")
        }
        guard let endpoint = HTTPSyncTransport.endpoint(of: server) else {
            throw usage("the remembered server \(server) is not an http(s) address: give --server URL")
        }
        let device = device ?? state.device ?? ProcessInfo.processInfo.hostName
        let (key, keyFile) = try readKey(remembered: state.keyFile)
        if HTTPSyncTransport.sendsKeyInClear(endpoint) {
            FileHandle.standardError.write(Data("filamentdb: warning: \(server) is plain http: the key and the inventory cross the network unencrypted\n".utf8))
        }
        let store = try history.open(create: true)
        let client = SyncClient(store: store, dataFolder: folder, transport: HTTPSyncTransport(endpoint: endpoint, key: key), server: server,
                                device: device, batchSize: batch, keyFile: keyFile, progress: PercentProgress("syncing").report, maxAnswerBytes: maxAnswerMb << 20)
        let report: SyncReport
        do {
            report = try await client.run()
        } catch {
            let status = await fail(error, store: store, folder: folder)
            await removeIfEmpty(store)
            throw status
        }
        describe(report)
    }

    /// The key and the file it came from: --key-file, else the variable, else the remembered file.
    func readKey(remembered: String?) throws -> (key: String, file: String?) {
        if keyFile == nil, let key = ProcessInfo.processInfo.environment[Self.keyVariable], !key.isEmpty { return (key, nil) }
        guard let path = keyFile ?? remembered else {
            FileHandle.standardError.write(Data("filamentdb: no key for the server: set $\(Self.keyVariable) or give --key-file PATH\n".utf8))
            throw ExitCode(ExitStatus.keyRefused)
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            FileHandle.standardError.write(Data("filamentdb: \(path): cannot read the key file\(keyFile == nil ? " (remembered from an earlier sync; give --key-file PATH)" : "")\n".utf8))
            throw ExitCode(ExitStatus.ioError)
        }
        let key = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard !key.isEmpty else {
            FileHandle.standardError.write(Data("filamentdb: \(path): the key file is empty\n".utf8))
            throw ExitCode(ExitStatus.keyRefused)
        }
        warnIfOthersCanRead(keyFile: path, prefix: "filamentdb")
        // Remembered whole, so the next run finds it from any folder.
        return (key, URL(fileURLWithPath: path).standardizedFileURL.path)
    }

    func usage(_ message: String) -> ExitCode {
        FileHandle.standardError.write(Data("filamentdb: \(message)\n".utf8))
        return ExitCode(ExitStatus.usage)
    }

    /// Prints the failure with what to do, and returns its exit status.
    func fail(_ error: SyncClientError, store: InventoryStore, folder: String) async -> ExitCode {
        var lines = ["filamentdb: " + error.message]
        lines += error.details.map { "  \($0.path.isEmpty ? "" : $0.path + ": ")\($0.message)" }
        let status: Int32
        switch error.kind {
        case .unreachable: status = ExitStatus.unavailable
        case .badAnswer:
            lines[0] += " (is --server the address of a filamentdb server?)"
            status = ExitStatus.unavailable
        case .answerTooLarge:
            lines[0] += "; a smaller --batch makes the server's pages smaller, --max-answer-mb raises the limit"
            status = ExitStatus.unavailable
        case .keyRefused:
            lines[0] += " (the key comes from --key-file or $\(Self.keyVariable))"
            status = ExitStatus.keyRefused
        case .refused: status = ExitStatus.invalidInput
        case .history(let code): status = exitStatus(code)
        }
        if let state = try? SyncClientState.load(dataFolder: folder), let queued = try? await SyncClient.queueSize(store, state) {
            lines.append("nothing was applied here: \(queued) changed spool\(queued == 1 ? "" : "s") stay\(queued == 1 ? "s" : "") queued for the next 'filamentdb sync'")
        }
        FileHandle.standardError.write(Data((lines.joined(separator: "\n") + "\n").utf8))
        return ExitCode(status)
    }

    func describe(_ r: SyncReport) {
        let plural = { (n: Int, word: String) in "\(n) \(word)\(n == 1 ? "" : "s")" }
        if r.fullResync { say("the server no longer knew this history's place: every spool was sent again, as on a first sync") }
        say("sent \(plural(r.sentChanges, "change")) and \(plural(r.sentDeletions, "deletion")) to \(r.server) as \(quoted(r.device)) in \(plural(r.requests, "request"))")
        say("received \(plural(r.receivedChanges, "change")) and \(plural(r.receivedDeletions, "deletion")), \(plural(r.conflicts.count, "conflict"))")
        for c in r.conflicts {
            let (won, lost) = c.winner == "client" ? ("this device's", "the server's") : ("the server's", "this device's")
            let values = c.winner == "client" ? (c.clientValue, c.serverValue) : (c.serverValue, c.clientValue)
            say("  conflict \(c.id) \(quoted(c.serial)) \(c.field): \(won) \(values.0?.jsonText ?? "(absent)") won over \(lost) \(values.1?.jsonText ?? "(absent)"); \(c.reason)")
        }
        if !r.normalized.migrated.isEmpty { say("changed to store the server's spools: \(r.normalized.migratedText)") }
        for line in r.normalized.warnings.prefix(20) { say("  left empty: \(line)") }
        if r.normalized.warnings.count > 20 { say("  … and \(r.normalized.warnings.count - 20) more values left empty") }
        let head = r.head.map { String($0.hex.prefix(12)) } ?? "(empty)"
        say(r.commit == nil ? "main unchanged at \(head)" : "main is now \(head) (committed by sync)")
    }
}

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the sync state: the server, the device, the last sync, the changes queued and the last error.",
        discussion: "--json prints {server, device, lastSync, queue, syncedCommit, lastError, lastErrorAt}, times in milliseconds since the epoch, null when unknown.")

    @Flag(help: "Print times in UTC (default: the local zone, with its offset).") var utc = false
    @Flag(help: "Print the state as JSON.") var json = false
    @OptionGroup var history: HistoryOptions

    func run() async throws {
        let folder = history.folder
        let state = try historyCall { () throws(HistoryError) in try SyncClientState.load(dataFolder: folder) }
        // No history yet is an empty queue, and status creates nothing.
        let queue = try await historyCall { () async throws(HistoryError) -> Int? in
            do throws(HistoryError) {
                return try await SyncClient.queueSize(try InventoryStore(dataFolder: folder, create: false), state)
            } catch where error.code == .noHistory {
                return nil
            }
        }
        if json {
            let o: [String: JSONValue] = [
                "server": state.server.map(JSONValue.string) ?? .null, "device": state.device.map(JSONValue.string) ?? .null,
                "lastSync": state.lastSync.map(JSONValue.int) ?? .null, "queue": .int(Int64(queue ?? 0)),
                "syncedCommit": state.syncedCommit.map { .string($0.hex) } ?? .null,
                "lastError": state.lastError.map(JSONValue.string) ?? .null, "lastErrorAt": state.lastErrorAt.map(JSONValue.int) ?? .null,
            ]
            return say(JSONValue.object(o).jsonText)
        }
        let time = { (ms: Int64) in displayTime(seconds: ms / 1000, utc: utc) }
        say("server:     \(state.server ?? "none yet ('filamentdb sync --server URL' sets it)")")
        say("device:     \(state.device.map(quoted) ?? "none yet (the host name, \(quoted(ProcessInfo.processInfo.hostName)), unless --device names one)")")
        say("last sync:  \(state.lastSync.map(time) ?? "never")")
        if let queue {
            say("queue:      \(queue) changed spool\(queue == 1 ? "" : "s") not yet sent\(state.syncedCommit == nil ? " (no sync yet: every spool)" : "")")
        } else {
            say("queue:      0 (no history yet in \(folder))")
        }
        if let error = state.lastError {
            say("last error: \(state.lastErrorAt.map(time) ?? "at an unknown time"): \(error)")
        }
    }
}
