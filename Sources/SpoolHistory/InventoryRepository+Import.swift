import SpoolModel

/// How an import lands.
public enum ImportMode: Sendable {
    /// Onto the device's branch, then merged into main field by field against the device's previous file.
    /// A device's first file has no known base: see ``unknownBase(device:)``.
    case merge(device: String)
    /// A file whose base is not known (an import that names no device): every spool meets main's field by
    /// field by last write (`lastUpdated`), each difference recorded as a conflict. No earlier file acts as
    /// its base.
    case unknownBase(device: String)
    /// Onto the device's branch only; ``InventoryStore/merge(device:)`` brings it into main later.
    case deviceOnly(device: String)
    /// main becomes exactly the file's inventory: the spools it lacks become tombstones (`deleted: true` at the
    /// import's time), so the deletion travels like any other; the device is named in the commit.
    case replace(device: String)

    public var device: String {
        switch self {
        case .merge(let d), .unknownBase(let d), .deviceOnly(let d), .replace(let d): d
        }
    }
}

/// What an import or an apply did: counts of the spools it committed and, when it merged, the merge.
public struct ImportResult: Sendable {
    /// The commit on the device's branch (on main for a replace), `nil` when nothing changed.
    public var commit: ObjectID?
    public var added = 0
    public var changed = 0
    /// Spools the import turned into tombstones.
    public var deleted = 0
    /// Spools main held and a replace's file did not: made tombstones at the import's time.
    public var removed = 0
    /// Spools whose content changed but whose `lastUpdated` did not (edited outside the app, as in a
    /// spreadsheet): given the import's time, so the edit wins or loses by when it was made known.
    public var restamped = 0
    /// Spools the file gave no time (the reader stamped them) that otherwise equal the stored ones: the stored
    /// time is kept, and they are not a change.
    public var keptTimes = 0
    /// Spools main holds that a file of no device does not (the file is not the whole inventory, or rows
    /// were deleted from it: only a replace deletes them).
    public var missing = 0
    /// Spools given twice in one call: each earlier copy of a serial, replaced by the last one.
    public var superseded = 0
    public var merge: MergeOutcome?
    /// main's head afterwards.
    public var main: ObjectID?
    /// Why the device's import memo (what lets its next file be read only where it differs) could not be
    /// written, when it could not: nothing of the import is lost, the next file is read whole.
    public var memoNotKept: String?
    /// The device's branch head afterwards (for a replace, main's).
    package var deviceHead: ObjectID?
    /// Spools of the file whose stored file is not the file's record as it is (given the import's time, or a
    /// stored time or field kept).
    package var notAsInFile: [String] = []

    public init() {}
}

/// A spool as an import brings it: its serial and its canonical document, its fields read only where a
/// comparison needs them. An import of a whole inventory compares most spools by their documents' ids alone.
package struct ImportRecord: Sendable {
    package let serial: String
    package let isDeleted: Bool
    /// The canonical document (``Spool/canonicalJSON``), as the history stores it.
    package let file: [UInt8]
    /// The document's id as a file of the history.
    package let id: ObjectID
    private let decoded: Spool?

    package init(_ spool: Spool) {
        serial = spool.serial
        isDeleted = spool.isDeleted
        file = spool.canonicalJSON
        id = GitRepository.blobID(file)
        decoded = spool
    }

    /// A spool kept as its compact canonical document (``StoredSpool``): the document is reshaped, not read.
    package init(_ stored: StoredSpool) {
        serial = stored.serial
        isDeleted = stored.isDeleted
        file = Spool.canonicalJSON(fromCompact: stored.json)
        id = GitRepository.blobID(file)
        decoded = nil
    }

    /// The spool's fields.
    package var spool: Spool { decoded ?? Spool(canonicalJSON: file) ?? Spool(normalizedFields: ["serial": .string(serial)]) }

    /// `spools` as records, encoded on every core.
    static func records(_ spools: [Spool]) -> [ImportRecord] {
        Parallel.map(spools.count) { range in range.map { ImportRecord(spools[$0]) } }.flatMap { $0 }
    }

    /// A stored inventory's spools as records, reshaped on every core.
    package static func records(_ inventory: StoredInventory) -> [ImportRecord] {
        let spools = inventory.spools
        return Parallel.map(spools.count) { range in range.map { ImportRecord(spools[$0]) } }.flatMap { $0 }
    }
}

