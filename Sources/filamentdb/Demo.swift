import ArgumentParser
import Foundation
import SpoolFormats
import SpoolHistory
import SpoolModel

struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Convert the bundled sample inventory in a data folder, commit it to the history, sync two devices through a server.",
        discussion: """
        Writes the bundled sample export (a web-app Dexie export at schema version 2), converts it to JSON Lines
        and to a Dexie export the web app's current schema imports, and imports it into the data folder's history
        (history.git). The data folder is --data-dir, else $SYNC_DATA_DIR, else $XDG_DATA_HOME/filamentdb
        (~/.local/share/filamentdb); it is created if missing. Records without any timestamp get the fixed
        import time 2024-12-01T00:00:00Z, so every run gives the same result.

        Then, in demo-sync/ of the data folder (made anew each run): a sync server on loopback in this process,
        over a history of its own, and two devices with their own histories syncing through it over HTTP: the
        phone brings the sample, the laptop receives it, both change one spool's weight (a conflict, decided by
        the later write and kept in the server's history), the laptop deletes a spool and the phone gets the
        deletion. The server stops when the demo ends.
        """
    )

    /// 2024-12-01T00:00:00Z: the time given to the sample's spool that carries no timestamp at all.
    static let importTime: Int64 = 1_733_011_200_000

    @Option(help: "The data folder.")
    var dataDir: String?

    @Flag(help: "Print the reports as JSON.")
    var json = false

    @Flag(help: "Skip the sync part (a server on loopback and two devices syncing through it).")
    var noSync = false

    func run() async throws {
        let dir = DataFolder.resolve(dataDir)
        try historyCall { () throws(HistoryError) in try DataFolder.check(dir) }
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        } catch {
            throw Output.fail(.io(path: dir, reason: "cannot create the data folder: \(error.localizedDescription)"))
        }
        FileHandle.standardOutput.write(Data("data folder: \(dir)\n".utf8))
        let sample = dir + "/" + SampleInventory.fileName
        let history = DataFolder.historyPath(in: dir)
        // The sample's spools, read once: for the check below and for the import. A fixed import time, so the demo
        // gives the same spools (and makes no new commit) every run.
        let options = ConversionOptions(now: Self.importTime)
        let spools: [Spool]
        do {
            spools = try Conversion.load(Array(SampleInventory.dexieExport.utf8), path: sample, options: options, isFile: true).spools
        } catch {
            throw Output.fail(error)
        }
        // The sample goes into a new history, or one that holds nothing but the sample's spools (an earlier demo's,
        // a walk-through's): never into an inventory of the user's, whose folder is the default data folder too.
        if FileManager.default.fileExists(atPath: history) {
            let sampleSerials = Set(spools.map(\.serial))
            let foreign = try await historyCall { () async throws(HistoryError) -> [String] in
                let store = try InventoryStore(dataFolder: dir, create: false)
                // main's serials from its folders alone (no file read).
                return try await store.changedSerials(from: nil, to: try await store.head()).filter { !sampleSerials.contains($0) }
            }
            if !foreign.isEmpty {
                FileHandle.standardError.write(Data("""
                    filamentdb demo: \(history) holds an inventory of its own (\(foreign.count) spool\(foreign.count == 1 ? "" : "s") the sample \
                    does not have, such as \(JSONValue.string(foreign.sorted()[0]).jsonText)): the demo writes nothing there. Run it on a \
                    new folder: filamentdb demo --data-dir /tmp/filamentdb-demo\n
                    """.utf8))
                throw ExitCode(ExitStatus.usage)
            }
        }
        do {
            try FileIO.writeAtomically(Array(SampleInventory.dexieExport.utf8), to: sample)
            for out in ["inventory.jsonl", "inventory.dexie.json"] {
                let report = try Conversion.convert(input: sample, output: dir + "/" + out, options: options)
                try Output.report(report, json: json, toStderr: false)
            }
            let outcome = try await historyCall { () async throws(HistoryError) in
                let store = try InventoryStore(dataFolder: dir, clock: .fixed(Self.importTime / 1000))
                return try await store.importSpools(spools, mode: .merge(device: "demo"), source: SampleInventory.fileName)
            }
            say(outcome.commit.map { "history: \(history): committed \($0.hex.prefix(12)) (\(outcome.added) added, \(outcome.changed) changed)" }
                ?? "history: \(history): already holds the sample, no commit")
            say("  try: filamentdb log --data-dir \(dir)    git -C \(history) log -p")
            if !noSync { try await DemoSync(folder: dir + "/demo-sync", spools: spools).run() }
        } catch let error as ConversionError {
            throw Output.fail(error)
        }
    }
}
