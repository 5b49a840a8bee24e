import ArgumentParser
import Foundation
import SpoolFormats
import SpoolHistory
import SpoolModel

/// `--data-dir`, shared by the commands that touch the history.
struct HistoryOptions: ParsableArguments {
    @Option(help: "The data folder (default: $SYNC_DATA_DIR, else ~/.local/share/filamentdb); the history is its history.git.")
    var dataDir: String?

    var folder: String { DataDirectory.resolve(dataDir) }

    /// Opens (or creates) the repository and says where it is, on standard error.
    func open() throws -> InventoryRepository {
        do {
            try DataDirectory.check(folder)
        } catch {
            throw Output.fail(error)
        }
        let path = folder + "/history.git"
        do {
            let (repository, created) = try InventoryRepository.openOrCreate(path)
            FileHandle.standardError.write(Data("\(created ? "created" : "history:") \(path)\n".utf8))
            return repository
        } catch {
            throw Output.fail(.io(path: path, reason: error.message))
        }
    }
}

func signature(_ name: String) -> InventoryRepository.Signature {
    InventoryRepository.Signature(name: name, email: "\(name)@filamentdb.invalid", time: Int64(Date().timeIntervalSince1970))
}

func say(_ text: String) { FileHandle.standardOutput.write(Data((text + "\n").utf8)) }

struct Import: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Commit a file's spools (any format) into the history.",
        discussion: """
        By default the file is committed onto the branch of --device (default "import") and merged into main field by
        field, as a device's sync would be: spools the file does not mention are left alone. --replace makes main
        exactly the file's inventory. With --device and --no-merge the branch waits for 'filamentdb merge'.
        An import that changes nothing makes no commit.
        """
    )

    @Argument(help: "The file to import ('-' for standard input).") var input: String
    @Option(help: "The device (branch) the import comes from.") var device: String = "import"
    @Flag(help: "Make main exactly the file's inventory.") var replace = false
    @Flag(help: "Commit onto the device's branch without merging it into main.") var noMerge = false
    @OptionGroup var history: HistoryOptions
    @OptionGroup var read: ReadOptions

    func run() throws {
        let (spools, report) = try load()
        let repository = try history.open()
        let outcome = try commit(spools, into: repository)
        describe(outcome)
        if !report.renamed.isEmpty || !report.migrated.isEmpty { say(report.lines.joined(separator: "\n")) }
    }

    func load() throws -> ([Spool], ConversionReport) {
        do {
            let bytes = try FileIO.read(input)
            return try Conversion.load(bytes, path: input, options: read.conversionOptions(), isFile: input != "-")
        } catch {
            throw Output.fail(error)
        }
    }

    var mode: InventoryRepository.ImportMode {
        if replace { return .replace }
        if noMerge { return .deviceOnly(device: device) }
        return .merge(device: device)
    }

    func commit(_ spools: [Spool], into repository: InventoryRepository) throws -> InventoryRepository.ImportOutcome {
        do {
            return try repository.importSpools(spools, mode: mode, source: URL(fileURLWithPath: input).lastPathComponent, author: signature(device))
        } catch {
            throw Output.fail(.io(path: repository.git.path, reason: error.description))
        }
    }

    func describe(_ outcome: InventoryRepository.ImportOutcome) {
        let branch = replace ? "main" : device
        if let commit = outcome.commit {
            say("committed \(commit.hex.prefix(12)) on \(branch): \(outcome.added) added, \(outcome.changed) changed, \(outcome.deleted) deleted, \(outcome.removed) removed")
        } else {
            say("nothing changed on \(branch): no commit")
        }
        guard let merge = outcome.merge else { return }
        if let commit = merge.commit {
            say("merged into main as \(commit.hex.prefix(12)): \(merge.changed.count) changed, \(merge.conflicts.count) conflict\(merge.conflicts.count == 1 ? "" : "s")")
        } else {
            say("main already has it")
        }
        for c in merge.conflicts { say("  conflict \(c.id) \(JSONValue.string(c.serial).jsonText) \(c.field): \(c.winner.rawValue) wins; \(c.reason)") }
    }
}

struct Merge: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Merge a device's branch into main, field by field (last write wins on conflicts).")

    @Argument(help: "The branch to merge.") var branch: String
    @OptionGroup var history: HistoryOptions

    func run() throws {
        let repository = try history.open()
        do {
            let merge = try repository.merge(branch, author: signature(branch))
            guard let commit = merge.commit else { return say("main already has \(branch): nothing to merge") }
            say("merged \(branch) into main as \(commit.hex.prefix(12)): \(merge.changed.count) changed, \(merge.conflicts.count) conflict\(merge.conflicts.count == 1 ? "" : "s")")
            for c in merge.conflicts { say("  conflict \(c.id) \(JSONValue.string(c.serial).jsonText) \(c.field): \(c.winner.rawValue) wins; \(c.reason)") }
        } catch {
            throw Output.fail(.io(path: repository.git.path, reason: error.description))
        }
    }
}

