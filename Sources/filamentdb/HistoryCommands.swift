import ArgumentParser
import Foundation
import SpoolFormats
import SpoolHistory
import SpoolImport
import SpoolModel

/// `--data-dir`, shared by the commands that touch the history.
struct HistoryOptions: ParsableArguments {
    @Option(help: "The data folder (default: $SYNC_DATA_DIR, else ~/.local/share/filamentdb); the history is its history.git.")
    var dataDir: String?

    var folder: String { DataFolder.resolve(dataDir) }

    /// Opens the history and says where it is, on standard error. Only commands that write create it.
    func open(create: Bool) throws -> InventoryStore {
        let store = try historyCall { () throws(HistoryError) in try InventoryStore(dataFolder: folder, create: create) }
        FileHandle.standardError.write(Data("\(store.created ? "created" : "history:") \(store.path)\n".utf8))
        return store
    }

    /// The history, if there is one already (nothing said, nothing created when there is none).
    func openIfPresent() -> InventoryStore? {
        guard let store = try? InventoryStore(dataFolder: folder, create: false) else { return nil }
        FileHandle.standardError.write(Data("history: \(store.path)\n".utf8))
        return store
    }
}

/// After a failed first write (a full disk): the history this run created is removed if it still holds no branch,
/// so the data folder is left as it was found (an empty history made `verify` say "0 spools checked").
func removeIfEmpty(_ store: InventoryStore) async {
    guard store.created, (try? await store.withRepository { try $0.git.references(under: "refs/").isEmpty }) == true else { return }
    try? FileManager.default.removeItem(atPath: store.path)
    FileHandle.standardError.write(Data("removed the empty history it had created: \(store.path)\n".utf8))
}

/// The exit status of each kind of history failure, in one place (listed in `filamentdb --help`).
func exitStatus(_ code: HistoryError.Code) -> Int32 {
    switch code {
    case .noHistory, .noSuchBranch, .noSuchRevision, .noSuchSpool, .noSuchConflict: ExitStatus.notFound
    case .ambiguous, .invalidName: ExitStatus.usage
    case .contention: ExitStatus.busy
    case .damagedObject: ExitStatus.damaged
    case .foreignRepository, .folderNotEmpty, .io, .git: ExitStatus.ioError
    }
}

/// Runs a history call; its failure is printed on standard error and becomes its exit status.
func historyCall<T>(_ body: () async throws(HistoryError) -> T) async throws -> T {
    do {
        return try await body()
    } catch {
        FileHandle.standardError.write(Data("filamentdb: \(error)\n".utf8))
        throw ExitCode(exitStatus(error.code))
    }
}

func historyCall<T>(_ body: () throws(HistoryError) -> T) throws -> T {
    do {
        return try body()
    } catch {
        FileHandle.standardError.write(Data("filamentdb: \(error)\n".utf8))
        throw ExitCode(exitStatus(error.code))
    }
}

func say(_ text: String) { FileHandle.standardOutput.write(Data((text + "\n").utf8)) }

func quoted(_ serial: String) -> String { JSONValue.string(serial).jsonText }

/// A time of the history as a person reads it: UTC, to the second.
func displayTime(seconds: Int64, utc: Bool = false) -> String { HistoryDates.format(seconds: seconds, utc: utc) }

/// A date option read, or a clear usage error naming the option.
func dateOption(_ flag: String, _ value: String?) throws -> Int64? {
    guard let value else { return nil }
    guard let ms = HistoryDates.parse(value) else { throw ValidationError("\(flag) \(value): expected \(HistoryDates.expected)") }
    return ms
}

/// One spool's changes as lines: `"S" field: old -> new`.
func changeLines(_ change: SpoolChange, indent: String = "") -> [String] {
    change.fields.map { c in
        SpoolMerge.same(c.old, c.new)
            ? "\(indent)\(quoted(c.serial)) \(c.field): \(c.new?.jsonText ?? "(absent)") (unchanged)"
            : "\(indent)\(quoted(c.serial)) \(c.field): \(c.old?.jsonText ?? "(absent)") -> \(c.new?.jsonText ?? "(absent)")"
    }
}

