import Foundation
import Hummingbird
import Logging
import SpoolFormats
import SpoolHistory
import SpoolModel
import SpoolServer
import SpoolSync

/// The sync part of `filamentdb demo`: a real server on loopback (in this process) over a history of its own,
/// and two devices, each with its own history, syncing through it over HTTP with `filamentdb sync`'s client:
/// the phone brings the sample, the laptop receives it, both change one spool's weight (a conflict, decided by
/// the later write), the laptop deletes a spool (the deletion reaches the phone).
struct DemoSync {
    let folder: String
    let spools: [Spool]

    func run() async throws {
        try? FileManager.default.removeItem(atPath: folder)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        say("")
        say("sync: a server on loopback over \(folder)/server, two devices syncing through it")
        let key = APIKeyPolicy.generate()
        let store = try await historyCall { () async throws(HistoryError) in try InventoryStore(dataFolder: folder + "/server") }
        let service = SyncService(store: store)
        try await historyCall { () async throws(HistoryError) in try await service.prepare() }
        var logger = Logger(label: "filamentdb.demo")
        logger.logLevel = .critical
        let (ports, listening) = AsyncStream.makeStream(of: Int.self)
        let app = buildApplication(configuration: ServerConfiguration(apiKey: key, port: 0), service: service, logger: logger) { port in
            listening.yield(port)
        }
        let server = Task { try await app.runService(gracefulShutdownSignals: []) }
        defer { server.cancel() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw DemoFailure("the demo server did not start") }
        let url = "http://127.0.0.1:\(port)"
        say("  server: \(url) (a random key; 'filamentdb serve' runs the same server)")

        let phone = try await Device(name: "phone", folder: folder + "/phone", server: url, key: key)
        let laptop = try await Device(name: "laptop", folder: folder + "/laptop", server: url, key: key)
        _ = try await historyCall { () async throws(HistoryError) in
            try await phone.store.importSpools(spools, mode: .merge(device: "phone"), source: SampleInventory.fileName)
        }
        try await phone.sync("brings the sample")
        try await laptop.sync("receives it")

        // Both change one spool's remaining weight, the laptop a second later: the later write wins.
        let live = spools.filter { !$0.isDeleted }.sorted { utf8Ordered($0.serial, $1.serial) }
        guard live.count >= 2 else { throw DemoFailure("the sample has fewer than two spools") }
        let weighed = live[0].serial, dropped = live[1].serial
        let now = SyncService.systemClock()
        try await phone.edit(weighed, at: now, ["weightRemaining": .int(850)])
        try await laptop.edit(weighed, at: now + 1000, ["weightRemaining": .int(820)])
        try await laptop.delete(dropped, at: now + 2000)
        try await phone.sync("weighed \(weighed) at 850 g")
        let decided = try await laptop.sync("weighed it at 820 g a second later, and deleted \(dropped)")
        try await phone.sync("gets both")

        for conflict in decided.conflicts {
            say("  conflict \(conflict.id): \(conflict.serial) \(conflict.field): laptop \(conflict.clientValue?.jsonText ?? "none"), server \(conflict.serverValue?.jsonText ?? "none"), \(conflict.winner) wins")
            say("    \(conflict.reason)")
        }
        // The conflict's diff, as the server's history has it: the laptop's merge into main.
        let head = try await historyCall { () async throws(HistoryError) in try await store.head() }
        if let head {
            let merge = try await historyCall { () async throws(HistoryError) in try await store.readCommit(head) }
            let changes = try await historyCall { () async throws(HistoryError) in try await store.changes(of: merge) }
            say("  the server's last merge, \(merge.id.hex.prefix(12)) \"\(merge.summary)\":")
            for change in changes {
                for field in change.fields where field.field != "lastUpdated" {
                    say("    \(change.serial) \(field.field): \(field.old?.jsonText ?? "none") -> \(field.new?.jsonText ?? "none")")
                }
            }
        }
        let phoneWeight = try await phone.value(weighed, "weightRemaining")
        let phoneHas = try await phone.has(dropped)
        say("  phone now: \(weighed) weightRemaining \(phoneWeight), \(dropped) \(phoneHas ? "still there" : "deleted")")
        say("  try: git -C \(folder)/server/history.git log --graph --oneline --all")
        await service.close()
    }

    struct DemoFailure: Error, CustomStringConvertible {
        var description: String
        init(_ d: String) { description = d }
    }

    /// One device: its own history and the sync client.
    struct Device {
        let name: String
        let store: InventoryStore
        let client: SyncClient

        init(name: String, folder: String, server: String, key: String) async throws {
            self.name = name
            store = try await historyCall { () async throws(HistoryError) in try InventoryStore(dataFolder: folder) }
            guard let endpoint = HTTPSyncTransport.endpoint(of: server) else { throw DemoFailure("bad server address \(server)") }
            client = SyncClient(store: store, dataFolder: folder, transport: HTTPSyncTransport(endpoint: endpoint, key: key), server: server, device: name)
        }

        @discardableResult
        func sync(_ what: String) async throws -> SyncReport {
            let report = try await client.run()
            say("  \(name) \(what): sent \(report.sentChanges) changes and \(report.sentDeletions) deletions, received \(report.receivedChanges) changes and \(report.receivedDeletions) deletions, \(report.conflicts.count) conflict\(report.conflicts.count == 1 ? "" : "s")")
            return report
        }

        func edit(_ serial: String, at time: Int64, _ fields: [String: JSONValue]) async throws {
            guard var spool = try await historyCall({ () async throws(HistoryError) in try await store.spool(serial) }) else { return }
            for (k, v) in fields { spool[k] = v }
            spool["lastUpdated"] = .int(time)
            let edited = spool
            _ = try await historyCall { () async throws(HistoryError) in
                try await store.commit([(serial, edited)], device: name, message: "demo: edit \(serial)")
            }
        }

        func delete(_ serial: String, at time: Int64) async throws {
            try await edit(serial, at: time, ["deleted": .bool(true)])
        }

        func value(_ serial: String, _ field: String) async throws -> String {
            try await historyCall { () async throws(HistoryError) in try await store.spool(serial) }?[field]?.jsonText ?? "none"
        }

        func has(_ serial: String) async throws -> Bool {
            try await historyCall { () async throws(HistoryError) in try await store.spool(serial) }.map { !$0.isDeleted } ?? false
        }
    }
}
