import Foundation
import SpoolModel

/// How to read and write.
public struct ConversionOptions: Sendable {
    /// The input format; `nil` detects it from the extension and the content.
    public var from: InventoryFormat?
    /// The output format; `nil` takes it from the output extension.
    public var to: InventoryFormat?
    /// The Dexie table to read (default `spools`).
    public var table: String?
    /// The import time (epoch ms) given to records that carry no timestamp at all.
    public var now: Int64
    /// Convert the valid records and list the others, instead of stopping at the first invalid one.
    public var skipInvalid: Bool
    /// Inputs at least this large keep their spools in a temporary file rather than in memory.
    public var spillThreshold = 16 << 20

    public init(from: InventoryFormat? = nil, to: InventoryFormat? = nil, table: String? = nil, now: Int64, skipInvalid: Bool = false) {
        self.from = from
        self.to = to
        self.table = table
        self.now = now
        self.skipInvalid = skipInvalid
    }
}

/// Receives progress of a long conversion (the CLI draws a bar on a terminal).
public protocol ProgressSink: AnyObject {
    func update(phase: String, done: Int, total: Int)
    func finish()
}

/// An id the Dexie writer had to give a spool (it had none, or shared one).
public struct IDAssignment: Sendable, Hashable, Codable {
    public var serial: String
    public var oldID: Int64?
    public var newID: Int64

    public init(serial: String, oldID: Int64?, newID: Int64) {
        self.serial = serial
        self.oldID = oldID
        self.newID = newID
    }
}

/// Everything a conversion did, for people (``lines``) and for scripts (`Codable`, `--json`).
public struct ConversionReport: Sendable, Codable {
    public var input: String
    public var inputFormat: String
    public var output: String?
    public var outputFormat: String?
    public var read = 0
    public var written = 0
    public var live = 0
    public var tombstones = 0
    public var migrated: [String: Int] = [:]
    public var renamed: [Rename] = []
    public var rejected: [Rejection] = []
    public var warnings: [ImportWarning] = []
    public var idsAssigned: [IDAssignment] = []
    public var notes: [String] = []
    /// The fields the input had room for, when not every field (a CSV file's columns); see ``InventoryInput/fields``.
    public var fieldsInInput: [String]?

    /// The report as lines of text.
    public var lines: [String] {
        var out: [String] = []
        out.append("read \(read) record\(read == 1 ? "" : "s") from \(input) (\(inputFormat))")
        for n in notes { out.append("  \(n)") }
        let accepted = live + tombstones
        if let output {
            out.append("wrote \(written) spool\(written == 1 ? "" : "s") (\(live) live, \(tombstones) tombstone\(tombstones == 1 ? "" : "s")) to \(output) (\(outputFormat ?? "?"))")
        } else {
            out.append("valid: \(accepted) spool\(accepted == 1 ? "" : "s") (\(live) live, \(tombstones) tombstone\(tombstones == 1 ? "" : "s"))")
        }
        if migrated.isEmpty {
            out.append("migrated: nothing to migrate")
        } else {
            out.append("migrated:")
            for (rule, n) in migrated.sorted(by: { $0.key < $1.key }) { out.append("  \(rule): \(n)") }
        }
        if !renamed.isEmpty {
            out.append("renamed: \(renamed.count)")
            for r in renamed {
                out.append("  \(r.location.description)\(r.id.map { " (id \($0))" } ?? ""): \(JSONValue.string(r.serial).jsonText) -> \(JSONValue.string(r.newSerial).jsonText) (\(r.reason))")
            }
        }
        if !idsAssigned.isEmpty {
            out.append("ids assigned for the Dexie export: \(idsAssigned.count)")
            for a in idsAssigned.prefix(50) {
                out.append("  \(JSONValue.string(a.serial).jsonText): \(a.oldID.map { "id \($0) (already taken)" } ?? "no id") -> id \(a.newID)")
            }
            if idsAssigned.count > 50 { out.append("  … and \(idsAssigned.count - 50) more (the JSON form of the report lists them all)") }
        }
        if !warnings.isEmpty {
            out.append("warnings: \(warnings.count)")
            for w in warnings {
                out.append("  \(w.location.description): \(serialPhraseText(w.serial)): field \"\(w.field)\": \(w.message)")
            }
        }
        if !rejected.isEmpty {
            out.append("rejected: \(rejected.count)")
            for r in rejected { out.append(contentsOf: r.lines(file: input).map { "  " + $0 }) }
        }
        return out
    }
}