struct Import: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Commit a file's spools (any format) into the history.",
        discussion: """
        The file is committed onto its device's branch and merged into main field by field: spools the file does not
        mention are left alone. With --device, the device's next file is merged against this one (three-way: a field
        the device did not change never overwrites main's). A file with no --device, and a device's first file, have
        no known base: each field that differs from main goes to the later lastUpdated, and each such decision is
        recorded as a conflict. --replace makes main exactly the file's inventory: the spools it lacks become tombstones
        (deleted at the import's time), so an older file cannot bring them back without a recorded decision. With --no-merge the device's
        branch waits for 'filamentdb merge'.
        An import that changes nothing makes no commit. With --skip-invalid the valid records are imported, the
        rejected ones listed, and the exit status is 2. A device's next full export is read only where it differs from
        its last one (a memo in the history folder; the report says how many records it knew).
        """
    )

    @Argument(help: "The file to import ('-' for standard input).") var input: String
    @Option(help: "The device the import comes from (any name; its branch is devices/<name>); its next file is merged against this one.") var device: String?
    @Flag(help: "Make main exactly the file's inventory (what it lacks becomes tombstones).") var replace = false
    @Flag(help: "Commit onto the device's branch without merging it into main.") var noMerge = false
    @OptionGroup var history: HistoryOptions
    @OptionGroup var read: ReadOptions

    func run() async throws {
        let options = read.conversionOptions()
        let bytes: [UInt8]
        do { bytes = try FileIO.read(input) } catch { throw Output.fail(error) }
        let existing = history.openIfPresent()
        var created: InventoryStore?
        let outcome: ImportResult, report: ConversionReport
        do {
            (outcome, report) = try await FileImport.run(bytes, path: input, isFile: input != "-", options: options, mode: mode,
                                                         source: URL(fileURLWithPath: input).lastPathComponent, store: existing,
                                                         open: {
                                                             let store = try history.open(create: true)
                                                             created = store
                                                             return store
                                                         }, progress: PercentProgress("importing").report)
        } catch let error as ConversionError {
            throw Output.fail(error)
        } catch let error as HistoryError {
            FileHandle.standardError.write(Data("filamentdb: importing \(input): \(error)\n".utf8))
            if let created { await removeIfEmpty(created) }
            throw ExitCode(exitStatus(error.code))
        }
        if read.json {
            say(importDocument(outcome, report: report).jsonText)
        } else {
            describe(outcome)
            if !report.renamed.isEmpty || !report.migrated.isEmpty || !report.rejected.isEmpty { say(report.lines.joined(separator: "\n")) }
        }
        if let reason = outcome.memoNotKept {
            FileHandle.standardError.write(Data("filamentdb: warning: the import is in the history, but the memo of this device's file could not be written (\(reason)): its next file is read whole\n".utf8))
        }
        if !report.rejected.isEmpty { throw ExitCode(ExitStatus.partial) }
    }

    var mode: ImportMode {
        if replace { return .replace(device: device ?? "import") }
        if noMerge { return .deviceOnly(device: device ?? "import") }
        guard let device else { return .unknownBase(device: "import") }
        return .merge(device: device)
    }

    /// `--json`: `{commit?, added, changed, deleted, removed, restamped, keptTimes, missing, superseded, main?, merge?: {commit?,
    /// changed, conflicts: [{id, serial, field, winner, reason}]}, report}`, the report as `convert --json` prints it.
    func importDocument(_ o: ImportResult, report: ConversionReport) -> JSONValue {
        var d: [String: JSONValue] = ["added": .int(Int64(o.added)), "changed": .int(Int64(o.changed)), "deleted": .int(Int64(o.deleted)),
                                      "removed": .int(Int64(o.removed)), "restamped": .int(Int64(o.restamped)),
                                      "keptTimes": .int(Int64(o.keptTimes)), "missing": .int(Int64(o.missing)),
                                      "superseded": .int(Int64(o.superseded))]
        if let c = o.commit { d["commit"] = .string(c.hex) }
        if let m = o.main { d["main"] = .string(m.hex) }
        if let reason = o.memoNotKept { d["memoNotKept"] = .string(reason) }
        if let merge = o.merge {
            var m: [String: JSONValue] = ["changed": .array(merge.changed.map { .string($0) }), "conflicts": .array(merge.conflicts.map { c in
                .object(["id": .string(c.id), "serial": .string(c.serial), "field": .string(c.field),
                         "winner": .string(c.winner == .ours ? "main" : mode.device), "reason": .string(c.reason)])
            })]
            if let c = merge.commit { m["commit"] = .string(c.hex) }
            d["merge"] = .object(m)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        if let data = try? encoder.encode(report), let value = try? JSONParser.parse([UInt8](data)) { d["report"] = value }
        return .object(d)
    }

    func describe(_ outcome: ImportResult) {
        let branch = replace ? "main" : "devices/\(device ?? "import")"
        if let commit = outcome.commit {
            say("committed \(commit.hex.prefix(12)) on \(branch): \(outcome.added) added, \(outcome.changed) changed, \(outcome.deleted) deleted, \(outcome.removed) removed")
        } else {
            say("nothing changed on \(branch): no commit")
        }
        if outcome.restamped > 0 {
            say("  \(outcome.restamped) spool\(outcome.restamped == 1 ? "" : "s") changed without a new lastUpdated (edited outside the app): given the import time")
        }
        if outcome.superseded > 0 {
            say("  \(outcome.superseded) spool\(outcome.superseded == 1 ? "" : "s") given again later in the file under the same serial: the last copy kept")
        }
        if outcome.missing > 0 {
            say("  \(outcome.missing) spool\(outcome.missing == 1 ? "" : "s") in main \(outcome.missing == 1 ? "is" : "are") not in this file and stay\(outcome.missing == 1 ? "s" : ""); --replace deletes what the file lacks")
        }
        if outcome.keptTimes > 0 {
            say("  \(outcome.keptTimes) spool\(outcome.keptTimes == 1 ? "" : "s") without a time in the file, otherwise unchanged: kept the stored time")
        }
        guard let merge = outcome.merge else { return }
        if let commit = merge.commit {
            say("merged into main as \(commit.hex.prefix(12)): \(merge.changed.count) changed, \(merge.conflicts.count) conflict\(merge.conflicts.count == 1 ? "" : "s")")
        } else {
            say("main already has it")
        }
        describeConflicts(merge.conflicts, device: device ?? "import")
    }
}

