internal import CGit2
internal import CGit2Shim
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A write-ahead journal that makes a long-running writer's commits durable with one flush each.
///
/// Without it every write flushes its pack, its index, the pack folder and each branch it moves (six
/// flushes, milliseconds each on a real disk). With it, a write appends one record — its objects and the
/// branch moves it is about to make — to `filamentdb-journal` in the repository and flushes that file alone;
/// the pack and the branches are then written without flushing, so other processes see them at once.
/// Every ``checkpointRecords`` records (and when the journal is closed or garbage is collected) the whole file
/// system is flushed and the journal emptied (but for the sync-state updates in no state commit yet, which a
/// checkpoint under load carries over as the new journal's first record: ``checkpoint(carrying:)``). After a crash of the machine, opening the journal again writes
/// back every object the records hold that the repository lost and moves every branch a record moved that
/// was left behind, so each write whose record was flushed is in the history.
///
/// One process holds the journal at a time (an exclusive lock on the file); the sync server is that process.
/// Plain SIGKILL loses nothing either way: what was written reaches the disk from the kernel's cache.
///
/// The file is used again and again: a checkpoint does not empty it but makes the file it used before last (kept as
/// `filamentdb-journal.spare`, its blocks written) the journal, with a record of a new epoch at its start. Its later
/// records overwrite what that file held, so flushing one writes its bytes and no change to the file's size or blocks
/// (on this machine's ext4, in a Python loop of 32 KB records, that halved a flush: 0.12 against 0.22-0.27 ms at the
/// median; and it no longer waits on other files' metadata). Whatever follows the last record of the epoch (an older epoch's records) is never read.
///
/// A record: `FDBK`, its epoch (8 bytes, chosen at random at each checkpoint), its payload's length (8 bytes), the
/// payload, the CRC-32 of the epoch and the payload (4 bytes). (Journals of earlier versions hold `FDBJ` records:
/// no epoch, the CRC of the payload alone; they are read, and emptied at the checkpoint that follows.) The
/// payload: the number of objects, each as type, id, length and bytes; the number of branch moves, each as
/// name, whether it had a previous commit, that commit, and the new one; then (absent in records of older
/// versions) the number of sync-state updates (``StateUpdate``), each as the state's reference, its
/// document (its length `FFFFFFFF`: none), and its entries (kind, key, whether set, value); then (absent in
/// records without builds) the number of commits the record holds as builds (``Build``), each as its base (0:
/// none; 1 and an id; 2 and the index of an earlier build), its changes (path, whether set, blob id), its parents
/// (as the base), author name, email, time, message, and whether it has a commit to reuse, that commit; and the
/// branch moves to builds (name, whether it had a previous commit, that commit, the build's index).
///
/// A sync request's record holds its commits as builds: written, and its flush started, before its trees are built
/// and hashed, which then run beside the flush (a tenth to a fifth of a delta sync's time here). Its device's
/// `state.json` names the commit main moved to, so it follows in a record of its own, flushed with the next one.
package final class Journal {
    package let path: String
    let fd: Int32
    let folderFD: Int32
    private(set) var records = 0
    /// Where the journal's records end (the file may go on with an older epoch's).
    private(set) var bytes = 0
    /// The epoch of the records this journal appends.
    private(set) var epoch: UInt64
    /// The records the file held when it was opened (what a crash left), until ``takeRecordsFound()``.
    private var found: [Record]
    /// Every byte this journal has appended since it was opened (not reset by checkpoints): the offsets a
    /// ``JournalFlusher`` is asked to make durable.
    private(set) var appended = 0
    /// Makes appended records durable on a thread of its own (``append(objects:moves:states:flush:)`` with
    /// `flush: false`).
    package let flusher: JournalFlusher

    package static let fileName = "filamentdb-journal"
    /// Records between two flushes of the whole file system.
    package static let checkpointRecords = 4096
    package static let checkpointBytes = 64 << 20

    /// A branch move a record holds.
    package struct Move: Equatable {
        package var reference: String
        package var from: ObjectID?
        package var to: ObjectID
    }

    /// What a sync request changed in one device's sync state (``InventoryRepository/SyncStateRecord``): the
    /// journal holds it in place of a state commit per request; the commit is written at the checkpoint.
    package struct StateUpdate: Equatable, Sendable {
        package var reference: String
        /// The new `state.json` (`nil`: unchanged by this record; a later one of the same request has it).
        package var document: [UInt8]?
        /// Serial → the id's JSON text (`nil`: the id is gone).
        package var ids: [(key: String, value: [UInt8]?)]
        /// An id's JSON text → its serial (`nil`: gone).
        package var serials: [(key: String, value: String?)]
        /// Serial → the file it last sent.
        package var sent: [(key: String, value: ObjectID)]

        package static func == (a: StateUpdate, b: StateUpdate) -> Bool {
            a.reference == b.reference && a.document == b.document
                && a.ids.map(\.key) == b.ids.map(\.key) && a.ids.map(\.value) == b.ids.map(\.value)
                && a.serials.map(\.key) == b.serials.map(\.key) && a.serials.map(\.value) == b.serials.map(\.value)
                && a.sent.map(\.key) == b.sent.map(\.key) && a.sent.map(\.value) == b.sent.map(\.value)
        }
    }

    /// A commit a record holds as what it is made of, not as objects: the tree of `base` (or none) with
    /// `changes` at their paths, and the commit's parents, author and message. Building it again gives the same
    /// commit, byte for byte (a tree is a function of its entries, a commit of its fields), so a sync request's
    /// record is written, and its flush started, before its trees are built and hashed: the flush and that work
    /// run together. An object id is written as 20 bytes; an earlier build of the record as its index.
    package struct Build: Equatable, Sendable {
        package enum Source: Equatable, Sendable {
            case object(ObjectID)
            /// The commit (as a parent), or its tree (as a base), of the record's build at that index.
            case build(Int)
        }
        /// The tree the changes apply to (`nil`: the empty tree).
        package var base: Source?
        /// Paths (folders and name) and the blob each now holds (`nil`: removed).
        package var changes: [(path: [String], blob: ObjectID?)]
        package var parents: [Source]
        package var authorName: String
        package var authorEmail: String
        package var time: Int64
        package var message: String
        /// A commit that stands for this one when it has the same tree and parents (a request sent again: the
        /// device's branch keeps the commit it has rather than a copy of it made later).
        package var reuse: ObjectID?

        package static func == (a: Build, b: Build) -> Bool {
            a.base == b.base && a.changes.map(\.path) == b.changes.map(\.path) && a.changes.map(\.blob) == b.changes.map(\.blob)
                && a.parents == b.parents && a.authorName == b.authorName && a.authorEmail == b.authorEmail && a.time == b.time
                && a.message == b.message && a.reuse == b.reuse
        }
    }

    /// A branch move to a commit the record builds (``Build``).
    package struct BuildMove: Equatable, Sendable {
        package var reference: String
        package var from: ObjectID?
        package var build: Int
    }

    /// A record read back.
    package struct Record {
        var objects: [PackWriter.Object]
        package var moves: [Move]
        package var states: [StateUpdate] = []
        package var builds: [Build] = []
        package var buildMoves: [BuildMove] = []
        /// Whether it holds nothing (the record a checkpoint starts an epoch with, carrying no update).
        package var isEmpty: Bool { objects.isEmpty && moves.isEmpty && states.isEmpty && builds.isEmpty }
    }

    /// Opens (creating) the journal of the repository at `repository`, locked for this process.
    init(repository: String) throws(HistoryError) {
        path = repository + "/" + Self.fileName
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw HistoryError(.io, "cannot open the journal: \(String(cString: strerror(errno)))", path: path) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw HistoryError(.contention, "another process holds this history's journal (a sync server is running on it)", path: path)
        }
        // A journal its holder replaced (a checkpoint renames a new file over it) after this process opened it,
        // and unlocked by that holder since, is not the journal: the file now under its name is.
        var opened = stat(), named = stat()
        guard fstat(fd, &opened) == 0, stat(path, &named) == 0, opened.st_ino == named.st_ino, opened.st_dev == named.st_dev else {
            close(fd)
            throw HistoryError(.contention, "another process holds this history's journal (a sync server is running on it)", path: path)
        }
        // A new journal that a crash left before it was renamed: the old one, still in place, is the journal.
        unlink(path + Self.nextSuffix)
        Self.removeSpare(ifItIs: fd, path: path)
        folderFD = open(repository, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        // The file is read once: where its records end (the next one goes there), their epoch, and the records.
        let contents = FileManager.default.contents(atPath: path).map { [UInt8]($0) } ?? []
        let scanned = Self.scan(contents)
        bytes = scanned.end
        epoch = scanned.epoch ?? UInt64.random(in: 1...UInt64.max)
        found = Self.decode(scanned.payloads, of: contents)
        records = found.count
        flusher = JournalFlusher(fd: fd, path: path)
    }

    /// The records the file held when it was opened, once (a second call gets none).
    func takeRecordsFound() -> [Record] {
        defer { found = [] }
        return found
    }

    /// A spare that a crash (or a checkpoint that failed after linking it) left as a second name of the journal
    /// open at `fd` is not a spare: the name is removed, so that no checkpoint writes into the journal.
    static func removeSpare(ifItIs fd: Int32, path: String) {
        var journal = stat(), spare = stat()
        if fstat(fd, &journal) == 0, stat(path + spareSuffix, &spare) == 0, spare.st_ino == journal.st_ino, spare.st_dev == journal.st_dev {
            unlink(path + spareSuffix)
        }
    }

    deinit {
        close(folderFD)
        close(fd)
    }

    /// Appends a record and flushes it: once this returns, the write survives a crash of the machine. With
    /// `flush: false` the record is written but not flushed: it is durable once ``flusher`` says so for the
    /// returned offset (a flush then covers every record written before it: group commit).
    @discardableResult
    func append(objects: [PackWriter.Object], moves: [Move], states: [StateUpdate] = [], builds: [Build] = [], buildMoves: [BuildMove] = [],
                flush: Bool = true) throws(HistoryError) -> Int {
        if let failure = flusher.failure {
            throw HistoryError(.io, "the journal could not be flushed (\(failure)); restart the server, which reads back what reached the disk", path: path)
        }
        let record = Self.record(epoch: epoch, objects: objects, moves: moves, states: states, builds: builds, buildMoves: buildMoves)
        let start = bytes
        var failure = Self.write(record, to: fd, at: start)
        if failure == nil, flush, fdatasync(fd) != 0 { failure = String(cString: strerror(errno)) }
        if let failure {
            // A half-written record is cut off, so the next one follows the last whole one.
            _ = ftruncate(fd, off_t(start))
            throw HistoryError(.io, "cannot write the journal: \(failure)", path: path)
        }
        records += 1
        bytes = start + record.count
        appended += record.count
        flusher.wrote(upTo: appended, flushed: flush)
        return appended
    }

    /// A record's bytes: `FDBK`, the epoch, the payload's length, the payload, the CRC-32 of the epoch and payload.
    static func record(epoch: UInt64, objects: [PackWriter.Object], moves: [Move], states: [StateUpdate], builds: [Build] = [],
                       buildMoves: [BuildMove] = []) -> [UInt8] {
        // The header, with the payload's length filled in once known; the payload is written in place after it
        // (not built apart and copied after the header: a request's record is tens of kilobytes).
        var record = Array("FDBK".utf8)
        record.reserveCapacity(objects.reduce(96) { $0 + $1.bytes.count + 28 } + moves.count * 300
            + states.reduce(0) { $0 + ($1.document?.count ?? 0) + 64 * ($1.ids.count + $1.serials.count + $1.sent.count) }
            + builds.reduce(0) { $0 + $1.message.count + 128 + 96 * $1.changes.count })
        Self.put(epoch, &record)
        Self.put(UInt64(0), &record)
        let start = record.count
        Self.put(UInt32(objects.count), &record)
        for o in objects {
            record.append(o.type)
            o.id.append(to: &record)
            Self.put(UInt32(o.bytes.count), &record)
            record += o.bytes
        }
        Self.put(UInt32(moves.count), &record)
        for m in moves {
            let name = Array(m.reference.utf8)
            Self.put(UInt32(name.count), &record)
            record += name
            record.append(m.from == nil ? 0 : 1)
            record += m.from?.bytes ?? [UInt8](repeating: 0, count: 20)
            record += m.to.bytes
        }
        Self.put(UInt32(states.count), &record)
        for u in states {
            Self.putBytes(Array(u.reference.utf8), &record)
            if let document = u.document { Self.putBytes(document, &record) } else { Self.put(Self.noDocument, &record) }
            Self.put(UInt32(u.ids.count + u.serials.count + u.sent.count), &record)
            for (key, value) in u.ids { Self.putEntry(1, key, value, &record) }
            for (key, value) in u.serials { Self.putEntry(2, key, value.map { Array($0.utf8) }, &record) }
            for (key, value) in u.sent { Self.putEntry(3, key, value.bytes, &record) }
        }
        // Absent from records without builds (all but a sync request's, and every record of earlier versions).
        if !builds.isEmpty || !buildMoves.isEmpty {
            Self.put(UInt32(builds.count), &record)
            for b in builds {
                Self.putSource(b.base, &record)
                Self.put(UInt32(b.changes.count), &record)
                for (path, blob) in b.changes {
                    Self.putBytes(Array(path.joined(separator: "/").utf8), &record)
                    record.append(blob == nil ? 0 : 1)
                    if let blob { record += blob.bytes }
                }
                Self.put(UInt32(b.parents.count), &record)
                for p in b.parents { Self.putSource(p, &record) }
                Self.putBytes(Array(b.authorName.utf8), &record)
                Self.putBytes(Array(b.authorEmail.utf8), &record)
                Self.put(UInt64(bitPattern: b.time), &record)
                Self.putBytes(Array(b.message.utf8), &record)
                record.append(b.reuse == nil ? 0 : 1)
                if let reuse = b.reuse { record += reuse.bytes }
            }
            Self.put(UInt32(buildMoves.count), &record)
            for m in buildMoves {
                Self.putBytes(Array(m.reference.utf8), &record)
                record.append(m.from == nil ? 0 : 1)
                record += m.from?.bytes ?? [UInt8](repeating: 0, count: 20)
                Self.put(UInt32(m.build), &record)
            }
        }
        let length = UInt64(record.count - start)
        record.replaceSubrange(start - 8 ..< start, with: withUnsafeBytes(of: length.bigEndian, Array.init))
        Self.put(Self.crc(epoch: epoch, record[start...]), &record)
        return record
    }

    /// The CRC-32 of a record's epoch (8 bytes, big-endian; none in a record of an earlier version) and payload.
    static func crc(epoch: UInt64?, _ payload: ArraySlice<UInt8>) -> UInt32 {
        var c: uLong = 0
        if var e = epoch?.bigEndian { c = withUnsafeBytes(of: &e) { crc32(0, $0.baseAddress, uInt($0.count)) } }
        return payload.withUnsafeBufferPointer { UInt32(crc32(c, $0.baseAddress, uInt($0.count))) }
    }

    /// The size of a record of nothing: a journal holding no more than that has nothing to empty.
    static let emptyRecordBytes = record(epoch: 0, objects: [], moves: [], states: []).count

    /// The records `b` holds, as their payloads' ranges, in order; where they end; and their epoch (`nil` with
    /// none, or records of an earlier version only). Reading stops at the first that is not whole, not valid, or
    /// of another epoch than the first (what follows is an older epoch's, or a record a crash cut short).
    static func scan(_ b: [UInt8]) -> (payloads: [Range<Int>], end: Int, epoch: UInt64?) {
        var payloads: [Range<Int>] = []
        var at = 0
        var epoch: UInt64?
        while at + 16 <= b.count {
            // `FDBJ`: a record of an earlier version (no epoch), only before any of this one.
            let legacy = epoch == nil && b[at..<at + 4].elementsEqual("FDBJ".utf8)
            guard legacy || (b[at..<at + 4].elementsEqual("FDBK".utf8) && at + 24 <= b.count) else { break }
            let e: UInt64? = legacy ? nil : Self.u64(b, at + 4)
            if let e, let epoch, e != epoch { break }
            let start = at + (legacy ? 12 : 20)
            let length = Self.u64(b, start - 8)
            guard length <= UInt64(b.count - start), start + Int(length) + 4 <= b.count else { break }
            let range = start..<start + Int(length)
            guard Self.crc(epoch: e, b[range]) == Self.u32(b, range.upperBound) else { break }
            epoch = e ?? epoch
            payloads.append(range)
            at = range.upperBound + 4
        }
        return (payloads, at, epoch)
    }

    /// Writes all of `bytes` at `offset` of `fd`; the error's description if that failed.
    static func write(_ bytes: [UInt8], to fd: Int32, at offset: Int) -> String? {
        var written = 0
        var failure: String?
        bytes.withUnsafeBytes { raw in
            while written < raw.count {
                let n = pwrite(fd, raw.baseAddress! + written, raw.count - written, off_t(offset + written))
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = String(cString: strerror(errno))
                    return
                }
                written += n
            }
        }
        return failure
    }

    /// Whether the journal has grown enough to be emptied.
    var isFull: Bool { records >= Self.checkpointRecords || bytes >= Self.checkpointBytes }
    /// Whether the journal is half way to full: a writer with nothing to do checkpoints it then, rather than
    /// in the middle of a burst of writes.
    var isHalfFull: Bool { records >= Self.checkpointRecords / 2 || bytes >= Self.checkpointBytes / 2 }

    /// Flushes everything written to the repository's file system, then empties the journal: what it held
    /// is on disk.
    ///
    /// The emptied journal is another file: the one used before last (`filamentdb-journal.spare`, its blocks
    /// written) or, the first time, a new one. A record of a new epoch goes at its start (holding the sync-state
    /// updates it `carries`, in no state commit yet), it is flushed, and it is renamed over the journal, so that a
    /// crash at any moment leaves one whole journal, the old or the new; the old one is kept as the next spare.
    /// Without `carrying`, every state updated since the last checkpoint must have its commit written already.
    func checkpoint(carrying states: [StateUpdate] = []) throws(HistoryError) {
        guard bytes > Self.emptyRecordBytes else { return }
        guard filamentdb_syncfs(folderFD) == 0 else { throw HistoryError(.io, "cannot flush the file system: \(String(cString: strerror(errno)))", path: path) }
        // Everything written so far is on disk now.
        flusher.wrote(upTo: appended, flushed: true)
        let newEpoch = UInt64.random(in: 1...UInt64.max)
        let record = Self.record(epoch: newEpoch, objects: [], moves: [], states: states)
        let next = path + Self.nextSuffix, spare = path + Self.spareSuffix
        let recycled = rename(spare, next) == 0
        var nextFD = open(next, O_RDWR | O_CREAT | O_CLOEXEC | (recycled ? 0 : O_TRUNC), 0o644)
        guard nextFD >= 0 else { throw HistoryError(.io, "cannot start a new journal: \(String(cString: strerror(errno)))", path: next) }
        defer { close(nextFD) }
        // The new file is locked before it takes the journal's name: no other process can take the journal
        // between the two.
        var failure: String? = flock(nextFD, LOCK_EX | LOCK_NB) == 0 ? nil : String(cString: strerror(errno))
        // The spare can still be locked: the journal's old descriptor, replaced at the last checkpoint, lives on
        // (with its lock) while a flush of it is still under way on the flusher's thread (seconds, on a disk busy
        // with another program's gigabytes: a checkpoint failed so in a test run beside it). A new file then.
        if failure != nil, recycled {
            close(nextFD)
            unlink(next)
            nextFD = open(next, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            guard nextFD >= 0 else { throw HistoryError(.io, "cannot start a new journal: \(String(cString: strerror(errno)))", path: next) }
            failure = flock(nextFD, LOCK_EX | LOCK_NB) == 0 ? nil : String(cString: strerror(errno))
        }
        if failure == nil { failure = Self.write(record, to: nextFD, at: 0) }
        if failure == nil, fdatasync(nextFD) != 0 { failure = String(cString: strerror(errno)) }
        // The journal now becomes the next checkpoint's spare (it is renamed over, not removed); without it, that
        // checkpoint starts a new file.
        if failure == nil {
            unlink(spare)
            _ = link(path, spare)
        }
        if failure == nil, rename(next, path) != 0 {
            failure = String(cString: strerror(errno))
            // The spare just linked is the journal still: not a spare.
            Self.removeSpare(ifItIs: fd, path: path)
        }
        if let failure {
            unlink(next)
            throw HistoryError(.io, "cannot write the new journal: \(failure)", path: next)
        }
        // From here on the journal is the new file, under the same descriptor (the flusher's), whose lock the
        // new file's open file holds. Should that fail, a record appended to the old, unlinked file would be lost
        // in a crash: every write after it fails instead, until the server is restarted.
        // (dup3 with O_CLOEXEC: dup2's copy lost close-on-exec, so a program started meanwhile, stock git from a
        // test beside it, held the journal's lock for as long as it ran, and reopening the journal was refused.)
        guard filamentdb_dup_cloexec(nextFD, fd) >= 0 else {
            let message = String(cString: strerror(errno))
            flusher.fail("cannot switch to the new journal: \(message)")
            throw HistoryError(.io, "cannot switch to the new journal: \(message)", path: path)
        }
        // The rename is durable once the folder is.
        guard fsync(folderFD) == 0 else {
            throw HistoryError(.io, "cannot flush the journal's folder: \(String(cString: strerror(errno)))", path: path)
        }
        epoch = newEpoch
        records = 1
        bytes = record.count
        appended += record.count
        flusher.wrote(upTo: appended, flushed: true)
    }

    /// The new journal a checkpoint writes before renaming it.
    static let nextSuffix = ".next"
    /// The journal before the current one, whose file the next checkpoint uses again.
    package static let spareSuffix = ".spare"

    /// Flushes what was written and not flushed yet, here and now.
    func flushWritten() throws(HistoryError) {
        guard flusher.pending else { return }
        guard fdatasync(fd) == 0 else { throw HistoryError(.io, "cannot flush the journal: \(String(cString: strerror(errno)))", path: path) }
        flusher.wrote(upTo: appended, flushed: true)
    }

    /// Every whole record of the journal's epoch, in order (a record cut short by a crash, and anything after it,
    /// is left out).
    func read() throws(HistoryError) -> [Record] {
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        return Self.records(in: [UInt8](data))
    }

    /// The records a journal file's bytes hold (``scan(_:)``), decoded; reading stops at one that does not decode.
    package static func records(in b: [UInt8]) -> [Record] { decode(scan(b).payloads, of: b) }

    /// The payloads at `ranges` of `b`, decoded, up to the first that does not decode.
    static func decode(_ ranges: [Range<Int>], of b: [UInt8]) -> [Record] {
        var out: [Record] = []
        for range in ranges {
            guard let record = decode(Array(b[range])) else { break }
            out.append(record)
        }
        return out
    }

    static func decode(_ p: [UInt8]) -> Record? {
        var at = 0
        func u32() -> Int? {
            guard at + 4 <= p.count else { return nil }
            defer { at += 4 }
            return Int(Journal.u32(p, at))
        }
        func take(_ n: Int) -> [UInt8]? {
            guard n >= 0, at + n <= p.count else { return nil }
            defer { at += n }
            return Array(p[at..<at + n])
        }
        guard let objectCount = u32() else { return nil }
        var objects: [PackWriter.Object] = []
        for _ in 0..<objectCount {
            guard let type = take(1), let id = take(20), let n = u32(), let bytes = take(n) else { return nil }
            objects.append(PackWriter.Object(id: ObjectID(bytes: id), type: type[0], bytes: bytes))
        }
        guard let moveCount = u32() else { return nil }
        var moves: [Move] = []
        for _ in 0..<moveCount {
            guard let n = u32(), let name = take(n), let has = take(1), let from = take(20), let to = take(20),
                  let reference = String(validating: name, as: UTF8.self) else { return nil }
            moves.append(Move(reference: reference, from: has[0] == 1 ? ObjectID(bytes: from) : nil, to: ObjectID(bytes: to)))
        }
        // Records of versions before sync states were journaled end here.
        guard at < p.count else { return Record(objects: objects, moves: moves) }
        guard let stateCount = u32() else { return nil }
        var states: [StateUpdate] = []
        func text() -> String? { u32().flatMap { take($0) }.flatMap { String(validating: $0, as: UTF8.self) } }
        for _ in 0..<stateCount {
            guard let reference = text(), let n = u32() else { return nil }
            var document: [UInt8]?
            if n != Int(Self.noDocument) {
                guard let d = take(n) else { return nil }
                document = d
            }
            guard let entries = u32() else { return nil }
            var update = StateUpdate(reference: reference, document: document, ids: [], serials: [], sent: [])
            for _ in 0..<entries {
                guard let kind = take(1), let key = text(), let has = take(1) else { return nil }
                var value: [UInt8]?
                if has[0] == 1 {
                    guard let n = u32(), let v = take(n) else { return nil }
                    value = v
                }
                switch kind[0] {
                case 1: update.ids.append((key, value))
                case 2:
                    guard let v = value.map({ String(validating: $0, as: UTF8.self) }) else { update.serials.append((key, nil)); continue }
                    guard let v else { return nil }
                    update.serials.append((key, v))
                case 3:
                    guard let v = value, v.count == 20 else { return nil }
                    update.sent.append((key, ObjectID(bytes: v)))
                default: return nil
                }
            }
            states.append(update)
        }
        guard at < p.count else { return Record(objects: objects, moves: moves, states: states) }
        func source(_ builds: Int) -> Build.Source?? {
            guard let tag = take(1) else { return nil }
            switch tag[0] {
            case 0: return .some(nil)
            case 1: return take(20).map { .some(.object(ObjectID(bytes: $0))) }
            case 2:
                guard let k = u32(), k < builds else { return nil }
                return .some(.build(k))
            default: return nil
            }
        }
        guard let buildCount = u32() else { return nil }
        var builds: [Build] = []
        for _ in 0..<buildCount {
            guard let base = source(builds.count), let changeCount = u32() else { return nil }
            var changes: [(path: [String], blob: ObjectID?)] = []
            for _ in 0..<changeCount {
                guard let path = text(), let has = take(1) else { return nil }
                var blob: ObjectID?
                if has[0] == 1 {
                    guard let id = take(20) else { return nil }
                    blob = ObjectID(bytes: id)
                }
                changes.append((path.split(separator: "/", omittingEmptySubsequences: false).map(String.init), blob))
            }
            guard let parentCount = u32() else { return nil }
            var parents: [Build.Source] = []
            for _ in 0..<parentCount {
                guard let parent = source(builds.count), let parent else { return nil }
                parents.append(parent)
            }
            guard let name = text(), let email = text(), let time = take(8), let message = text(), let hasReuse = take(1) else { return nil }
            var reuse: ObjectID?
            if hasReuse[0] == 1 {
                guard let id = take(20) else { return nil }
                reuse = ObjectID(bytes: id)
            }
            builds.append(Build(base: base, changes: changes, parents: parents, authorName: name, authorEmail: email,
                                time: Int64(bitPattern: Journal.u64(time, 0)), message: message, reuse: reuse))
        }
        guard let moveCount2 = u32() else { return nil }
        var buildMoves: [BuildMove] = []
        for _ in 0..<moveCount2 {
            guard let reference = text(), let has = take(1), let from = take(20), let k = u32(), k < builds.count else { return nil }
            buildMoves.append(BuildMove(reference: reference, from: has[0] == 1 ? ObjectID(bytes: from) : nil, build: k))
        }
        return Record(objects: objects, moves: moves, states: states, builds: builds, buildMoves: buildMoves)
    }

    /// The size of `record` as a journal holds it.
    package static func encodedSize(_ r: Record) -> Int {
        record(epoch: 0, objects: r.objects, moves: r.moves, states: r.states, builds: r.builds, buildMoves: r.buildMoves).count
    }

    /// A state update's document length that says it has none (``StateUpdate/document``).
    static let noDocument = UInt32.max

    static func putSource(_ source: Build.Source?, _ out: inout [UInt8]) {
        switch source {
        case nil: out.append(0)
        case .object(let id)?:
            out.append(1)
            out += id.bytes
        case .build(let k)?:
            out.append(2)
            put(UInt32(k), &out)
        }
    }

    static func putBytes(_ bytes: [UInt8], _ out: inout [UInt8]) {
        put(UInt32(bytes.count), &out)
        out += bytes
    }

    static func putEntry(_ kind: UInt8, _ key: String, _ value: [UInt8]?, _ out: inout [UInt8]) {
        out.append(kind)
        putBytes(Array(key.utf8), &out)
        out.append(value == nil ? 0 : 1)
        if let value { putBytes(value, &out) }
    }

    static func put(_ v: UInt32, _ out: inout [UInt8]) { for s in stride(from: 24, through: 0, by: -8) { out.append(UInt8((v >> UInt32(s)) & 0xFF)) } }
    static func put(_ v: UInt64, _ out: inout [UInt8]) { for s in stride(from: 56, through: 0, by: -8) { out.append(UInt8((v >> UInt64(s)) & 0xFF)) } }
    static func u32(_ b: [UInt8], _ at: Int) -> UInt32 { (0..<4).reduce(0) { $0 << 8 | UInt32(b[at + $1]) } }
    static func u64(_ b: [UInt8], _ at: Int) -> UInt64 { (0..<8).reduce(0) { $0 << 8 | UInt64(b[at + $1]) } }
}