extension InventoryRepository {
    /// Commits a whole file's `spools` as one import. Its base is the device's branch (none for a device's
    /// first file, or in ``ImportMode/unknownBase(device:)``); only the file's spools are added or changed
    /// (deletions travel as tombstones);
    /// `.replace` also makes a tombstone of every spool of main the file does not hold. The device's branch moves only
    /// if it is still where the import started (another writer of the same device makes it retry).
    ///
    /// `stampedAt` is the time the reader gave records that carried none: such a record equal to the stored one
    /// but for that time is no change. A record whose content changed while its `lastUpdated` did not gets the
    /// import's time.
    /// `fieldsInFile` names the fields the file had room for when it had not for all (a CSV file's columns):
    /// a field outside them keeps its stored value, since the file says nothing about it.
    package func importSpools(_ spools: [Spool], mode: ImportMode, source: String, stampedAt: Int64? = nil, fieldsInFile: Set<String>? = nil,
                              progress: HistoryProgress? = nil, author: Signature) throws(HistoryError) -> ImportResult {
        try importRecords(ImportRecord.records(spools), mode: mode, source: source, stampedAt: stampedAt, fieldsInFile: fieldsInFile,
                          progress: progress, author: author)
    }

    /// ``importSpools(_:mode:source:stampedAt:fieldsInFile:progress:author:)`` for spools already encoded.
    ///
    /// `expectingDeviceHead`: the import holds only the records that differ from what the device's branch
    /// held there (an ``ImportMemo`` knew the others); if the branch has moved since, it fails with
    /// ``HistoryError/Code/contention`` (not retryable) and nothing is written.
    package func importRecords(_ spools: [ImportRecord], mode: ImportMode, source: String, stampedAt: Int64? = nil, fieldsInFile: Set<String>? = nil,
                               progress: HistoryProgress? = nil, expectingDeviceHead: ObjectID? = nil, author: Signature) throws(HistoryError) -> ImportResult {
        let times = ImportTimes(stampedAt: stampedAt, now: author.time * 1000, fieldsInFile: fieldsInFile, progress: progress)
        if case .replace = mode {
            let main = try head()
            var (changes, outcome, _) = try delta(spools, against: try files(at: main), times: times, deletingOthersAt: author.time * 1000)
            outcome.commit = try commit(files: changes, author: author, message: message(source: source, outcome, author: author))
            outcome.main = outcome.commit ?? main
            outcome.deviceHead = outcome.main
            return outcome
        }
        let reference = try deviceReference(mode.device)
        let deviceHead = try head(reference)
        if let expected = expectingDeviceHead, deviceHead != expected {
            throw HistoryError(.contention, "the branch of device \(JSONValue.string(mode.device).jsonText) moved since its last import", path: path)
        }
        let main = try head()
        // The base: the device's previous file. Without one (a device's first file, or a file of no device),
        // the commit holds the file alone, its counts say what it would change in main, and the merge decides
        // each difference by last write.
        var unknownBase = deviceHead == nil
        if case .unknownBase = mode { unknownBase = true }
        let base = unknownBase ? nil : deviceHead
        // A small file is compared spool by spool along its paths; a large one in one walk of the tree.
        let compared = unknownBase ? main : base
        // A file of no device is read as the inventory it shows: what main holds that it lacks is counted, from
        // one walk of main that the comparison also uses.
        var noDevice = false
        if case .unknownBase = mode { noDevice = true }
        let walked = noDevice || spools.count > Self.pathLookupLimit ? try files(at: compared) : nil
        var (changes, counts, unchanged): Delta
        if let walked {
            (changes, counts, unchanged) = try delta(spools, against: walked, times: times)
        } else {
            (changes, counts, unchanged) = try delta(spools, inTree: try tree(of: compared), times: times)
        }
        if noDevice, let walked {
            let inFile = Set(spools.map { ExactString($0.serial) })
            counts.missing = walked.keys.filter { !inFile.contains($0) }.count
        } else if unknownBase && !changes.isEmpty {
            // A device's first file is the base of its next: the commit holds all of it, the spools that equal
            // main's as main has them (so the merge finds nothing to decide there).
            for (serial, blob) in unchanged { changes.append((serial, try git.readBlob(blob), blob)) }
        }
        if case .deviceOnly = mode {
            return try writing { () throws(HistoryError) -> ImportResult in
                var outcome = counts
                outcome.main = main
                outcome.deviceHead = deviceHead
                guard !changes.isEmpty else { return outcome }
                let commit = try writeCommit(changes, base: base, author: author, message: message(source: source, counts, author: author))
                try git.flushObjects()
                try moveBranch(reference, to: commit, from: deviceHead, message: "import \(source)")
                outcome.commit = commit
                outcome.deviceHead = commit
                return outcome
            }
        }
        return try commitAndMerge(changes, counts: counts, base: base, device: mode.device, reference: (reference, deviceHead), source: source, author: author)
    }