/// Each conflict a merge decided, naming the sides by what they are: main, and the device.
func describeConflicts(_ conflicts: [FieldConflict], device: String) {
    for c in conflicts {
        say("  conflict \(c.id) \(quoted(c.serial)) \(c.field): \(c.winner == .ours ? "main" : quoted(device)) wins; \(c.reason)")
    }
}

struct Merge: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Merge a device's branch into main, field by field (last write wins on conflicts).")

    @Argument(help: "The device whose branch to merge.") var device: String
    @OptionGroup var history: HistoryOptions

    func run() async throws {
        let store = try history.open(create: false)
        let merge = try await historyCall { () async throws(HistoryError) in try await store.merge(device: device) }
        guard let commit = merge.commit else { return say("main already has \(device): nothing to merge") }
        say("merged \(device) into main as \(commit.hex.prefix(12)): \(merge.changed.count) changed, \(merge.conflicts.count) conflict\(merge.conflicts.count == 1 ? "" : "s")")
        describeConflicts(merge.conflicts, device: device)
    }
}

struct Log: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the commits of the history, newest first.")

    @Option(help: "Only commits that changed this spool.") var spool: String?
    @Option(help: "Only commits by this device.") var device: String?
    @Option(help: "Only commits at or after this date (ISO 8601, or now, today, yesterday, '3 days ago').") var since: String?
    @Option(help: "Only commits at or before this date (as --since).") var until: String?
    @Option(name: .customShort("n"), help: "At most this many commits.") var limit: Int?
    @Option(help: "Read this device's branch instead of main.") var branch: String?
    @Option(help: "Only commits that changed this field.") var field: String?
    @Flag(name: [.customShort("p"), .customLong("patch")], help: "Show each commit's field changes.") var patch = false
    @Flag(help: "Show how many spools each commit added, changed, deleted and removed.") var stat = false
    @Flag(help: "Print times in UTC (default: the local zone, with its offset).") var utc = false
    @Flag(help: "Print the commits as JSON: [{id, time, device, summary, parents, changes?}].") var json = false
    @OptionGroup var history: HistoryOptions

    func validate() throws {
        _ = try dateOption("--since", since)
        _ = try dateOption("--until", until)
    }

    func run() async throws {
        let store = try history.open(create: false)
        let query = LogQuery(spool: spool, device: device, since: try dateOption("--since", since), until: try dateOption("--until", until),
                             limit: limit, branchOfDevice: branch == "main" ? nil : branch, field: field)
        let commits = try await historyCall { () async throws(HistoryError) in try await store.log(query) }
        var documents: [JSONValue] = []
        for commit in commits {
            let changes = patch || stat || json
                ? try await historyCall { () async throws(HistoryError) in try await store.changes(of: commit) } : []
            if json {
                var o: [String: JSONValue] = ["id": .string(commit.id.hex), "time": .int(commit.time * 1000), "device": .string(commit.device),
                                              "summary": .string(commit.summary), "parents": .array(commit.parents.map { .string($0.hex) })]
                if patch || stat { o["changes"] = .array(changes.map(\.json)) }
                documents.append(.object(o))
                continue
            }
            say("\(commit.id.hex.prefix(12))  \(displayTime(seconds: commit.time, utc: utc))  \(commit.device)  \(commit.summary)")
            if stat {
                let count = { (s: SpoolChange.Status) in changes.filter { $0.status == s }.count }
                say("    \(changes.count) spool\(changes.count == 1 ? "" : "s"): \(count(.added)) added, \(count(.changed)) changed, \(count(.deleted)) deleted, \(count(.removed)) removed")
            }
            if patch { for c in changes { for line in changeLines(c, indent: "    ") { say(line) } } }
        }
        if json { say(JSONValue.array(documents).jsonText) }
    }
}