struct Log: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the commits of the history, newest first.")

    @Option(help: "Only commits that changed this spool.") var spool: String?
    @Option(help: "Only commits by this device.") var device: String?
    @Option(help: "Only commits at or after this date (ISO 8601).") var since: String?
    @Option(help: "Only commits at or before this date (ISO 8601).") var until: String?
    @Option(help: "The branch to start from.") var branch: String = "main"
    @OptionGroup var history: HistoryOptions

    func run() throws {
        let repository = try history.open()
        do {
            // One spool's history walks main's first-parent line, reading only the trees on its path.
            let commits: [CommitInfo]
            if let spool {
                commits = try repository.history(of: spool, branch: branch)
            } else {
                commits = try repository.log(from: try repository.head(branch))
            }
            for commit in commits {
                if let device, commit.authorName != device { continue }
                if let since = since.flatMap(Timestamps.parseISO8601), commit.time * 1000 < since { continue }
                if let until = until.flatMap(Timestamps.parseISO8601), commit.time * 1000 > until { continue }
                let date = Timestamps.formatISO8601(commit.time * 1000).prefix(19).replacingOccurrences(of: "T", with: " ")
                say("\(commit.id.hex.prefix(12))  \(date)  \(commit.authorName)  \(commit.message.split(separator: "\n").first ?? "")")
            }
        } catch {
            throw Output.fail(.io(path: repository.git.path, reason: error.description))
        }
    }
}

struct Show: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print one spool's canonical JSON, now or at a past revision.")

    @Argument(help: "The spool's serial.") var serial: String
    @Option(help: "A revision (main, a commit id, main~3, a device branch) or a date (ISO 8601).") var at: String = "main"
    @OptionGroup var history: HistoryOptions

    func run() throws {
        let repository = try history.open()
        let commit = try resolve(at, in: repository)
        let found: Spool?
        do {
            found = try repository.spool(serial, at: commit)
        } catch {
            throw Output.fail(.io(path: repository.git.path, reason: error.description))
        }
        guard let spool = found else { throw Output.fail(.usage("no spool \(JSONValue.string(serial).jsonText) at \(at)")) }
        FileHandle.standardOutput.write(Data(spool.canonicalJSON))
    }
}

/// A revision argument resolved, or a clear failure.
func resolve(_ revision: String, in repository: InventoryRepository) throws -> ObjectID {
    do {
        return try repository.resolve(revision)
    } catch {
        throw Output.fail(.usage(error.code == .notFound ? "no revision or commit at \(revision): \(error.message)" : error.description))
    }
}

struct Diff: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Field by field, what changed between two revisions (default: what the last commit changed).")

    @Argument(help: "From this revision or date (default: the last commit's first parent).") var from: String?
    @Argument(help: "To this revision or date (default: main).") var to: String?
    @Flag(help: "Print the changes as JSON.") var json = false
    @Flag(help: "Also list the unchanged fields of the spools that changed.") var all = false
    @OptionGroup var history: HistoryOptions

    func run() throws {
        let repository = try history.open()
        let target = try resolve(to ?? "main", in: repository)
        let source: ObjectID?
        if let from {
            source = try resolve(from, in: repository)
        } else {
            do { source = try repository.git.readCommit(target).parents.first } catch { throw Output.fail(.usage(error.description)) }
        }
        let changes: [FieldChange]
        do { changes = try repository.diff(from: source, to: target, includingUnchanged: all) } catch { throw Output.fail(.usage(error.description)) }
        if json {
            let array = JSONValue.array(changes.map { c in
                var o: [String: JSONValue] = ["serial": .string(c.serial), "field": .string(c.field)]
                if let old = c.old { o["old"] = old }
                if let new = c.new { o["new"] = new }
                return .object(o)
            })
            return say(array.jsonText)
        }
        for c in changes {
            if SpoolMerge.same(c.old, c.new) {
                say("\(JSONValue.string(c.serial).jsonText) \(c.field): \(c.new?.jsonText ?? "(absent)") (unchanged)")
            } else {
                say("\(JSONValue.string(c.serial).jsonText) \(c.field): \(c.old?.jsonText ?? "(absent)") -> \(c.new?.jsonText ?? "(absent)")")
            }
        }
    }
}

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Write the inventory as it was at a revision or date, in any format.")

    @Argument(help: "The file to write; its extension (or --to) picks the format.") var output: String
    @Option(help: "A revision or a date (ISO 8601).") var at: String = "main"
    @Option(help: "Output format.") var to: InventoryFormat?
    @OptionGroup var history: HistoryOptions

    func run() throws {
        let repository = try history.open()
        let commit = try resolve(at, in: repository)
        let spools: [Spool]
        do { spools = try repository.spools(at: commit) } catch { throw Output.fail(.usage(error.description)) }
        do {
            let format = try Conversion.outputFormat(for: output, options: ConversionOptions(to: to, now: 0))
            _ = try Conversion.write(StoredInventory(spools), as: format, to: output)
            FileHandle.standardError.write(Data("wrote \(spools.count) spools as of \(commit.hex.prefix(12)) to \(output) (\(format.rawValue))\n".utf8))
        } catch {
            throw Output.fail(error)
        }
    }
}

struct Restore: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make main (or one spool) what it was at a revision or date, as a new commit.",
        discussion: "Nothing is rewritten: the restore is a commit in the history, and can be undone by restoring again.")

    @Argument(help: "A revision or a date (ISO 8601).") var revision: String
    @Option(help: "Restore only this spool.") var spool: String?
    @OptionGroup var history: HistoryOptions

    func run() throws {
        let repository = try history.open()
        let commit = try resolve(revision, in: repository)
        do {
            if let restored = try repository.restore(to: commit, serial: spool, label: revision, author: signature("restore")) {
                say("restored \(spool.map { JSONValue.string($0).jsonText } ?? "main") to \(revision) (\(commit.hex.prefix(12))) as \(restored.hex.prefix(12))")
            } else {
                say("\(spool.map { JSONValue.string($0).jsonText } ?? "main") already is as at \(revision): no commit")
            }
        } catch {
            throw Output.fail(.io(path: repository.git.path, reason: error.description))
        }
    }
}