    /// Applies what one device changed, against the state it last saw: `base` is a commit of main (the
    /// device's cursor; `nil` for a device that has seen nothing) and `changes` the spools it changed since.
    /// The device's branch gets a commit whose parent is `base`, merged into main field by field. Costs follow
    /// the number of changes: each spool is found by its path, never by a walk of the inventory.
    package func apply(device: String, base: ObjectID?, changes spools: [Spool], source: String, author: Signature) throws(HistoryError) -> ImportResult {
        let reference = try deviceReference(device)
        let main = try head()
        if let base {
            guard (try? git.readCommit(base)) != nil else {
                throw HistoryError(.noSuchRevision, "no commit \(base.hex) in the history", path: path)
            }
            guard let main, try git.contains(base, in: main) else {
                throw HistoryError(.noSuchRevision, "\(base.hex) is not a state of main", path: path)
            }
        }
        var pending: MergeOutcome?
        if let deviceHead = try head(reference), try main.map({ (m) throws(HistoryError) in try git.contains(deviceHead, in: m) }) != true {
            // Work of this device's that never reached main (a `--no-merge` import, or a writer stopped between
            // its two branch moves) is merged first, so nothing it holds is left behind.
            pending = try merge(device: device, author: author)
        }
        let (changes, outcome, _) = try delta(ImportRecord.records(spools), inTree: try tree(of: base), times: nil)
        // The device's branch follows its latest apply, wherever it was (each apply has its own base).
        var result = try commitAndMerge(changes, counts: outcome, base: base, device: device, reference: (reference, try head(reference)), source: source, author: author)
        if result.merge == nil, let pending { result.merge = pending }
        return result
    }

    /// Up to how many spools a file is compared with its base by path lookups (a few small trees each) rather
    /// than by one walk of the whole base (thousands of trees for a large inventory).
    static let pathLookupLimit = 2048

    /// The times an import judges its records by (see ``importSpools(_:mode:source:stampedAt:author:)``).
    struct ImportTimes {
        var stampedAt: Int64?
        var now: Int64
        /// The fields the file had room for (a CSV file's columns), when not every field: the others are kept
        /// as stored.
        var fieldsInFile: Set<String>?
        var progress: HistoryProgress?
    }

    /// What a file's spools change in a tree: the spools to write, their counts, and the file's spools that
    /// change nothing (with the file they have).
    typealias Delta = (changes: [FileChange], outcome: ImportResult, unchanged: [(serial: String, blob: ObjectID)])

    /// The delta of `spools` (the last of a serial wins) against the inventory of `tree`, each spool found by its path.
    func delta(_ spools: [ImportRecord], inTree tree: ObjectID?, times: ImportTimes?) throws(HistoryError) -> Delta {
        let (last, superseded) = Self.lastOfEachSerial(spools)
        var pairs: [(spool: ImportRecord, stored: ObjectID?)] = []
        for spool in last { pairs.append((spool, try spoolFile(spool.serial, inTree: tree))) }
        var result = try judge(pairs, times: times)
        result.outcome.superseded = superseded
        return result
    }