func serialPhraseText(_ s: String) -> String { s.isEmpty ? "empty serial" : "serial \(JSONValue.string(s).jsonText)" }

/// Reading, checking and writing inventories: the work behind `filamentdb convert` and `validate`.
public enum Conversion {
    /// Reads an inventory from `bytes` (named `path` in messages) into canonical spools, sorted by serial.
    /// `isFile` says `path` is the file the bytes came from (SQLite is opened in place).
    public static func load(
        _ bytes: [UInt8], path: String, options: ConversionOptions, isFile: Bool = false, progress: ProgressSink? = nil
    ) throws(ConversionError) -> (spools: [Spool], report: ConversionReport) {
        let (inventory, report) = try loadStored(bytes, path: path, options: options, isFile: isFile, progress: progress)
        // Each stored spool read back on every core.
        let stored = inventory.spools
        return (Parallel.map(stored.count) { range in range.map { stored[$0].spool() } }.flatMap { $0 }, report)
    }

    /// ``load(_:path:options:isFile:progress:)`` keeping the spools as their canonical bytes: records are
    /// read, checked and stored one at a time, so memory stays near the input's size.
    ///
    /// `skipping`: records whose text (``RawRecord/source``) it returns true for are left out unread, as if
    /// the input did not hold them (an import that already knows them); the report counts only the others.
    public static func loadStored(
        _ bytes: [UInt8], path: String, options: ConversionOptions, isFile: Bool = false, progress: ProgressSink? = nil,
        skipping skip: ((Range<Int>) -> Bool)? = nil
    ) throws(ConversionError) -> (inventory: StoredInventory, report: ConversionReport) {
        let spill: FileByteStore? = bytes.count >= options.spillThreshold ? FileByteStore() : nil
        return try loadStored(bytes, path: path, options: options, isFile: isFile, store: spill, progress: progress, skipping: skip)
    }

    /// Where each record's text lies in `bytes`, in input order, without parsing any record: `nil` unless every
    /// record is one stretch of the input (JSON Lines, a JSON array of spools, a Dexie table of inbound rows).
    public static func recordSources(_ bytes: [UInt8], path: String, options: ConversionOptions, isFile: Bool = false) throws(ConversionError) -> [Range<Int>]? {
        // Only these readers hand over records as stretches of the input; for the others this would be a whole
        // extra reading of the file, for nothing.
        guard let format = options.from ?? InventoryFormat.detect(path: path, bytes: bytes), [.jsonl, .json, .dexie].contains(format) else { return nil }
        let input = try read(bytes, path: path, format: format, options: options, isFile: isFile)
        var sources: [Range<Int>] = []
        var whole = true
        try input.forEachRecord { record in
            if let source = record.source, record.problem == nil { sources.append(source) } else { whole = false }
        }
        return whole ? sources : nil
    }

    static func loadStored(
        _ bytes: [UInt8], path: String, options: ConversionOptions, isFile: Bool, store spill: FileByteStore?, progress: ProgressSink?,
        skipping skip: ((Range<Int>) -> Bool)? = nil
    ) throws(ConversionError) -> (inventory: StoredInventory, report: ConversionReport) {
        guard let format = options.from ?? InventoryFormat.detect(path: path, bytes: bytes) else {
            if JSONParser.shape(of: bytes) == .empty { throw .notAnInventory(file: path, reason: "the file is empty") }
            // Not JSON at all: let the parser say where.
            _ = try parseDocument(bytes, file: path)
            throw .notAnInventory(file: path, reason: "not a Dexie export nor an array of spools")
        }
        progress?.update(phase: "reading", done: 0, total: bytes.count)
        let input = try read(bytes, path: path, format: format, options: options, isFile: isFile)
        let session = SpoolNormalizer.Session(normalizer: SpoolNormalizer(now: options.now), locate: input.locate,
                                              store: spill ?? MemoryByteStore())
        var count = 0
        try input.forEachRecord {
            if let skip, let source = $0.source, $0.problem == nil, skip(source) { return }
            session.add($0)
            count += 1
            if count % 8192 == 0 { progress?.update(phase: "reading", done: count, total: bytes.count) }
        }
        let (inventory, outcome) = session.finishInventory()
        if let failure = spill?.failure { throw .io(path: path, reason: failure) }
        // A row that is not valid JSON means the file is broken there, whatever --skip-invalid says.
        if let broken = outcome.brokenInput { throw .syntax(file: path, broken) }
        if !outcome.rejected.isEmpty && !options.skipInvalid {
            throw .invalidRecords(file: path, outcome.rejected)
        }
        var report = ConversionReport(input: path, inputFormat: format.rawValue)
        report.read = outcome.read
        report.live = outcome.live
        report.tombstones = outcome.tombstones
        report.migrated = outcome.migrated
        report.renamed = outcome.renamed
        report.rejected = outcome.rejected
        report.warnings = outcome.warnings
        report.notes = input.notes
        report.fieldsInInput = input.fields.map { $0.sorted(by: utf8Ordered) }
        return (inventory, report)
    }