/// Flushes a journal's records on a thread of its own, many at once (group commit): a sync server appends a
/// request's record without flushing it, goes on with the next request, and answers each once a flush has
/// covered its record. A flush that fails fails every request waiting, and every append after it (the
/// journal's file may have lost what it held: the server is to be restarted, reading back what is on disk).
package final class JournalFlusher: @unchecked Sendable {
    private let fd: Int32
    private let path: String
    private let lock = NSLock()
    private let queue = DispatchQueue(label: "filamentdb.journal-flush")
    private var written = 0
    private var durable = 0
    private var flushing = false
    private var failed: String?
    /// Each waiter's offset, and what to call once it is durable (`nil`) or the flush failed (the failure).
    private var waiters: [(offset: Int, resume: @Sendable (String?) -> Void)] = []

    init(fd: Int32, path: String) {
        self.fd = fd
        self.path = path
    }

    var failure: String? { lock.withLock { failed } }

    /// Fails every request waiting and every append from now on (the journal is no longer one to trust).
    func fail(_ message: String) {
        let waiting = lock.withLock { () -> [@Sendable (String?) -> Void] in
            if failed == nil { failed = message }
            defer { waiters.removeAll() }
            return waiters.map(\.resume)
        }
        for resume in waiting { resume(message) }
    }
    /// Whether written records wait for a flush.
    package var pending: Bool { lock.withLock { durable < written } }
    /// How many bytes of written records wait for a flush.
    package var unflushed: Int { lock.withLock { written - durable } }

    func wrote(upTo offset: Int, flushed: Bool) {
        let ready = lock.withLock { () -> [@Sendable (String?) -> Void] in
            written = max(written, offset)
            guard flushed else { return [] }
            durable = max(durable, offset)
            return takeReady()
        }
        for resume in ready { resume(nil) }
    }

    /// Starts flushing what was written, now, on the flushing thread (if it is not flushing already).
    func start() {
        lock.withLock {
            guard failed == nil, durable < written, !flushing else { return }
            flushing = true
            queue.async { self.flush() }
        }
    }

    /// Returns once the journal is flushed up to `offset` (an ``Journal/append(objects:moves:states:flush:)``).
    package func waitUntilDurable(_ offset: Int) async throws(HistoryError) {
        do {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
                whenDurable(offset) { failure in
                    if let failure { c.resume(throwing: HistoryError(.io, "cannot flush the journal: \(failure)", path: self.path)) } else { c.resume() }
                }
            }
        } catch let error as HistoryError {
            throw error
        } catch {
            throw HistoryError(.io, "cannot flush the journal: \(error)", path: path)
        }
    }

    /// The same, blocking the calling thread: for a thread of the writer's own (the one that writes its packs),
    /// never the history's actor.
    func waitUntilDurableBlocking(_ offset: Int) throws(HistoryError) {
        let done = DispatchSemaphore(value: 0)
        let outcome = NSLock()
        nonisolated(unsafe) var failure: String?
        whenDurable(offset) { failed in
            outcome.withLock { failure = failed }
            done.signal()
        }
        done.wait()
        if let failure = outcome.withLock({ failure }) { throw HistoryError(.io, "cannot flush the journal: \(failure)", path: path) }
    }

    /// Calls `resume` once the journal is flushed up to `offset` (with `nil`) or a flush failed (with the
    /// failure), on this thread if it already is, else on the flushing thread; starts a flush if none runs.
    private func whenDurable(_ offset: Int, _ resume: @escaping @Sendable (String?) -> Void) {
        let outcome = lock.withLock { () -> String?? in
            if let failed { return .some(failed) }
            if durable >= offset { return .some(nil) }
            waiters.append((offset, resume))
            if !flushing {
                flushing = true
                queue.async { self.flush() }
            }
            return nil
        }
        if let outcome { resume(outcome) }
    }

    private func takeReady() -> [@Sendable (String?) -> Void] {
        var ready: [@Sendable (String?) -> Void] = []
        waiters.removeAll { w in
            guard w.offset <= durable else { return false }
            ready.append(w.resume)
            return true
        }
        return ready
    }

    private func flush() {
        while true {
            let target = lock.withLock { written }
            let failure = fdatasync(fd) == 0 ? nil : String(cString: strerror(errno))
            let (ready, failing, again) = lock.withLock { () -> ([@Sendable (String?) -> Void], [@Sendable (String?) -> Void], Bool) in
                if let failure {
                    failed = failure
                    let all = waiters.map(\.resume)
                    waiters.removeAll()
                    flushing = false
                    return ([], all, false)
                }
                durable = max(durable, target)
                let ready = takeReady()
                if waiters.isEmpty { flushing = false }
                return (ready, [], !waiters.isEmpty)
            }
            for resume in ready { resume(nil) }
            for resume in failing { resume(failure ?? "") }
            if !again { return }
        }
    }
}
