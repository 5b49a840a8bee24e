import ArgumentParser
import Foundation
import SpoolFormats
import SpoolModel

@main
struct FilamentDB: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "filamentdb",
        abstract: "Convert, check and keep the history of FilamentDB spool inventories.",
        discussion: """
        Formats: \(InventoryFormat.allCases.map(\.rawValue).joined(separator: ", ")) (see 'filamentdb formats').

        Exit status:
          0   success
          1   invalid input: the error names the file, line or row, field and serial; nothing was written (for
              'sync': the server refused what was sent, and says where)
          2   --skip-invalid: the output was written without the records the report lists as rejected
          3   not found: no such spool, revision, conflict, device branch, or no history in the data folder
          64  wrong command line (an unknown option or format, an output format that cannot be guessed, an
              ambiguous conflict id, an unusable device name, a missing or weak key for 'serve')
          65  the history is damaged (an object is missing or unreadable): run 'filamentdb verify'
          69  the sync server cannot be reached or cannot take requests now: the changes stay queued
          74  a file could not be read or written, or the data folder cannot hold a history
          75  the history stayed busy (other writers, or a lock left behind): try again
          77  the sync server refused the key, or no key was given ($SYNC_API_KEY or --key-file)
        """,
        version: FilamentDBVersion.string,
        subcommands: [Convert.self, Validate.self, Formats.self, Import.self, Merge.self, Log.self, Show.self, Diff.self,
                      Export.self, Restore.self, Conflicts.self, Verify.self, Blame.self, GC.self, Demo.self,
                      Serve.self, Sync.self, Status.self]
    )
}

extension InventoryFormat: ExpressibleByArgument {}

/// `--to`: a format that can be written (Spoolman's and OctoPrint's are read only), so that help offers only those
/// and any other is refused as a usage error naming the choices.
struct OutputFormat: ExpressibleByArgument {
    let format: InventoryFormat
    init?(argument: String) {
        guard let f = InventoryFormat(rawValue: argument), f.canWrite else { return nil }
        format = f
    }
    static var allValueStrings: [String] { InventoryFormat.allCases.filter(\.canWrite).map(\.rawValue) }
}

/// Options shared by the commands that read an inventory.
struct ReadOptions: ParsableArguments {
    @Option(help: "Input format (\(InventoryFormat.allCases.map(\.rawValue).joined(separator: ", "))); default: from the extension and the content.")
    var from: InventoryFormat?

    @Option(help: "The Dexie table to read.")
    var table: String = DexieExport.defaultTable

    @Option(help: ArgumentHelp("The import time given to records without any timestamp: epoch milliseconds or ISO 8601. Default: now.", valueName: "time"))
    var now: String?

    @Flag(help: "Convert the valid records and list the rejected ones, instead of stopping.")
    var skipInvalid = false

    @Flag(help: "Print the report as JSON.")
    var json = false

    func validate() throws {
        if let now, Self.parseTime(now) == nil {
            throw ValidationError("--now \(now): expected epoch milliseconds or an ISO 8601 date such as 2024-05-01T12:00:00Z")
        }
        if let now, let ms = Self.parseTime(now), !(0...Timestamps.limit).contains(ms) {
            throw ValidationError("--now \(now): out of range: the import time becomes lastUpdated, epoch milliseconds from 0 to 8.64e15")
        }
    }

    static func parseTime(_ text: String) -> Int64? {
        if let ms = Int64(text) { return ms }
        return Timestamps.parseISO8601(text)
    }

    func conversionOptions(to: InventoryFormat? = nil) -> ConversionOptions {
        let nowMS = now.flatMap(Self.parseTime) ?? Int64((Date().timeIntervalSince1970 * 1000).rounded())
        return ConversionOptions(from: from, to: to, table: table, now: nowMS, skipInvalid: skipInvalid)
    }
}

struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Convert an inventory from one format to another.",
        discussion: """
        The input format comes from the extension and the content; the output format from the extension
        (.json is a Dexie export, the file the web app imports; .jsonl is JSON Lines). '-' reads standard
        input or writes standard output (then --to is needed). The output file appears only if the whole
        conversion succeeds. The report goes to standard output, or to standard error when the spools do.
        """
    )

    @Argument(help: "The file to read ('-' for standard input).")
    var input: String

    @Argument(help: "The file to write ('-' for standard output).")
    var output: String

    @Option(help: "Output format; default: from the output extension.")
    var to: OutputFormat?

    @OptionGroup var read: ReadOptions

    func run() throws {
        let options = read.conversionOptions(to: to?.format)
        let progress = TerminalProgress.forInput(input)
        do {
            let report = try Conversion.convert(input: input, output: output, options: options, progress: progress)
            try Output.report(report, json: read.json, toStderr: output == "-")
            if !report.rejected.isEmpty { throw ExitCode(ExitStatus.partial) }
        } catch let error as ConversionError {
            progress?.finish()
            throw Output.fail(error)
        }
    }
}

struct Validate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check an inventory and print the report, writing nothing.",
        discussion: "Exits 1 if any record is invalid (every problem is listed), 0 if all are valid."
    )

    @Argument(help: "The file to check ('-' for standard input).")
    var input: String

    @OptionGroup var read: ReadOptions

    func run() throws {
        var options = read.conversionOptions()
        options.skipInvalid = true
        let progress = TerminalProgress.forInput(input)
        do {
            let report = try Conversion.validate(input: input, options: options, progress: progress)
            try Output.report(report, json: read.json, toStderr: false)
            if !report.rejected.isEmpty { throw ExitCode(ExitStatus.invalidInput) }
        } catch let error as ConversionError {
            progress?.finish()
            throw Output.fail(error)
        }
    }
}

struct Formats: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the formats filamentdb reads and writes.")

    func run() {
        for f in InventoryFormat.allCases {
            let modes = [f.canRead ? "read" : nil, f.canWrite ? "write" : nil].compactMap { $0 }.joined(separator: "/")
            let ext = f.extensions.isEmpty ? "--\(f.canWrite ? "to/--" : "")from \(f.rawValue)" : f.extensions.joined(separator: " ")
            print("\(f.rawValue.padding(toLength: 10, withPad: " ", startingAt: 0)) \(modes.padding(toLength: 11, withPad: " ", startingAt: 0)) \(ext.padding(toLength: 24, withPad: " ", startingAt: 0)) \(f.summary)")
        }
    }
}