    static func read(_ bytes: [UInt8], path: String, format: InventoryFormat, options: ConversionOptions, isFile: Bool) throws(ConversionError) -> InventoryInput {
        switch format {
        case .dexie: return try DexieExport.read(bytes, file: path, table: options.table)
        case .json: return try SpoolJSON.readArray(bytes, file: path)
        case .jsonl: return try SpoolJSON.readLines(bytes, file: path, skipInvalid: options.skipInvalid)
        case .csv, .octoprint: return try readCSV(bytes, file: path, forced: format == .octoprint ? .octoprint : nil)
        case .sqlite: return try SpoolSQLite.read(bytes, path: path, isFile: isFile, file: path)
        case .zip: return try SpoolZIP.read(bytes, file: path)
        case .spoolman:
            if SpoolSQLite.isSQLite(bytes) { return try SpoolSQLite.read(bytes, path: path, isFile: isFile, file: path) }
            if JSONParser.shape(of: bytes) == .array { return try SpoolJSON.readArray(bytes, file: path, spoolman: true) }
            return try readCSV(bytes, file: path, forced: .spoolman)
        }
    }

    /// A CSV, by its header: ours (`serial`), Spoolman's (`filament.*`, `used_weight`) or OctoPrint-SpoolManager's (`Spool Name`).
    static func readCSV(_ bytes: [UInt8], file: String, forced: InventoryFormat?) throws(ConversionError) -> InventoryInput {
        let firstLine = String(decoding: bytes.prefix { $0 != 0x0A }, as: UTF8.self)
        if forced == .octoprint || (forced == nil && firstLine.contains("\"Spool Name\"")) {
            return try OctoPrintSpoolManager.read(bytes, file: file)
        }
        let delimiter = CSVText.detectDelimiter(bytes)
        if forced == .spoolman { return Spoolman.readCSV(bytes, delimiter: delimiter, file: file) }
        guard let header = try SpoolCSV.headerCells(bytes, delimiter: delimiter, file: file) else {
            throw .notAnInventory(file: file, reason: "the file is empty")
        }
        if Spoolman.isSpoolmanHeader(header) { return Spoolman.readCSV(bytes, delimiter: delimiter, file: file) }
        if OctoPrintSpoolManager.isHeader(header) { return try OctoPrintSpoolManager.read(bytes, file: file) }
        if SpoolCSV.isOurs(header) { return SpoolCSV.read(bytes, delimiter: delimiter, file: file) }
        throw .notAnInventory(file: file, reason: "line 1: a CSV header filamentdb does not recognise: it needs a \"serial\" column (filamentdb), Spoolman's columns (filament.material, used_weight, …) or OctoPrint-SpoolManager's (\"Spool Name\", …)")
    }

    /// The bytes of `spools` (sorted by serial here) in `format`, and the ids the Dexie writer had to assign.
    public static func encode(_ spools: [Spool], as format: InventoryFormat) throws(ConversionError) -> (bytes: [UInt8], idsAssigned: [IDAssignment]) {
        let inventory = StoredInventory(spools)
        let sink = ByteSink()
        let assigned = try write(inventory, as: format, to: sink)
        return (sink.buffer, assigned)
    }

    /// Writes `inventory` in `format` to `output` (`-` for standard output), whole or not at all.
    public static func write(_ inventory: StoredInventory, as format: InventoryFormat, to output: String) throws(ConversionError) -> [IDAssignment] {
        try write(inventory, as: format, to: output, checking: nil)
    }

