import Foundation
import SpoolFormats
import SpoolHistory
import SpoolModel

/// A file imported into the history: the conversion (any format) and the history's import as one step, with
/// the device's import memo (``ImportMemo``): a device's next full export is read only where it differs from
/// its last one.
public enum FileImport {
    /// Imports `bytes`, the file at `path` (for format detection and messages), into `store`'s history as
    /// `mode` says. `store` is `nil` when there is no history yet: `open` makes one, only once the file has been
    /// read without error. Failures are the conversion's `ConversionError`s and the history's `HistoryError`s,
    /// and whatever `open` throws.
    public static func run(_ bytes: [UInt8], path: String, isFile: Bool, options: ConversionOptions, mode: ImportMode, source: String,
                           store existing: InventoryStore?, open: () throws -> InventoryStore,
                           progress: HistoryProgress? = nil) async throws -> (result: ImportResult, report: ConversionReport) {
        // The import holds every spool's document in memory anyway: the stored spools stay there too, never in
        // a temporary file.
        var options = options
        options.spillThreshold = .max
        if case .merge(let device) = mode, let store = existing,
           let known = try await importKnown(bytes, path: path, isFile: isFile, options: options, device: device, store: store,
                                             source: source, progress: progress) {
            return known
        }
        let (inventory, report) = try Conversion.loadStored(bytes, path: path, options: options, isFile: isFile)
        let store = try existing ?? open()
        let records = ImportRecord.records(inventory)
        var result = try await store.importRecords(records, mode: mode, source: source, stampedAt: options.now,
                                                   fieldsInFile: report.fieldsInInput.map(Set.init), progress: progress)
        if case .merge(let device) = mode {
            remember(&result, device: device, store: store, bytes: bytes, reader: reader(bytes, path: path, options: options),
                     inventory: inventory, records: records, known: [])
        }
        return (result, report)
    }

    /// How the file is read, as far as what its records make depends on it: a memo applies only to a file
    /// read the same way.
    static func reader(_ bytes: [UInt8], path: String, options: ConversionOptions) -> String {
        let format = options.from ?? InventoryFormat.detect(path: path, bytes: bytes)
        return "filamentdb \(FilamentDBVersion.string); \(format?.rawValue ?? "?"); table \(options.table ?? "")"
    }

    /// The file read only where the device's memo does not know it: the records whose text the memo knows are
    /// what the device's branch already holds, and only the others are read, checked and imported. `nil` when
    /// the memo does not apply (no memo, the branch moved, another format, records not each one stretch of the
    /// file, fewer than half known, a serial given twice): the caller reads the whole file, as always.
    static func importKnown(_ bytes: [UInt8], path: String, isFile: Bool, options: ConversionOptions, device: String, store: InventoryStore,
                            source: String, progress: HistoryProgress?) async throws -> (result: ImportResult, report: ConversionReport)? {
        let readBy = reader(bytes, path: path, options: options)
        guard let memo = store.importMemo(device: device), memo.reader == readBy,
              let sources = try? Conversion.recordSources(bytes, path: path, options: options, isFile: isFile) else { return nil }
        let digests = ImportMemo.digests(bytes, sources)
        var known: [(key: ImportMemo.Digest, entry: ImportMemo.Entry)] = []
        known.reserveCapacity(digests.count)
        var isKnown = [Bool](repeating: false, count: digests.count)
        var seen = Set<ImportMemo.Digest>()
        for (k, digest) in digests.enumerated() {
            guard let entry = memo.entries[digest] else { continue }
            // The same record twice: its serial is shared, and sharing is resolved by reading the whole file.
            guard seen.insert(digest).inserted else { return nil }
            known.append((digest, entry))
            isKnown[k] = true
        }
        guard known.count * 2 >= sources.count else { return nil }
        // The reader hands the records over in the order `recordSources` listed them.
        var next = 0, aligned = true
        var (inventory, report) = try Conversion.loadStored(bytes, path: path, options: options, isFile: isFile) { range in
            defer { next += 1 }
            guard next < sources.count, sources[next] == range else { aligned = false; return false }
            return isKnown[next]
        }
        // A new record with a known record's serial: sharing again, resolved by reading the whole file.
        let newSerials = Set(inventory.spools.map { ExactString($0.serial) })
        guard aligned, next == sources.count, report.renamed.isEmpty,
              !known.contains(where: { newSerials.contains(ExactString($0.entry.serial)) }) else { return nil }
        // The known records counted as reading them would count them.
        var tombstones = 0
        for (_, entry) in known {
            if entry.deleted { tombstones += 1 }
            for rule in entry.migrationRules { report.migrated[rule.rawValue, default: 0] += 1 }
        }
        report.notes.append("\(known.count) of \(sources.count) records as in this device's last file: not read again")
        report.read += known.count
        report.tombstones += tombstones
        report.live += known.count - tombstones
        if tombstones > 0 { report.migrated[MigrationRule.softDeleteToTombstone.rawValue, default: 0] += tombstones }
        let records = ImportRecord.records(inventory)
        guard var result = try await importRecords(records, device: device, store: store, source: source, options: options,
                                                   fieldsInFile: report.fieldsInInput, progress: progress, expecting: memo.head) else { return nil }
        remember(&result, device: device, store: store, bytes: bytes, reader: readBy, inventory: inventory, records: records, known: known)
        return (result, report)
    }

    /// The import of the records the memo did not know; `nil` when the device's branch moved since the memo was
    /// written (or writers kept racing): then the whole file is read.
    static func importRecords(_ records: [ImportRecord], device: String, store: InventoryStore, source: String, options: ConversionOptions,
                              fieldsInFile: [String]?, progress: HistoryProgress?, expecting head: ObjectID) async throws(HistoryError) -> ImportResult? {
        do {
            return try await store.importRecords(records, mode: .merge(device: device), source: source, stampedAt: options.now,
                                                 fieldsInFile: fieldsInFile.map(Set.init), progress: progress, expectingDeviceHead: head)
        } catch {
            if error.code == .contention { return nil }
            throw error
        }
    }

    /// Keeps, as the device's memo, each record its branch now holds exactly as the file has it (`known`: the
    /// records the last memo knew, still there).
    static func remember(_ result: inout ImportResult, device: String, store: InventoryStore, bytes: [UInt8], reader: String,
                         inventory: StoredInventory, records: [ImportRecord], known: [(key: ImportMemo.Digest, entry: ImportMemo.Entry)]) {
        guard let head = result.deviceHead else { return }
        let altered = Set(result.notAsInFile.map(ExactString.init))
        let spools = inventory.spools
        let candidates = spools.indices.filter { spools[$0].source != nil && !altered.contains(ExactString(spools[$0].serial)) }
        let digests = ImportMemo.digests(bytes, candidates.map { spools[$0].source! })
        // A file none of whose records can be known again (another format, every record stamped or renamed)
        // leaves no memo: the next import would only read the file once more to find that out.
        guard !known.isEmpty || !candidates.isEmpty else { return store.forgetMemo(device: device) }
        var entries = known
        entries.reserveCapacity(known.count + candidates.count)
        for (k, i) in candidates.enumerated() {
            entries.append((digests[k], ImportMemo.Entry(serial: spools[i].serial, file: ImportMemo.Digest(records[i].id), deleted: spools[i].isDeleted,
                                                         rules: spools[i].rules)))
        }
        result.memoNotKept = store.keepMemo(entries, head: head, reader: reader, device: device)
    }
}
