import ArgumentParser
import Foundation
import SpoolFormats
import SpoolHistory
import SpoolModel

struct Conflicts: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Review the conflicts merges decided, and decide them again.",
        subcommands: [List.self, ShowConflict.self, Resolve.self],
        defaultSubcommand: List.self
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List the decided conflicts, oldest first.")
        @Option(help: "Only conflicts decided at or after this date (ISO 8601, or now, today, yesterday, '3 days ago').") var since: String?
        @Option(help: "Only conflicts about this spool.") var spool: String?
        @Flag(help: "Print times in UTC (default: the local zone, with its offset).") var utc = false
        @Flag(help: "Print the conflicts as JSON: [{id, time, serial, field, base?, main?, device?, deviceName, winner, reason, redecidedBy?}].") var json = false
        @OptionGroup var history: HistoryOptions

        func validate() throws { _ = try dateOption("--since", since) }

        func run() async throws {
            let store = try history.open(create: false)
            let records = try await historyCall { () async throws(HistoryError) in try await store.conflicts() }
            let again = try await historyCall { () async throws(HistoryError) in try await store.redecisions() }
            let since = try dateOption("--since", self.since)
            var documents: [JSONValue] = []
            for r in records {
                if let since, r.time < since { continue }
                if let spool, Array(spool.utf8) != Array(r.serial.utf8) { continue }
                let redecided = again[r.id]
                if json {
                    var o: [String: JSONValue] = ["id": .string(r.id), "time": .int(r.time), "serial": .string(r.serial), "field": .string(r.field),
                                                  "deviceName": .string(r.theirsBranch), "winner": .string(r.winner == .ours ? "main" : r.theirsBranch),
                                                  "reason": .string(r.reason)]
                    if let b = r.base { o["base"] = b }
                    if let v = r.ours { o["main"] = v }
                    if let v = r.theirs { o["device"] = v }
                    if let redecided { o["redecidedBy"] = .string(redecided.id.hex) }
                    documents.append(.object(o))
                    continue
                }
                let mark = redecided.map { "  [decided again in \($0.id.hex.prefix(12)) by \($0.device)]" } ?? ""
                say("\(r.id)  \(displayTime(seconds: r.time / 1000, utc: utc))  \(quoted(r.serial)) \(r.field): \(r.winner == .ours ? r.oursBranch : r.theirsBranch) won (\(r.ours?.jsonText ?? "(absent)") on \(r.oursBranch), \(r.theirs?.jsonText ?? "(absent)") on \(r.theirsBranch))\(mark)")
            }
            if json { say(JSONValue.array(documents).jsonText) }
        }
    }

    struct ShowConflict: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "show", abstract: "Show one conflict: base, both values, the winner and why.")
        @Argument(help: "The conflict's id (or its first 4+ characters).") var id: String
        @OptionGroup var history: HistoryOptions

        func run() async throws {
            let store = try history.open(create: false)
            let r = try await historyCall { () async throws(HistoryError) in try await store.conflict(id) }
            say("conflict \(r.id): spool \(quoted(r.serial)), field \(r.field)")
            say("  base:   \(r.base?.jsonText ?? "(absent)")")
            say("  \(r.oursBranch): \(r.ours?.jsonText ?? "(absent)")\(r.winner == .ours ? "   <- kept" : "")")
            say("  \(r.theirsBranch): \(r.theirs?.jsonText ?? "(absent)")\(r.winner == .theirs ? "   <- kept" : "")")
            say("  why: \(r.reason)")
        }
    }

    struct Resolve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Apply another decision as a new commit: --take other (the value not kept), base, or a JSON value.")
        @Argument(help: "The conflict's id (or its first 4+ characters).") var id: String
        @Option(help: "other, base, or a JSON value (\"Red\" needs its quotes: '\"Red\"').") var take: String
        @OptionGroup var history: HistoryOptions

        func run() async throws {
            let resolution: Resolution
            switch take {
            case "other": resolution = .other
            case "base": resolution = .base
            default:
                guard let v = try? JSONParser.parse(take) else {
                    throw Output.fail(.usage("--take \(take): expected other, base, or a JSON value such as 650 or '\"Red\"'"))
                }
                resolution = .value(v)
            }
            let store = try history.open(create: false)
            if let commit = try await historyCall({ () async throws(HistoryError) in try await store.resolve(conflict: id, with: resolution) }) {
                say("resolved \(id) as \(commit.hex.prefix(12))")
            } else {
                say("the spool already holds that value: no commit")
            }
        }
    }
}

struct Verify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check the history without changing it: objects readable, spool files parse, paths match serials.",
        discussion: "Exits 1 and lists every problem when any is found. --json prints {spools, problems: [{path, message}]}.")
    @Flag(help: "Print the result as JSON.") var json = false
    @OptionGroup var history: HistoryOptions

    func run() async throws {
        let store = try history.open(create: false)
        let result = try await historyCall { () async throws(HistoryError) in try await store.verify() }
        if json {
            say(JSONValue.object(["spools": .int(Int64(result.spools)), "problems": .array(result.problems.map {
                .object(["path": .string($0.path), "message": .string($0.message)])
            })]).jsonText)
            if !result.problems.isEmpty { throw ExitCode(ExitStatus.invalidInput) }
            return
        }
        for p in result.problems { FileHandle.standardError.write(Data("filamentdb: \(store.path): \(p)\n".utf8)) }
        say("\(result.spools) spool\(result.spools == 1 ? "" : "s") checked, \(result.problems.count) problem\(result.problems.count == 1 ? "" : "s")")
        if !result.problems.isEmpty { throw ExitCode(ExitStatus.invalidInput) }
    }
}