/// A revision argument resolved, or a clear failure.
func commit(named revision: String, in store: InventoryStore) async throws -> ObjectID {
    try await historyCall { () async throws(HistoryError) in try await store.commit(named: revision) }
}

struct Show: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print one spool's canonical JSON, now or at a past revision.")

    @Argument(help: "The spool's serial.") var serial: String
    @Option(help: "A revision (main, a commit id, main~3, a device's name) or a date (ISO 8601).") var at: String = "main"
    @OptionGroup var history: HistoryOptions

    func run() async throws {
        let store = try history.open(create: false)
        let at = try await commit(named: self.at, in: store)
        let found = try await historyCall { () async throws(HistoryError) in try await store.spool(serial, at: at) }
        guard let spool = found else {
            return try historyCall { () throws(HistoryError) in throw HistoryError(.noSuchSpool, "no spool \(quoted(serial)) at \(self.at)", path: store.path) }
        }
        FileHandle.standardOutput.write(Data(spool.canonicalJSON))
    }
}

struct Diff: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Field by field, what changed between two revisions (default: what the last commit changed).",
        discussion: """
        --json prints an array with one object per spool: {"serial", "status": "added"|"removed"|"deleted"|"changed",
        "fields": [{"field", "old", "new"}]}, a side that is absent left out.
        """)

    @Argument(help: "From this revision or date (default: the last commit's first parent).") var from: String?
    @Argument(help: "To this revision or date (default: main).") var to: String?
    @Flag(help: "Print the changes as JSON.") var json = false
    @Flag(help: "Also list the unchanged fields of the spools that changed.") var all = false
    @OptionGroup var history: HistoryOptions

    func run() async throws {
        let store = try history.open(create: false)
        let target = try await commit(named: to ?? "main", in: store)
        let source: ObjectID?
        if let from {
            source = try await commit(named: from, in: store)
        } else {
            source = try await historyCall { () async throws(HistoryError) in try await store.readCommit(target).parents.first }
        }
        let changes = try await historyCall { () async throws(HistoryError) in try await store.diff(from: source, to: target, includingUnchanged: all) }
        if json { return say(JSONValue.array(changes.map(\.json)).jsonText) }
        for change in changes { for line in changeLines(change) { say(line) } }
    }
}

struct Export: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Write the inventory as it was at a revision or date, in any format.")

    @Argument(help: "The file to write; its extension (or --to) picks the format.") var output: String
    @Option(help: "A revision or a date (ISO 8601).") var at: String = "main"
    @Option(help: "Output format; default: from the output extension.") var to: OutputFormat?
    @OptionGroup var history: HistoryOptions

    func run() async throws {
        let store = try history.open(create: false)
        let commit = try await commit(named: at, in: store)
        let spools = try await historyCall { () async throws(HistoryError) in try await store.spools(at: commit, progress: PercentProgress("reading the history").report) }
        do {
            let format = try Conversion.outputFormat(for: output, options: ConversionOptions(to: to?.format, now: 0))
            _ = try Conversion.write(StoredInventory(spools), as: format, to: output)
            FileHandle.standardError.write(Data("wrote \(spools.count) spools as of \(commit.hex.prefix(12)) to \(output) (\(format.rawValue))\n".utf8))
        } catch {
            throw Output.fail(error)
        }
    }
}