    /// Writes, and before the output is moved into place checks that the spill file read back whole.
    static func write(_ inventory: StoredInventory, as format: InventoryFormat, to output: String, checking spill: FileByteStore?) throws(ConversionError) -> [IDAssignment] {
        if format == .sqlite {
            try SpoolSQLite.write(inventory.spools, to: output) { () throws(ConversionError) in
                if let failure = spill?.failure { throw .io(path: output, reason: failure) }
            }
            return []
        }
        let sink = try ByteSink(file: output)
        let assigned = try write(inventory, as: format, to: sink)
        if let failure = spill?.failure { throw .io(path: output, reason: failure) }
        try sink.commit()
        return assigned
    }

    static func write(_ inventory: StoredInventory, as format: InventoryFormat, to sink: ByteSink) throws(ConversionError) -> [IDAssignment] {
        switch format {
        case .dexie:
            let (withIDs, assigned) = DexieExport.assignIDs(inventory.spools)
            try DexieExport.write(withIDs, to: sink)
            return assigned
        case .json: try SpoolJSON.writeArray(inventory.spools, to: sink)
        case .jsonl: try SpoolJSON.writeLines(inventory.spools, to: sink)
        case .csv: try SpoolCSV.write(inventory, to: sink)
        case .zip: try SpoolZIP.write(inventory.spools, to: sink)
        case .sqlite:
            // SQLite builds its file in place: a nameless temporary file, then read into the sink.
            let file = try FileIO.TemporaryFile(in: FileManager.default.temporaryDirectory.path, for: "output.sqlite", reportingAs: "SQLite output")
            try SpoolSQLite.write(inventory.spools, into: file, reportingAs: "SQLite output")
            try sink.append(try FileIO.read(file.path))
        case .spoolman, .octoprint:
            throw .outputFormat("filamentdb reads \(format.rawValue) files but does not write them: choose another output format")
        }
        return []
    }

    /// The output format for `output`: the option, else the extension.
    public static func outputFormat(for output: String, options: ConversionOptions) throws(ConversionError) -> InventoryFormat {
        if let to = options.to { return to }
        if let f = InventoryFormat.forOutput(path: output) { return f }
        let names = InventoryFormat.allCases.map(\.rawValue).joined(separator: ", ")
        throw .outputFormat(output == "-"
            ? "cannot tell the output format of standard output: name one (\(names))"
            : "cannot tell the output format of \(output) from its extension: name one (\(names))")
    }

    /// Converts the file `input` to the file `output` (`-` for standard input or output). The output
    /// appears only when the conversion succeeds.
    public static func convert(
        input: String, output: String, options: ConversionOptions, progress: ProgressSink? = nil
    ) throws(ConversionError) -> ConversionReport {
        let format = try outputFormat(for: output, options: options)
        if !format.canWrite {
            throw .outputFormat("filamentdb reads \(format.rawValue) files but does not write them: choose another output format")
        }
        var (bytes, size) = try readInput(input, options: options)
        let spill: FileByteStore? = size >= options.spillThreshold ? FileByteStore() : nil
        var (inventory, report) = try loadStored(bytes, path: input, options: options, isFile: input != "-", store: spill, progress: progress)
        bytes = []  // the input is no longer needed while the output is written
        progress?.update(phase: "writing", done: 0, total: inventory.spools.count)
        let assigned = try write(inventory, as: format, to: output, checking: spill)
        progress?.finish()
        inventory.spools = []
        report.output = output
        report.outputFormat = format.rawValue
        report.written = report.live + report.tombstones
        report.idsAssigned = assigned
        return report
    }

    /// The bytes of `input` and its size. A SQLite database is opened where it is, so only its first bytes
    /// are read, to recognise it.
    static func readInput(_ input: String, options: ConversionOptions) throws(ConversionError) -> (bytes: [UInt8], size: Int) {
        let head = input == "-" ? [] : try FileIO.read(input, upTo: 16)
        if SpoolSQLite.isSQLite(head), options.from == nil || options.from == .sqlite || options.from == .spoolman {
            return (head, FileIO.size(input))
        }
        let bytes = try FileIO.read(input)
        return (bytes, bytes.count)
    }

    /// Reads and checks `input` without writing anything.
    public static func validate(input: String, options: ConversionOptions, progress: ProgressSink? = nil) throws(ConversionError) -> ConversionReport {
        let (bytes, size) = try readInput(input, options: options)
        let spill: FileByteStore? = size >= options.spillThreshold ? FileByteStore() : nil
        let report = try loadStored(bytes, path: input, options: options, isFile: input != "-", store: spill, progress: progress).report
        progress?.finish()
        return report
    }
}