    /// `spools` with only the last of each serial (compared by bytes), in order, and how many were dropped.
    static func lastOfEachSerial(_ spools: [ImportRecord]) -> ([ImportRecord], Int) {
        // A file's spools come sorted by serial and unique: one pass over neighbours says so, without hashing.
        if spools.count < 2 || zip(spools, spools.dropFirst()).allSatisfy({ utf8Ordered($0.serial, $1.serial) }) { return (spools, 0) }
        // Otherwise: where each serial last stands, the array copied only when some serial stands twice.
        var last: [ExactString: Int] = [:]
        last.reserveCapacity(spools.count)
        for (i, spool) in spools.enumerated() { last[ExactString(spool.serial)] = i }
        guard last.count < spools.count else { return (spools, 0) }
        let kept = Set(last.values)
        return (spools.indices.filter { kept.contains($0) }.map { spools[$0] }, spools.count - last.count)
    }

    /// The delta of `spools` against `current` (one walk's files by serial). With `deletionTime` (a replace),
    /// what `current` holds and `spools` do not becomes a tombstone then.
    func delta(_ spools: [ImportRecord], against current: [ExactString: ObjectID], times: ImportTimes?, deletingOthersAt deletionTime: Int64? = nil) throws(HistoryError) -> Delta {
        let (last, superseded) = Self.lastOfEachSerial(spools)
        var result = try judge(last.map { ($0, current[ExactString($0.serial)]) }, times: times)
        result.outcome.superseded = superseded
        if let deletionTime {
            // What main holds and the file does not becomes a tombstone at the import's time, so that a device's
            // older file that still has it cannot bring it back without a recorded decision.
            let inFile = Set(spools.map { ExactString($0.serial) })
            for key in current.keys.sorted() where !inFile.contains(key) {
                guard var spool = try? decodeSpool(current[key]!, serial: key.string), !spool.isDeleted else { continue }
                spool["deleted"] = .bool(true)
                spool["lastUpdated"] = .int(max(deletionTime, (spool.lastUpdated ?? 0) + 1))
                result.changes.append((key.string, spool.canonicalJSON, nil))
                result.outcome.removed += 1
            }
        }
        return result
    }

    /// Judges each spool against the file stored for its serial (`nil`: none): the same bytes change nothing;
    /// with `times`, a spool the reader stamped that equals the stored one but for its time changes nothing,
    /// and a changed spool whose `lastUpdated` did not move gets the import's time. Only the spools whose
    /// documents differ from the stored ones are read field by field.
    func judge(_ pairs: [(spool: ImportRecord, stored: ObjectID?)], times: ImportTimes?) throws(HistoryError) -> Delta {
        var result: Delta = ([], ImportResult(), [])
        for (k, pair) in pairs.enumerated() {
            if k % 4096 == 0 { times?.progress?(k, pairs.count) }
            let record = pair.spool
            guard let stored = pair.stored else {
                result.outcome.added += 1
                result.changes.append((record.serial, record.file, record.id))
                continue
            }
            if record.id == stored {
                result.unchanged.append((record.serial, stored))
                continue
            }
            var spool = record.spool
            var edited = false
            let old = try decodeSpool(stored, serial: spool.serial)
            if let room = times?.fieldsInFile {
                // What the file had no column for is not an erasure: the stored value stays.
                for (key, value) in old.fields where key != "lastUpdated" && !room.contains(key) && spool[key] == nil {
                    spool[key] = value
                    edited = true
                }
                if spool.canonicalJSON == old.canonicalJSON {
                    result.unchanged.append((spool.serial, stored))
                    result.outcome.notAsInFile.append(spool.serial)
                    continue
                }
            }
            if let times {
                if let stamp = times.stampedAt, spool.lastUpdated == stamp, SpoolMerge.sameIgnoringTime(spool, old) {
                    result.outcome.keptTimes += 1
                    result.unchanged.append((spool.serial, stored))
                    result.outcome.notAsInFile.append(spool.serial)
                    continue
                }
                if spool.lastUpdated == old.lastUpdated {
                    spool["lastUpdated"] = .int(max(times.now, (old.lastUpdated ?? 0) + 1))
                    result.outcome.restamped += 1
                    edited = true
                }
            }
            if spool.isDeleted && !old.isDeleted { result.outcome.deleted += 1 } else { result.outcome.changed += 1 }
            if edited { result.outcome.notAsInFile.append(spool.serial) }
            result.changes.append((spool.serial, edited ? spool.canonicalJSON : record.file, edited ? nil : record.id))
        }
        times?.progress?(pairs.count, pairs.count)
        return result
    }