struct Restore: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make main (or one spool) what it was at a revision or date, as a new commit.",
        discussion: "Nothing is rewritten: the restore is a commit in the history, and can be undone by restoring again.")

    @Argument(help: "A revision or a date (ISO 8601).") var revision: String
    @Option(help: "Restore only this spool.") var spool: String?
    @OptionGroup var history: HistoryOptions

    func run() async throws {
        let store = try history.open(create: false)
        let commit = try await commit(named: revision, in: store)
        let restored = try await historyCall { () async throws(HistoryError) in
            try await store.restore(to: commit, serial: spool, label: revision, progress: PercentProgress("restoring").report)
        }
        let what = spool.map(quoted) ?? "main"
        if let restored {
            say("restored \(what) to \(revision) (\(commit.hex.prefix(12))) as \(restored.hex.prefix(12))")
        } else {
            say("\(what) already is as at \(revision): no commit")
        }
    }
}

struct Blame: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "For each field of one spool: the commit, device and time that last set it on main.",
        discussion: "--json prints [{field, value, commit, device, time, summary}], time in milliseconds since the epoch.")

    @Argument(help: "The spool's serial.") var serial: String
    @Flag(help: "Print times in UTC (default: the local zone, with its offset).") var utc = false
    @Flag(help: "Print the fields as JSON.") var json = false
    @OptionGroup var history: HistoryOptions

    func run() async throws {
        let store = try history.open(create: false)
        let fields = try await historyCall { () async throws(HistoryError) in try await store.blame(serial) }
        if json {
            return say(JSONValue.array(fields.map { f in
                .object(["field": .string(f.field), "value": f.value, "commit": .string(f.commit.id.hex), "device": .string(f.commit.device),
                         "time": .int(f.commit.time * 1000), "summary": .string(f.commit.summary)])
            }).jsonText)
        }
        for f in fields {
            say("\(f.commit.id.hex.prefix(12))  \(displayTime(seconds: f.commit.time, utc: utc))  \(f.commit.device)  \(f.field): \(f.value.jsonText)")
        }
    }
}

struct GC: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gc",
        abstract: "Rewrite the history's objects as one pack and reclaim what no branch reaches.",
        discussion: """
        Each write adds one pack; objects of writes that failed or were stopped are never referenced. gc keeps what
        main and the device branches reach and removes the rest, and the temporary files of stopped writers.
        Packs younger than \(Int(InventoryStore.garbageGrace)) seconds are kept, since another process may be
        about to use them (filamentdb also collects by itself past \(InventoryStore.packLimit) packs). Stock
        'git gc' on the repository works too.

        --tombstones-older-than DAYS also removes from main, as one commit, the tombstones of spools deleted more
        than DAYS days ago (a tombstone is what carries a deletion to every device). That commit becomes the
        horizon: a device that last synced before it gets the whole inventory on its next sync (fullResync).
        """)
    @OptionGroup var history: HistoryOptions

    @Option(help: "Also remove the tombstones of spools deleted more than this many days ago.")
    var tombstonesOlderThan: Int?

    func run() async throws {
        let store = try history.open(create: false)
        if let days = tombstonesOlderThan {
            guard days >= 0 else { throw ValidationError("--tombstones-older-than \(days): expected 0 or more days") }
            let cutoff = Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)) - Int64(days) * 86_400_000
            let (commit, removed) = try await historyCall { () async throws(HistoryError) in try await store.purgeTombstones(before: cutoff) }
            say(commit.map { "removed \(removed) tombstone\(removed == 1 ? "" : "s") in \($0.hex.prefix(12)); devices that last synced before it get a full resync" }
                ?? "no tombstone older than \(days) days")
        }
        let (before, after) = try await historyCall { () async throws(HistoryError) in try await store.collectGarbage() }
        // Packs written in the last minute are kept beside the new one (a reader may have just found an object in one).
        let kept = max(0, after - 1)
        say("\(before) pack\(before == 1 ? "" : "s") before, \(after) now" + (after == 0 ? "" : ": one pack holds every object the branches reach")
            + (kept > 0 ? ", and \(kept) pack\(kept == 1 ? "" : "s") written in the last \(Int(InventoryStore.garbageGrace)) s kept until a later gc" : ""))
    }
}
