import ArgumentParser
import Foundation
import Logging
import SpoolHistory
import SpoolServer
import SpoolSync

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve the sync API (POST /api/sync) over the history, for the web app and other devices.",
        discussion: """
        The key comes from $SYNC_API_KEY or from --key-file (which wins), never from the command line, where any \
        user of the machine sees it in 'ps'. It needs at least \(APIKeyPolicy.minimumLength) characters; \(howToMakeAKey). \
        Clients send it as "Authorization: Bearer <key>" or as the body's "apiKey" (the web app does).

        The server listens on the loopback unless --host says otherwise. SIGTERM or SIGINT stops it once the \
        requests in flight are answered. Requests are logged on standard error (LOG_LEVEL=debug for more), never \
        the key. The API is described at /openapi.json.
        """
    )

    static let howToMakeAKey = "make one with: export SYNC_API_KEY=$(openssl rand -hex 32) (or print one with: filamentdb serve --generate-key)"

    @Option(help: "The address to listen on (0.0.0.0 or :: for every interface).")
    var host = ServerConfiguration.defaultHost

    @Option(help: "The port; 0 takes any free port (the line printed on start gives it).")
    var port = ServerConfiguration.defaultPort

    @Option(help: ArgumentHelp("A file holding the API key (one line).", valueName: "path"))
    var keyFile: String?

    @Option(help: "The Access-Control-Allow-Origin of every answer: '*', or the web app's origin (https://spools.example.org).")
    var allowOrigin = "*"

    @Option(help: "The largest request body, in MiB (a larger one gets 413 before it is read).")
    var maxBodyMb = ServerConfiguration.defaultMaxBodyBytes >> 20

    @Option(name: .customLong("trusted-proxy"),
            help: ArgumentHelp("A reverse proxy's address, or its network (172.18.0.0/16; repeat for several): its X-Forwarded-For names the client of the requests it passes on (in the request log too). Without it, every client behind a proxy shares one client's part of the memory for request bodies read before their key is checked.", valueName: "address"))
    var trustedProxies: [String] = []

    @Option(help: "The most changes plus deletions in one request (more gets 413: upload in batches).")
    var batchLimit = SyncConfiguration().batchLimit

    @Option(help: "The budget of the caches of git objects, in MiB: libgit2's of parsed objects (counted as their raw size: the memory they take is two to three times that; 0: none), and a quarter of it each for trees and spool files kept as their bytes (at least 1 MiB each). Smaller for a small machine, at the cost of reading objects again.")
    var cacheMb = GitRepository.defaultCacheBytes >> 20

    @Flag(help: "Print a new random key (64 hexadecimal digits) and exit.")
    var generateKey = false

    @OptionGroup var history: HistoryOptions

    func validate() throws {
        guard (0...65_535).contains(port) else { throw ValidationError("--port \(port): expected 0 to 65535 (0 for any free port)") }
        guard (1...4_096).contains(maxBodyMb) else { throw ValidationError("--max-body-mb \(maxBodyMb): expected 1 to 4096") }
        guard batchLimit >= 1 else { throw ValidationError("--batch-limit \(batchLimit): expected at least 1") }
        guard (0...65_536).contains(cacheMb) else { throw ValidationError("--cache-mb \(cacheMb): expected 0 to 65536") }
        guard !allowOrigin.isEmpty else { throw ValidationError("--allow-origin: expected '*' or an origin such as https://spools.example.org") }
        do {
            _ = try TrustedProxies(trustedProxies)
        } catch {
            throw ValidationError("--trusted-proxy \(error)")
        }
    }

    func run() async throws {
        if generateKey {
            say(APIKeyPolicy.generate())
            return
        }
        let key = try readKey()
        GitRepository.cacheBytes = cacheMb << 20
        let folder = history.folder
        let store = try historyCall { () throws(HistoryError) in try InventoryStore(dataFolder: folder) }
        let service = SyncService(store: store, configuration: SyncConfiguration(batchLimit: batchLimit))
        do {
            try await service.prepare()
        } catch {
            FileHandle.standardError.write(Data("filamentdb serve: \(error.path.map { $0 + ": " } ?? "")\(error.message)\n".utf8))
            throw ExitCode(exitStatus(error.code))
        }
        var logger = Logger(label: "filamentdb.serve") { ServerLogHandler(label: $0) }
        logger.logLevel = ProcessInfo.processInfo.environment["LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info

        let configuration = ServerConfiguration(apiKey: key, host: host, port: port, allowedOrigin: allowOrigin, maxBodyBytes: maxBodyMb << 20,
                                                trustedProxies: try TrustedProxies(trustedProxies))
        let address = host.contains(":") ? "[\(host)]" : host
        let historyPath = store.path
        let app = buildApplication(configuration: configuration, service: service, logger: logger) { port in
            FileHandle.standardError.write(Data("filamentdb serve: listening on http://\(address):\(port) (history: \(historyPath))\n".utf8))
        }
        do {
            try await app.runService()
            // Stopped (SIGTERM, SIGINT): what the journal holds goes to the repository.
            await service.close()
        } catch {
            FileHandle.standardError.write(Data("filamentdb serve: cannot serve on \(address):\(port): \(error)\n".utf8))
            throw ExitCode(ExitStatus.ioError)
        }
    }

    /// The key from --key-file (its surrounding blanks and newline dropped) or $SYNC_API_KEY, refused with exit 64
    /// and how to make a good one when it is missing, short or a published example.
    func readKey() throws -> String {
        var key = ProcessInfo.processInfo.environment["SYNC_API_KEY"]
        var source = "SYNC_API_KEY"
        if let keyFile {
            guard let data = FileManager.default.contents(atPath: keyFile) else {
                FileHandle.standardError.write(Data("filamentdb serve: cannot read the key file \(keyFile)\n".utf8))
                throw ExitCode(ExitStatus.ioError)
            }
            key = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            source = keyFile
            warnIfOthersCanRead(keyFile: keyFile, prefix: "filamentdb serve")
        }
        if let problem = APIKeyPolicy.problem(with: key) {
            let origin = key.map { $0.isEmpty ? "" : " (from \(source))" } ?? ""
            FileHandle.standardError.write(Data("filamentdb serve: \(problem)\(origin): the server would not be protected. Set SYNC_API_KEY or pass --key-file PATH; \(Self.howToMakeAKey)\n".utf8))
            throw ExitCode(ExitStatus.usage)
        }
        return key!
    }
}
