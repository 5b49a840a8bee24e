import ArgumentParser
import Foundation
import SpoolFormats

struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Convert the bundled sample inventory in a data folder and print the report.",
        discussion: """
        Writes the bundled sample export (a web-app Dexie export at schema version 2), then converts it to
        JSON Lines and to a Dexie export the web app's current schema imports. The data folder is
        --data-dir, else $SYNC_DATA_DIR, else $XDG_DATA_HOME/filamentdb (~/.local/share/filamentdb); it is
        created if missing.
        """
    )

    @Option(help: "The data folder.")
    var dataDir: String?

    @Flag(help: "Print the reports as JSON.")
    var json = false

    func run() throws {
        let dir = DataDirectory.resolve(dataDir)
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        } catch {
            throw Output.fail(.io(path: dir, reason: "cannot create the data folder: \(error.localizedDescription)"))
        }
        FileHandle.standardOutput.write(Data("data folder: \(dir)\n".utf8))
        let sample = dir + "/" + SampleInventory.fileName
        do {
            try FileIO.writeAtomically(Array(SampleInventory.dexieExport.utf8), to: sample)
            let options = ConversionOptions(now: Int64((Date().timeIntervalSince1970 * 1000).rounded()))
            for out in ["inventory.jsonl", "inventory.dexie.json"] {
                let report = try Conversion.convert(input: sample, output: dir + "/" + out, options: options)
                try Output.report(report, json: json, toStderr: false)
            }
        } catch let error as ConversionError {
            throw Output.fail(error)
        }
    }
}

enum DataDirectory {
    /// `--data-dir`, else `$SYNC_DATA_DIR` (the plan's variable), else the per-user data folder.
    static func resolve(_ option: String?) -> String {
        if let option, !option.isEmpty { return option }
        let env = ProcessInfo.processInfo.environment
        if let dir = env["SYNC_DATA_DIR"], !dir.isEmpty { return dir }
        if let xdg = env["XDG_DATA_HOME"], !xdg.isEmpty { return xdg + "/filamentdb" }
        return NSHomeDirectory() + "/.local/share/filamentdb"
    }
}
