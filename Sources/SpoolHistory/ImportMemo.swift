internal import CGit2
import Foundation
import SpoolModel

/// What a device's last imported file taught about its records: for each record's text (its SHA-1), the spool
/// it made (serial, file id, tombstone or not, migration rules), all of them files the device's branch holds at
/// ``head``. A device's next full export is mostly the same records: those the memo knows are not read again,
/// and only the others are parsed, checked and compared. An exact cache, never a source of truth:
///
/// - a record's text is memoised only when it alone makes its spool (no import-time stamp, no warning, no
///   renaming, no field kept from the stored spool) and the branch holds exactly that spool's file afterwards;
/// - the memo is used only while the device's branch is still at ``head`` and the file is read the same way
///   (``reader``: format, table, filamentdb's version); anything else, and the import reads the whole file.
///
/// It lives beside the repository's own files (`filamentdb-import-memo/<SHA-1 of the device name>`), written
/// to a temporary file and renamed, with a checksum: a memo that is missing, torn or of another version is
/// ignored.
package struct ImportMemo: Sendable {
    /// A SHA-1 as a plain value (no array): a memo holds one per record.
    package struct Digest: Hashable, Sendable {
        let a: UInt64, b: UInt64, c: UInt32

        init(_ p: UnsafeRawPointer) {
            a = p.loadUnaligned(as: UInt64.self)
            b = p.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
            c = p.loadUnaligned(fromByteOffset: 16, as: UInt32.self)
        }

        package init(_ id: ObjectID) { self = id.bytes.withUnsafeBytes { Digest($0.baseAddress!) } }

        /// A SHA-1 is uniform already: its first eight bytes are hash enough (SipHash over all twenty was a tenth
        /// of reading a known export).
        package func hash(into hasher: inout Hasher) { hasher.combine(a) }

        func append(to out: inout [UInt8]) {
            withUnsafeBytes(of: a) { out += $0 }
            withUnsafeBytes(of: b) { out += $0 }
            withUnsafeBytes(of: c) { out += $0 }
        }
    }

    package struct Entry: Sendable {
        package var serial: String
        package var file: Digest
        package var deleted: Bool
        /// ``MigrationRule`` cases (by position in `allCases`), once per application.
        package var rules: [UInt8]

        package init(serial: String, file: Digest, deleted: Bool, rules: [MigrationRule]) {
            self.serial = serial
            self.file = file
            self.deleted = deleted
            self.rules = rules.compactMap { r in MigrationRule.allCases.firstIndex(of: r).map(UInt8.init) }
        }

        init(serial: String, file: Digest, deleted: Bool, ruleIndexes: [UInt8]) {
            (self.serial, self.file, self.deleted, self.rules) = (serial, file, deleted, ruleIndexes)
        }

        package var migrationRules: [MigrationRule] {
            rules.compactMap { Int($0) < MigrationRule.allCases.count ? MigrationRule.allCases[Int($0)] : nil }
        }
    }

    /// The device's branch head the entries describe.
    package var head: ObjectID
    /// How the file was read: a memo applies only to a file read the same way.
    package var reader: String
    /// By the SHA-1 of a record's text.
    package var entries: [Digest: Entry]

    package init(head: ObjectID, reader: String, entries: [Digest: Entry]) {
        self.head = head
        self.reader = reader
        self.entries = entries
    }

    static let magic = Array("filamentdb import memo 1\n".utf8)
    static let folder = "filamentdb-import-memo"

    /// The memo's file for `device` in the repository at `repository`: the name is a hash, whatever the device.
    static func path(repository: String, device: String) -> String {
        let name = Array(device.utf8)
        return repository + "/" + folder + "/" + name.withUnsafeBytes { ObjectID(hashing: $0, type: GIT_OBJECT_BLOB) }.hex
    }

    /// The SHA-1 (as git hashes a blob) of `bytes[range]`.
    static func digest(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Digest {
        var oid = ObjectID(hashing: UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(bytes)[range]), type: GIT_OBJECT_BLOB).oid
        return withUnsafeBytes(of: &oid.id) { Digest($0.baseAddress!) }
    }

    /// The digests of `bytes`' records at `sources`, on every core.
    package static func digests(_ bytes: [UInt8], _ sources: [Range<Int>]) -> [Digest] {
        bytes.withUnsafeBufferPointer { buffer in
            Parallel.map(sources.count) { range in range.map { digest(buffer, sources[$0]) } }.flatMap { $0 }
        }
    }

    /// The memo of `device`'s last import, if there is one that reads back whole.
    package static func load(repository: String, device: String) -> ImportMemo? {
        guard let data = FileManager.default.contents(atPath: path(repository: repository, device: device)) else { return nil }
        let bytes = [UInt8](data)
        guard bytes.count > magic.count + 20 + 20, bytes.starts(with: magic) else { return nil }
        let body = bytes.count - 20
        let sum = bytes.withUnsafeBufferPointer { digest($0, 0..<body) }
        guard bytes.withUnsafeBytes({ Digest($0.baseAddress! + body) }) == sum else { return nil }
        return bytes.withUnsafeBytes { raw -> ImportMemo? in
            var reader = Reader(raw: raw, end: body, at: magic.count)
            guard let head = reader.digest(), let readerText = reader.text(), let count = reader.int(4), count <= body / 40 else { return nil }
            var entries: [Digest: Entry] = [:]
            entries.reserveCapacity(count)
            for _ in 0..<count {
                guard let key = reader.digest(), let file = reader.digest(), let flags = reader.int(1), let ruleCount = reader.int(1),
                      let rules = reader.take(ruleCount), let serial = reader.text() else { return nil }
                entries[key] = Entry(serial: serial, file: file, deleted: flags & 1 != 0, ruleIndexes: rules)
            }
            guard reader.at == body else { return nil }
            var headBytes: [UInt8] = []
            head.append(to: &headBytes)
            return ImportMemo(head: ObjectID(bytes: headBytes), reader: readerText, entries: entries)
        }
    }

    /// Writes a memo of `entries` for `device` (a temporary file renamed into place; not flushed: it is a cache).
    /// Returns why it could not be written (a full disk), `nil` once it is in place: a memo not kept loses nothing,
    /// but the caller says so (the device's next file is then read whole).
    @discardableResult
    package static func save(_ entries: [(key: Digest, entry: Entry)], head: ObjectID, reader: String, repository: String, device: String) -> String? {
        var out = magic
        out.reserveCapacity(entries.count * 72 + 128)
        out += head.bytes
        append(text: reader, to: &out)
        append(UInt64(entries.count), 4, to: &out)
        for (key, e) in entries {
            key.append(to: &out)
            e.file.append(to: &out)
            out.append(e.deleted ? 1 : 0)
            out.append(UInt8(min(e.rules.count, 255)))
            if !e.rules.isEmpty { out += e.rules.prefix(255) }
            append(text: e.serial, to: &out)
        }
        out.withUnsafeBufferPointer { digest($0, 0..<$0.count) }.append(to: &out)
        let target = path(repository: repository, device: device)
        let folder = repository + "/" + Self.folder
        try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let temporary = folder + "/.tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return String(cString: strerror(errno)) }
        var written = 0
        var failure: String?
        out.withUnsafeBytes { raw in
            while written < raw.count {
                let n = write(fd, raw.baseAddress! + written, raw.count - written)
                if n < 0 && errno == EINTR { continue }
                if n < 0 { failure = String(cString: strerror(errno)) }
                if n <= 0 { break }
                written += n
            }
        }
        close(fd)
        if written != out.count {
            unlink(temporary)
            return failure ?? "the file was cut short"
        }
        if rename(temporary, target) != 0 {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            return reason
        }
        return nil
    }

    /// Forgets `device`'s memo (its next file is read whole).
    package static func remove(repository: String, device: String) {
        unlink(path(repository: repository, device: device))
    }

    static func append(_ value: UInt64, _ width: Int, to out: inout [UInt8]) {
        for k in 0..<width { out.append(UInt8((value >> (8 * UInt64(k))) & 0xFF)) }
    }

    static func append(text: String, to out: inout [UInt8]) {
        append(UInt64(text.utf8.count), 4, to: &out)
        out.append(contentsOf: text.utf8)
    }

    struct Reader {
        let raw: UnsafeRawBufferPointer
        let end: Int
        var at: Int

        mutating func take(_ n: Int) -> [UInt8]? {
            guard n >= 0, at + n <= end else { return nil }
            defer { at += n }
            return n == 0 ? [] : Array(raw[at..<(at + n)])
        }

        mutating func int(_ width: Int) -> Int? {
            guard at + width <= end else { return nil }
            var v = 0
            for k in 0..<width { v |= Int(raw[at + k]) << (8 * k) }
            at += width
            return v
        }

        mutating func digest() -> Digest? {
            guard at + 20 <= end else { return nil }
            defer { at += 20 }
            return Digest(raw.baseAddress! + at)
        }

        mutating func text() -> String? {
            guard let n = int(4), n >= 0, at + n <= end else { return nil }
            defer { at += n }
            return String(decoding: UnsafeRawBufferPointer(rebasing: raw[at..<(at + n)]), as: UTF8.self)
        }
    }
}