    func message(source: String, _ o: ImportResult, author: Signature) -> String {
        "import \(source): \(o.added) added, \(o.changed) changed, \(o.deleted) deleted, \(o.removed) removed\n\nFilamentdb-Source: \(source)\n\(author.trailer)\nFilamentdb-Added: \(o.added)\nFilamentdb-Changed: \(o.changed)\nFilamentdb-Deleted: \(o.deleted)\nFilamentdb-Removed: \(o.removed)\n" + (o.restamped > 0 ? "Filamentdb-Restamped: \(o.restamped)\n" : "")
    }

    /// A commit of `changes` on top of `base` (objects in memory only).
    func writeCommit(_ changes: [FileChange], base: ObjectID?, author: Signature, message: String) throws(HistoryError) -> ObjectID {
        let tree = try rootTree(try tree(of: base), try treeChanges(files: changes))
        return try git.writeCommit(tree: tree, parents: base.map { [$0] } ?? [], authorName: author.name, authorEmail: author.email,
                                   time: author.time, message: message)
    }

    /// The device's commit and its merge into main, written as one pack, then the two branches moved.
    func commitAndMerge(_ changes: [FileChange], counts: ImportResult, base: ObjectID?, device: String,
                        reference branch: (name: String, head: ObjectID?), source: String, author: Signature) throws(HistoryError) -> ImportResult {
        let reference = branch.name
        return try writing { () throws(HistoryError) -> ImportResult in
            var outcome = counts
            guard !changes.isEmpty else {
                // Nothing new; but the branch may hold work that never reached main (a `--no-merge` import, or
                // a writer stopped between moving the device's branch and main): merge it now.
                let main = try head()
                if let deviceHead = branch.head, try main.map({ (m) throws(HistoryError) in try git.contains(deviceHead, in: m) }) != true {
                    let merge = try prepareMerge(deviceHead, device: device, author: author)
                    try git.flushObjects()
                    try merge.land(in: self)
                    outcome.merge = merge.outcome
                    outcome.main = merge.outcome.commit ?? main
                } else {
                    outcome.main = main
                }
                outcome.deviceHead = branch.head
                return outcome
            }
            var commit = try writeCommit(changes, base: base, author: author, message: message(source: source, counts, author: author))
            // The same changes on the same base as the branch's head (a retry): that commit, not another.
            if let deviceHead = branch.head, deviceHead != commit {
                let (previous, new) = (try git.readCommit(deviceHead), try git.readCommit(commit))
                if previous.tree == new.tree && previous.parents == new.parents {
                    git.unwrite(commit)
                    commit = deviceHead
                }
            }
            let merge = try prepareMerge(commit, device: device, author: author, changedSinceBase: changes.map(\.serial))
            try expectUnmoved([(reference, branch.head), (merge.reference, merge.ours)])
            try git.flushObjects()
            if branch.head != commit { try moveBranch(reference, to: commit, from: branch.head, message: "import \(source)") }
            try merge.land(in: self)
            outcome.commit = commit
            outcome.deviceHead = commit
            outcome.merge = merge.outcome
            outcome.main = merge.outcome.commit ?? merge.ours
            return outcome
        }
    }
}
