internal import CGit2
internal import CGit2Shim
import Foundation
import SpoolModel

/// Only a negative return code is a failure; its message is read at once, on this thread, and cleared.
/// libgit2's codes become the history's: a lock or a lost compare-and-swap is contention (worth retrying),
/// a missing object is damage, anything else is libgit2's own report.
@discardableResult
func check(_ rc: Int32, _ function: String, path: String? = nil, notFound: HistoryError.Code = .damagedObject) throws(HistoryError) -> Int32 {
    guard rc < 0 else { return rc }
    var message = "libgit2 error \(rc)"
    var errorClass: Int32 = 0
    if let e = git_error_last(), let text = e.pointee.message {
        message = String(cString: text)
        errorClass = e.pointee.klass
    }
    git_error_clear()
    let git = GitError(code: rc, errorClass: errorClass, message: message, function: function)
    var error: HistoryError
    switch rc {
    case GIT_ENOTFOUND.rawValue: error = HistoryError(notFound, message, path: path, git: git)
    case GIT_EEXISTS.rawValue, GIT_ELOCKED.rawValue, GIT_EMODIFIED.rawValue:
        error = HistoryError(.contention, message, path: path, git: git)
        error.retryable = true
    case GIT_EAMBIGUOUS.rawValue: error = HistoryError(.ambiguous, message, path: path, git: git)
    case GIT_EINVALIDSPEC.rawValue, GIT_EPEEL.rawValue: error = HistoryError(.noSuchRevision, message, path: path, git: git)
    default:
        // An object libgit2 cannot parse or inflate is damage (a tree read through libgit2 said "failed to parse tree:
        // object is corrupted" with exit 74, "a file could not be read", where the same tree read anywhere else is 65).
        let damage = [GIT_ERROR_TREE, GIT_ERROR_OBJECT, GIT_ERROR_ZLIB].contains { Int32($0.rawValue) == errorClass }
        error = HistoryError(errorClass == GIT_ERROR_OS.rawValue ? .io : damage ? .damagedObject : .git, message, path: path, git: git)
    }
    throw error
}

/// libgit2 is initialised once per process, with fsync on, and never shut down.
let gitLibrary: Int32 = {
    git_libgit2_init()
    // Path lookups read the same few trees again and again (a shard folder of a large inventory is over
    // libgit2's default 4 KiB limit), and a server sends the same spool files to many devices: both stay
    // parsed in libgit2's cache, within 256 MiB.
    _ = filamentdb_git_cache_objects(1 << 20, 16 << 10, Int(GitRepository.defaultCacheBytes))
    return filamentdb_git_enable_fsync()
}()

extension GitRepository {
    /// The default budget of libgit2's cache of parsed objects, for the whole process.
    package static let defaultCacheBytes = 256 << 20

    /// The budget of libgit2's cache of parsed objects, for the whole process (`filamentdb serve --cache-mb`).
    /// libgit2 counts the objects' raw bytes: parsed trees take two to three times that in memory. A smaller
    /// budget makes a server on a small machine read trees again more often.
    package static var cacheBytes: Int {
        get {
            _ = gitLibrary
            return filamentdb_git_cache_allowed()
        }
        set {
            _ = gitLibrary
            _ = filamentdb_git_cache_max_size(newValue)
        }
    }
}

/// A repository, owned by one holder at a time: libgit2 handles are not thread-safe, so this class is not
/// `Sendable`; ``InventoryStore`` keeps one per repository behind an actor.
///
/// Objects are written to memory (libgit2's mempack backend, consulted first by every read through this
/// handle) and reach the disk together as one pack, fsynced once, by ``flushObjects()``: an operation's objects
/// land whole or not at all, and a failed operation leaves nothing behind (``discardObjects()``).
package final class GitRepository {
    let handle: OpaquePointer
    private(set) var memory: OpaquePointer
    package let path: String
    /// How many trees this handle has read: what a test counts to show that a cost follows a change.
    package private(set) var treeReads = 0
    /// The objects written to memory since the last flush, in the order written.
    private var pending: [PackWriter.Object] = []
    /// The ids of `pending` and `unpublished`: an object is written once.
    private var pendingIDs = Set<ObjectID>()
    /// With a journal: objects its records hold, in memory, not yet in a pack (``publishObjects()``).
    private var unpublished: [PackWriter.Object] = []
    private var unpublishedBytes = 0
    /// Compresses `unpublished` for its pack while the next requests run.
    private let compressor: BackgroundCompressor
    /// The index of many packs a server writes while idle (``indexPacksIfMany()``).
    package let multiPackIndex: MultiPackIndex
    /// Whether a request is being served (a sync server says so): the compressor's work waits for the gaps.
    package let activity = WriterActivity()

    private init(handle: OpaquePointer, path: String) throws(HistoryError) {
        self.handle = handle
        self.path = path
        compressor = BackgroundCompressor(activity: activity)
        multiPackIndex = MultiPackIndex(folder: path + "/objects/pack")
        var backend: UnsafeMutablePointer<git_odb_backend>?
        var odb: OpaquePointer?
        do {
            try check(git_mempack_new(&backend), "git_mempack_new", path: path)
            try check(git_repository_odb(&odb, handle), "git_repository_odb", path: path)
            defer { git_odb_free(odb) }
            try check(git_odb_add_backend(odb, backend, 999), "git_odb_add_backend", path: path)
        } catch {
            git_repository_free(handle)
            throw error
        }
        memory = OpaquePointer(backend!)
    }

    deinit { git_repository_free(handle) }

    /// Opens the repository at `path`; ``HistoryError/Code/noHistory`` when there is none.
    package static func open(_ path: String) throws(HistoryError) -> GitRepository {
        _ = gitLibrary
        let path = standardized(path)
        var repo: OpaquePointer?
        try check(git_repository_open_ext(&repo, path, GIT_REPOSITORY_OPEN_NO_SEARCH.rawValue, nil), "git_repository_open_ext",
                  path: path, notFound: .noHistory)
        return try GitRepository(handle: repo!, path: path)
    }

    /// Creates a bare repository at `path` (folders included) whose first branch is `initialBranch`: the history
    /// is objects and references only, with no working tree to fall out of step.
    package static func create(_ path: String, initialBranch: String = "main") throws(HistoryError) -> GitRepository {
        _ = gitLibrary
        let path = standardized(path)
        var options = git_repository_init_options()
        try check(git_repository_init_options_init(&options, UInt32(GIT_REPOSITORY_INIT_OPTIONS_VERSION)), "git_repository_init_options_init")
        options.flags = GIT_REPOSITORY_INIT_MKPATH.rawValue | GIT_REPOSITORY_INIT_NO_REINIT.rawValue | GIT_REPOSITORY_INIT_BARE.rawValue
        var repo: OpaquePointer?
        let rc = initialBranch.withCString { head -> Int32 in
            options.initial_head = head
            return git_repository_init_ext(&repo, path, &options)
        }
        try check(rc, "git_repository_init_ext", path: path)
        return try GitRepository(handle: repo!, path: path)
    }

    /// `a//b/./c` as `a/b/c`: libgit2's recursive mkdir stops at a doubled slash.
    static func standardized(_ path: String) -> String { URL(fileURLWithPath: path).standardizedFileURL.path }

    // MARK: objects

    /// Writes an object to memory: its id is computed once, and nothing asks the disk whether it exists
    /// already (libgit2's own write path would look for it in every pack and loose folder, re-reading the pack
    /// folder each time, for every object).
    func writeObject(_ bytes: UnsafeRawBufferPointer, _ type: git_object_t) throws(HistoryError) -> ObjectID {
        try writeObject(bytes, type, keeping: nil)
    }

    /// `kept`: `bytes` as an array, kept as it is in the pack's pending objects (not copied again).
    private func writeObject(_ bytes: UnsafeRawBufferPointer, _ type: git_object_t, keeping kept: [UInt8]?) throws(HistoryError) -> ObjectID {
        var oid = ObjectID(hashing: bytes, type: type).oid
        let backend = UnsafeMutablePointer<git_odb_backend>(memory)
        try check(backend.pointee.write(backend, &oid, bytes.baseAddress, bytes.count, type), "git_mempack.write", path: path)
        memoryWrites += 1
        let id = ObjectID(oid)
        if pendingIDs.insert(id).inserted {
            let code: UInt8 = type == GIT_OBJECT_COMMIT ? 1 : type == GIT_OBJECT_TREE ? 2 : 3
            pending.append(PackWriter.Object(id: id, type: code, bytes: kept ?? Array(bytes)))
        }
        return id
    }

    /// `keep`: a blob is kept in memory for reads (``blobs``) unless not.
    func writeObject(_ bytes: [UInt8], _ type: git_object_t, keep: Bool = true) throws(HistoryError) -> ObjectID {
        let result = bytes.withUnsafeBytes { raw in Result { () throws(HistoryError) in try writeObject(raw, type, keeping: bytes) } }
        let id = try result.get()
        // The next request edits and looks up the trees this one wrote (``treeBytes(_:)``), and reads its files.
        if type == GIT_OBJECT_TREE { trees.keep(id, bytes) } else if type == GIT_OBJECT_BLOB, keep, journal != nil { blobs.keep(id, bytes) }
        return id
    }

    /// `keep: false` for blobs seldom read again (a device state's thousands of ids, written at once), which would
    /// push the spools' files out of ``blobs``.
    package func writeBlob(_ bytes: [UInt8], keep: Bool = true) throws(HistoryError) -> ObjectID { try writeObject(bytes, GIT_OBJECT_BLOB, keep: keep) }

    /// The id `bytes` would have as a blob, without writing anything.
    package static func blobID(_ bytes: [UInt8]) -> ObjectID {
        bytes.withUnsafeBytes { ObjectID(hashing: $0, type: GIT_OBJECT_BLOB) }
    }

    /// Writes blobs whose ids ``blobID(_:)`` computed.
    package func writeBlobs(_ contents: [[UInt8]], ids: [ObjectID]) throws(HistoryError) {
        let backend = UnsafeMutablePointer<git_odb_backend>(memory)
        for (bytes, id) in zip(contents, ids) where pendingIDs.insert(id).inserted {
            var oid = id.oid
            let rc = bytes.withUnsafeBytes { backend.pointee.write(backend, &oid, $0.baseAddress, $0.count, GIT_OBJECT_BLOB) }
            try check(rc, "git_mempack.write", path: path)
            memoryWrites += 1
            pending.append(PackWriter.Object(id: id, type: 3, bytes: bytes))
            if journal != nil { blobs.keep(id, bytes) }
        }
    }

    /// Blobs' bytes by id: those this handle wrote and those it read. A sync request's merge reads main's file
    /// of each spool it changes, most often one an earlier request wrote; once packed, libgit2 read it by
    /// looking its id up in every pack and inflating it and the file its delta is against (a twentieth of the
    /// server's time with eight devices syncing). At the default budget, the files of about 100,000 spools. Kept
    /// only by a handle with a journal (the server): a command reads each file once (an export of 100,000 spools
    /// peaked 69 MiB higher keeping them, for nothing).
    private var blobs = KeptBytes(budget: max(1 << 20, GitRepository.cacheBytes / 4))

    package func readBlob(_ id: ObjectID) throws(HistoryError) -> [UInt8] {
        if let known = blobs.value(id) { return known }
        let bytes = try readBlobThroughLibgit2(id)
        if journal != nil { blobs.keep(id, bytes) }
        return bytes
    }

    private func readBlobThroughLibgit2(_ id: ObjectID) throws(HistoryError) -> [UInt8] {
        var blob: OpaquePointer?
        var oid = id.oid
        try check(git_blob_lookup(&blob, handle, &oid), "git_blob_lookup", path: path)
        defer { git_blob_free(blob) }
        let size = Int(git_blob_rawsize(blob))
        guard size > 0, let raw = git_blob_rawcontent(blob) else { return [] }
        return Array(UnsafeRawBufferPointer(start: raw, count: size))
    }

    package func readTree(_ id: ObjectID) throws(HistoryError) -> [TreeEntry] {
        treeReads += 1
        let bytes = try treeBytes(id)
        var out: [TreeEntry] = []
        let whole = bytes.withUnsafeBytes { raw in
            Self.walkTree(raw) { name, isTree, at, _ in
                out.append(TreeEntry(name: String(decoding: name, as: UTF8.self), id: ObjectID(loading: raw, at: at), kind: isTree ? .tree : .blob))
                return true
            }
        }
        guard whole else { throw notATree(id) }
        return out
    }

    /// The entries in which two trees differ, in git's order: a name with the same id and kind on both sides is
    /// passed over inside libgit2 (no Swift string is made for it); every other one comes once per side it is
    /// on (`nil`: absent there). `nil` trees are empty.
    package func differingEntries(_ a: ObjectID?, _ b: ObjectID?) throws(HistoryError) -> [(left: TreeEntry?, right: TreeEntry?)] {
        guard a != b else { return [] }
        var left: OpaquePointer?, right: OpaquePointer?
        if let a {
            treeReads += 1
            var oid = a.oid
            try check(git_tree_lookup(&left, handle, &oid), "git_tree_lookup", path: path)
        }
        defer { if left != nil { git_tree_free(left) } }
        if let b {
            treeReads += 1
            var oid = b.oid
            try check(git_tree_lookup(&right, handle, &oid), "git_tree_lookup", path: path)
        }
        defer { if right != nil { git_tree_free(right) } }
        func entry(_ e: OpaquePointer) -> TreeEntry {
            TreeEntry(name: String(cString: git_tree_entry_name(e)), id: ObjectID(git_tree_entry_id(e).pointee),
                      kind: git_tree_entry_type(e) == GIT_OBJECT_TREE ? .tree : .blob)
        }
        let nl = left.map { git_tree_entrycount($0) } ?? 0, nr = right.map { git_tree_entrycount($0) } ?? 0
        var out: [(left: TreeEntry?, right: TreeEntry?)] = []
        var i = 0, j = 0
        while i < nl || j < nr {
            let l = i < nl ? git_tree_entry_byindex(left, i) : nil
            let r = j < nr ? git_tree_entry_byindex(right, j) : nil
            if let l, let r {
                let order = git_tree_entry_cmp(l, r)
                if order == 0 {
                    if git_oid_equal(git_tree_entry_id(l), git_tree_entry_id(r)) == 0 || git_tree_entry_type(l) != git_tree_entry_type(r) {
                        out.append((entry(l), entry(r)))
                    }
                    i += 1
                    j += 1
                } else if order < 0 {
                    out.append((entry(l), nil))
                    i += 1
                } else {
                    out.append((nil, entry(r)))
                    j += 1
                }
            } else if let l {
                out.append((entry(l), nil))
                i += 1
            } else if let r {
                out.append((nil, entry(r)))
                j += 1
            } else {
                break
            }
        }
        return out
    }

    /// The id of the entry at the folders and name `components` under the tree `treeID`; `nil` if a name is
    /// absent, or a folder on the way is a file, except among the first `foldersRequired` (a file there is
    /// damage: ``HistoryError/notAFolder(_:path:)``). Walked over the trees' bytes (``treeBytes(_:)``): no Swift
    /// value is made for the folders on the way.
    package func entryID(at components: [String], in treeID: ObjectID, foldersRequired: Int = 0) throws(HistoryError) -> ObjectID? {
        var tree = treeID
        for (depth, component) in components.enumerated() {
            treeReads += 1
            guard let (id, isTree) = try find(component, in: tree) else { return nil }
            if depth == components.count - 1 { return id }
            guard isTree else {
                guard depth < foldersRequired else { return nil }
                throw HistoryError.notAFolder(components.prefix(depth + 1).joined(separator: "/"), path: path)
            }
            tree = id
        }
        return tree
    }

    /// One entry of a tree by name, `nil` if absent.
    package func entry(_ name: String, in treeID: ObjectID) throws(HistoryError) -> TreeEntry? {
        treeReads += 1
        guard let (id, isTree) = try find(name, in: treeID) else { return nil }
        return TreeEntry(name: name, id: id, kind: isTree ? .tree : .blob)
    }

    // MARK: trees as their bytes

    /// Trees' bytes by id, as git stores them (`<mode> <name>` NUL `<20-byte id>` per entry): those this handle
    /// wrote and those it read. Lookups and edits walk these bytes, not libgit2's parsed trees: a tree written by
    /// one request was looked up in libgit2's cache of objects and parsed there by the next, at every folder on
    /// every path it touched (libgit2 was a tenth of a delta request's time, most of it there).
    private var trees = KeptBytes(budget: max(1 << 20, GitRepository.cacheBytes / 4))

    /// A tree's bytes, from memory or read once through libgit2 (``trees``).
    func treeBytes(_ id: ObjectID) throws(HistoryError) -> [UInt8] {
        if let known = trees.value(id) { return known }
        var odb: OpaquePointer?
        try check(git_repository_odb(&odb, handle), "git_repository_odb", path: path)
        defer { git_odb_free(odb) }
        var object: OpaquePointer?
        var oid = id.oid
        try check(git_odb_read(&object, odb, &oid), "git_odb_read", path: path)
        defer { git_odb_object_free(object) }
        guard git_odb_object_type(object) == GIT_OBJECT_TREE else { throw notATree(id) }
        let size = git_odb_object_size(object)
        let bytes = size == 0 ? [] : Array(UnsafeRawBufferPointer(start: git_odb_object_data(object), count: size))
        // Checked whole once, as libgit2's parser would: a lookup that stops at its name finds no damage after it.
        guard bytes.withUnsafeBytes({ Self.walkTree($0) { _, _, _, _ in true } }) else { throw notATree(id) }
        trees.keep(id, bytes)
        return bytes
    }

    private func notATree(_ id: ObjectID) -> HistoryError {
        HistoryError(.damagedObject, "object \(id.hex) is not a tree, or not a well-formed one", path: path)
    }

    /// Calls `body` with each entry of a tree's bytes in order: its name, whether it is a folder, and the offset of its
    /// 20-byte id, and where the entry starts (its mode); `body` returns `false` to stop. `false` if the bytes are not
    /// a tree's. Read as libgit2's parser reads them: the mode is octal, at most 0177777, and a folder's is 040000
    /// once the permission bits are set aside (git writes `40000`).
    static func walkTree(_ raw: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer, Bool, Int, Int) -> Bool) -> Bool {
        guard let base = raw.baseAddress else { return true }
        let n = raw.count
        var at = 0
        while at < n {
            let start = at
            var mode = 0
            while at < n, raw[at] != 0x20 {
                guard (0x30...0x37).contains(raw[at]), at - start < 6 else { return false }
                mode = mode << 3 | Int(raw[at] - 0x30)
                at += 1
            }
            guard at < n, at > start, mode <= 0o177777 else { return false }
            let isTree = mode & 0o170000 == 0o040000
            let name = at + 1
            guard name < n, let nul = memchr(base + name, 0, n - name) else { return false }
            let end = base.distance(to: UnsafeRawPointer(nul))
            guard end > name, end + 21 <= n else { return false }
            if !body(UnsafeRawBufferPointer(rebasing: raw[name..<end]), isTree, end + 1, start) { return true }
            at = end + 21
        }
        return true
    }

    /// The id and kind of the entry named `name` in the tree `tree`, `nil` if absent.
    private func find(_ name: String, in tree: ObjectID) throws(HistoryError) -> (ObjectID, Bool)? {
        let bytes = try treeBytes(tree)
        var name = name
        var found: (ObjectID, Bool)?
        let whole = name.withUTF8 { wanted in
            bytes.withUnsafeBytes { raw in
                Self.walkTree(raw) { entry, isTree, at, _ in
                    guard entry.count == wanted.count, memcmp(entry.baseAddress!, wanted.baseAddress!, wanted.count) == 0 else { return true }
                    found = (ObjectID(loading: raw, at: at), isTree)
                    return false
                }
            }
        }
        guard whole else { throw notATree(tree) }
        return found
    }

    /// Writes a tree of `entries` (names unique), in git's order: by the bytes of the names, a folder's name
    /// compared as if it ended in `/`.
    package func writeTree(_ entries: [TreeEntry]) throws(HistoryError) -> ObjectID {
        try writeTree(sortedEntries: entries.sorted(by: Self.gitOrdered))
    }

    /// ``writeTree(_:)`` for entries already in git's order (``gitOrdered(_:_:)``), as ``readTree(_:)`` lists them.
    package func writeTree(sortedEntries entries: [TreeEntry]) throws(HistoryError) -> ObjectID {
        var out: [UInt8] = []
        out.reserveCapacity(entries.count * 64)
        for e in entries {
            var name = e.name
            name.withUTF8 { Self.appendEntry(isTree: e.kind == .tree, name: UnsafeRawBufferPointer($0), id: e.id, to: &out) }
        }
        return try writeObject(out, GIT_OBJECT_TREE)
    }

    /// git's order of a tree's entries: by the names' bytes, a folder's name read as if it ended in `/`.
    static func gitOrdered(_ a: TreeEntry, _ b: TreeEntry) -> Bool {
        var x = a.name, y = b.name
        return x.withUTF8 { p in y.withUTF8 { q in gitOrdered(UnsafeRawBufferPointer(p), a.kind == .tree, UnsafeRawBufferPointer(q), b.kind == .tree) } }
    }

    static let treeMode = Array("40000 ".utf8)
    static let blobMode = Array("100644 ".utf8)

    /// One entry of a tree object as git writes it: its mode, a space, its name, a zero byte, its id.
    static func appendEntry(isTree: Bool, name: UnsafeRawBufferPointer, id: ObjectID, to out: inout [UInt8]) {
        out += isTree ? treeMode : blobMode
        out.append(contentsOf: name)
        out.append(0)
        id.append(to: &out)
    }

    /// What a tree update sets one name to: a blob or a tree, or nothing (`id` `nil`: the name goes).
    package struct TreeEdit {
        package var name: [UInt8]
        package var kind: TreeEntry.Kind
        package var id: ObjectID?

        package init(name: [UInt8], kind: TreeEntry.Kind, id: ObjectID?) {
            (self.name, self.kind, self.id) = (name, kind, id)
        }
    }

    /// The tree `tree` with `edits` applied (a name holds one entry, whatever its kind; of two edits of a name the
    /// later counts), written from the old tree's bytes (``treeBytes(_:)``) straight into the new one's: no entry of the
    /// tree is made a Swift value. `nil` if it is left empty.
    package func editTree(_ tree: ObjectID?, _ edits: [TreeEdit]) throws(HistoryError) -> ObjectID? {
        // The last edit of each name, then those that add an entry in git's order.
        var last: [[UInt8]: Int] = [:]
        for (i, e) in edits.enumerated() { last[e.name] = i }
        let kept = edits.indices.filter { last[edits[$0].name] == $0 }
        let adds = kept.map { edits[$0] }.filter { $0.id != nil }.sorted { a, b in
            a.name.withUnsafeBytes { x in b.name.withUnsafeBytes { y in Self.gitOrdered(x, a.kind == .tree, y, b.kind == .tree) } }
        }
        let old: [UInt8] = try tree.map { (t) throws(HistoryError) -> [UInt8] in
            treeReads += 1
            return try treeBytes(t)
        } ?? []
        var out: [UInt8] = []
        out.reserveCapacity(old.count + adds.count * 64)
        func append(_ e: TreeEdit) {
            e.name.withUnsafeBytes { Self.appendEntry(isTree: e.kind == .tree, name: $0, id: e.id!, to: &out) }
        }
        var next = 0
        let whole = old.withUnsafeBytes { raw in
            Self.walkTree(raw) { name, isTree, at, start in
                // An edited name keeps only what its edit says.
                if kept.contains(where: { k in edits[k].name.withUnsafeBytes { $0.elementsEqual(name) } }) { return true }
                while next < adds.count, adds[next].name.withUnsafeBytes({ Self.gitOrdered($0, adds[next].kind == .tree, name, isTree) }) {
                    append(adds[next])
                    next += 1
                }
                // Copied as it is (its mode too: a link or a submodule stays one).
                out.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[start..<at + 20]))
                return true
            }
        }
        if !whole, let tree { throw notATree(tree) }
        while next < adds.count {
            append(adds[next])
            next += 1
        }
        return out.isEmpty ? nil : try writeObject(out, GIT_OBJECT_TREE)
    }

    /// git's order of two entries' names (their bytes; a folder's name read as if it ended in `/`).
    static func gitOrdered(_ p: UnsafeRawBufferPointer, _ pTree: Bool, _ q: UnsafeRawBufferPointer, _ qTree: Bool) -> Bool {
        let n = min(p.count, q.count)
        var i = 0
        while i < n {
            if p[i] != q[i] { return p[i] < q[i] }
            i += 1
        }
        let nextP: UInt8? = p.count > n ? p[n] : (pTree ? 0x2F : nil)
        let nextQ: UInt8? = q.count > n ? q[n] : (qTree ? 0x2F : nil)
        switch (nextP, nextQ) {
        case let (u?, v?): return u < v
        case (nil, _?): return true
        default: return false
        }
    }

    /// Writes a commit object (no reference moves: see ``updateReference(_:to:expecting:message:)``), as git
    /// writes one: its tree, its parents, author and committer (the same), a blank line and the message.
    package func writeCommit(tree: ObjectID, parents: [ObjectID], authorName: String, authorEmail: String,
                             time: Int64, message: String) throws(HistoryError) -> ObjectID {
        let who = "\(Signature.gitSafe(authorName)) <\(Signature.gitSafe(authorEmail))> \(time) +0000\n"
        var text = "tree \(tree.hex)\n"
        for p in parents { text += "parent \(p.hex)\n" }
        text += "author " + who + "committer " + who + "\n" + message
        let id = try writeObject(Array(text.utf8), GIT_OBJECT_COMMIT)
        commitLinks.keep(id, CommitLinks(tree: tree, parents: parents))
        return id
    }

    /// A commit's tree and parents.
    struct CommitLinks {
        var tree: ObjectID
        var parents: [ObjectID]
    }

    /// The tree and parents of the commits this handle wrote or read: a sync request asks for the tree of main,
    /// of the device's place and of its branch, and compares its commit with the branch's head; each asked
    /// libgit2, which looked the commit up (in every pack, for one not in its cache) and parsed it whole.
    private var commitLinks = Kept<CommitLinks>(budget: 8 << 20) { 64 + 20 * $0.parents.count }

    /// `id`'s tree and parents (``commitLinks``, else read).
    package func links(of id: ObjectID) throws(HistoryError) -> (tree: ObjectID, parents: [ObjectID]) {
        if let known = commitLinks.value(id) { return (known.tree, known.parents) }
        let commit = try readCommit(id)
        return (commit.tree, commit.parents)
    }

    package func readCommit(_ id: ObjectID) throws(HistoryError) -> CommitInfo {
        var commit: OpaquePointer?
        var oid = id.oid
        try check(git_commit_lookup(&commit, handle, &oid), "git_commit_lookup", path: path)
        defer { git_commit_free(commit) }
        var parents: [ObjectID] = []
        for i in 0..<git_commit_parentcount(commit) {
            if let p = git_commit_parent_id(commit, i) { parents.append(ObjectID(p.pointee)) }
        }
        let author = git_commit_author(commit)!.pointee
        let tree = ObjectID(git_commit_tree_id(commit)!.pointee)
        commitLinks.keep(id, CommitLinks(tree: tree, parents: parents))
        return CommitInfo(id: id, tree: tree, parents: parents,
                          message: git_commit_message(commit).map { String(cString: $0) } ?? "",
                          authorName: author.name.map { String(cString: $0) } ?? "",
                          authorEmail: author.email.map { String(cString: $0) } ?? "",
                          time: Int64(git_commit_time(commit)), offsetMinutes: Int32(git_commit_time_offset(commit)))
    }

    // MARK: writing objects to disk

    /// Writes every object written since the last flush to disk as one pack (with its index), fsynced, and
    /// empties the memory. Nothing to write: nothing happens.
    ///
    /// With a ``Journal`` and the branch `moves` that will follow, the objects and the moves are flushed as one
    /// journal record instead, and the pack is written without flushing (the journal's checkpoint does).
    ///
    /// `states` (only with a journal) go into the same record: sync-state updates whose commits are written later.
    ///
    /// With `deferringFlush`, the journal's record is written and not flushed: the returned offset is durable
    /// once the journal's ``JournalFlusher`` says so.
    @discardableResult
    package func flushObjects(moves: [Journal.Move] = [], states: [Journal.StateUpdate] = [], builds: [Journal.Build] = [],
                              buildMoves: [Journal.BuildMove] = [], deferringFlush: Bool = false) throws(HistoryError) -> Int? {
        let recorded = !(moves.isEmpty && states.isEmpty && builds.isEmpty)
        guard !pending.isEmpty || (journal != nil && recorded) else { return nil }
        if let journal, recorded {
            // The journal's record makes them durable; they reach a pack with the next ``publishObjects()``.
            let offset = try journal.append(objects: pending, moves: moves, states: states, builds: builds, buildMoves: buildMoves,
                                            flush: !deferringFlush)
            compressor.add(pending)
            unpublished += pending
            lastFlushBytes = pending.reduce(0) { $0 + $1.bytes.count }
            unpublishedBytes += lastFlushBytes
            pending.removeAll(keepingCapacity: true)
            return deferringFlush ? offset : nil
        }
        try PackWriter.write(pending, to: path + "/objects/pack")
        // libgit2 learns of the new pack before the copies in memory go.
        try refreshObjects()
        discardObjects()
        return nil
    }

    /// The objects written since the last record that a record holds as its ``Journal/Build``s (built after it was
    /// written): they wait for a pack with the objects the journal holds, without a record of their own.
    package func keepBuiltObjects() {
        guard journal != nil, !pending.isEmpty else { return }
        compressor.add(pending)
        unpublished += pending
        unpublishedBytes += pending.reduce(0) { $0 + $1.bytes.count }
        pending.removeAll(keepingCapacity: true)
    }

    /// Builds a record's commit (``Journal/Build``) to memory, after the record's `earlier` builds (their commits
    /// and trees): the tree of its base with its changes (`tree`, the inventory's path editor), then the commit.
    /// A build whose tree and parents are those of its ``Journal/Build/reuse`` commit is that commit.
    package func build(_ b: Journal.Build, after earlier: [(commit: ObjectID, tree: ObjectID)],
                       tree edit: (ObjectID?, [(path: [String], blob: ObjectID?)]) throws(HistoryError) -> ObjectID) throws(HistoryError) -> (commit: ObjectID, tree: ObjectID) {
        func resolve(_ source: Journal.Build.Source, tree: Bool) throws(HistoryError) -> ObjectID {
            switch source {
            case .object(let id): return id
            case .build(let k):
                guard k < earlier.count else { throw HistoryError(.damagedObject, "a journal record builds on a commit it has not built", path: path) }
                return tree ? earlier[k].tree : earlier[k].commit
            }
        }
        let base = try b.base.map { (s) throws(HistoryError) in try resolve(s, tree: true) }
        let tree: ObjectID
        if let base, b.changes.isEmpty { tree = base } else { tree = try edit(base, b.changes) }
        var parents: [ObjectID] = []
        for p in b.parents { parents.append(try resolve(p, tree: false)) }
        let commit = try writeCommit(tree: tree, parents: parents, authorName: b.authorName, authorEmail: b.authorEmail, time: b.time, message: b.message)
        if let reuse = b.reuse, reuse != commit {
            let links = try self.links(of: reuse)
            if links.tree == tree && links.parents == parents {
                unwrite(commit)
                return (reuse, tree)
            }
        }
        return (commit, tree)
    }

    /// How much the journal's records hold that is not in a pack yet.
    package var unpublishedSize: (objects: Int, bytes: Int) { (unpublished.count, unpublishedBytes) }
    /// The bytes of the objects the last journaled ``flushObjects(moves:states:deferringFlush:)`` recorded.
    package private(set) var lastFlushBytes = 0

    /// Writes the objects the journal holds and no pack has yet as one pack (not flushed: the journal is what
    /// makes them durable until its checkpoint), then lets them go from memory.
    package func publishObjects() throws(HistoryError) {
        _ = try finishPublishing(wait: true)
        guard !unpublished.isEmpty else { return }
        var entries = compressor.take()
        if entries.map({ $0.count != unpublished.count || $0.last?.id != unpublished.last?.id }) ?? true {
            entries = try PackWriter.compress(unpublished, durable: false)
        }
        guard let entries else { return }
        let name = try PackWriter.write(entries: entries, to: path + "/objects/pack", durable: false)
        let replaced = compressor.keepRecentNow(name, entries, folder: path + "/objects/pack")
        try landed(unpublished.count, replacing: replaced)
    }

    /// Has a multi-pack-index written in the background when there are many packs (``MultiPackIndex``): a server
    /// calls this while idle. libgit2 reads it once the database is refreshed (``refreshIfPacksIndexed()``).
    package func indexPacksIfMany() {
        guard journal != nil, multiPackIndex.due(packs: packCount) else { return }
        compressor.indexPacks(multiPackIndex)
    }

    /// Refreshes libgit2's database if a multi-pack-index was put in place since the last call.
    package func refreshIfPacksIndexed() throws(HistoryError) {
        if multiPackIndex.takeWritten() { try refreshObjects() }
    }

    /// Whether `id` is an object the journal holds, or memory, that no pack has yet.
    package func holdsUnpublished(_ id: ObjectID) -> Bool { pendingIDs.contains(id) }

    /// How many of `unpublished`'s first objects the background is writing as one pack (``startPublishing()``).
    private var sealing: Int?

    /// Whether a pack is being written in the background (``startPublishing()``).
    package var isPublishing: Bool { sealing != nil }

    /// Hands the objects the journal holds and no pack has yet to the background, which writes them as one pack
    /// (and combines packs, ``keepRecentNow``) while the next writes go on: the writer is not held up for the
    /// milliseconds a pack takes. ``finishPublishing(wait:)`` lands it. `false` when there is nothing to hand,
    /// or a pack is being written already. `alone`: the pack is not combined with others (``BackgroundCompressor/seal(folder:alone:)``).
    /// The pack is written once the journal's records of its objects are flushed (the background waits for the
    /// journal's flusher; a flush here, on the writer, held up the request that started the pack by 0.3-1 ms).
    ///
    /// `moves` (in the order to write them): branch moves whose objects the pack holds, written by the background
    /// once the pack is, as ``updateLooseReference(in:_:to:expecting:)`` can (the rename over a branch's file
    /// took 0.15-0.75 ms of the landing request here, traced). ``takePublishedReferences()`` tells
    /// which were written; the writer writes the others.
    package func startPublishing(alone: Bool = false, moves: [(reference: String, from: ObjectID?, to: ObjectID)] = []) -> Bool {
        guard let journal, sealing == nil, !unpublished.isEmpty else { return false }
        sealing = unpublished.count
        compressor.seal(unpublished, folder: path + "/objects/pack", alone: alone, after: (journal.flusher, journal.appended), repository: path, moves: moves)
        return true
    }

    /// The branches the last landed background publish wrote, with the value each was moved to.
    private var publishedReferences: [String: ObjectID] = [:]

    /// The branches the background wrote for the packs landed since the last call (``startPublishing(alone:moves:)``).
    package func takePublishedReferences() -> [String: ObjectID] {
        if !publishedReferences.isEmpty { forgetKeptReferences() }
        defer { publishedReferences = [:] }
        return publishedReferences
    }

    /// Lands the pack ``startPublishing()`` had written, once it is (at once, or with `wait` once it is written):
    /// libgit2 learns of it, the objects it holds leave memory, and packs it was combined with are removed.
    /// Returns whether one landed. A pack the background could not write is written here.
    package func finishPublishing(wait: Bool) throws(HistoryError) -> Bool {
        guard let count = sealing, let result = compressor.takeSealed(wait: wait) else { return false }
        sealing = nil
        switch result {
        case .success(let sealed):
            publishedReferences.merge(sealed.references) { _, new in new }
            try landed(count, replacing: sealed.replaced)
        case .failure:
            // (Perhaps the journal's flush: then this one fails too, and nothing is written.)
            try journal?.flushWritten()
            let entries = try PackWriter.compress(Array(unpublished.prefix(count)), durable: false)
            try PackWriter.write(entries: entries, to: path + "/objects/pack", durable: false)
            try landed(count, replacing: [])
        }
        return true
    }

    /// After the first `count` objects of `unpublished` reached a pack (and the packs in `replaced` were
    /// combined into another): libgit2 learns of the new packs, the replaced ones go, and memory keeps only
    /// the objects no pack has yet.
    private func landed(_ count: Int, replacing replaced: [String]) throws(HistoryError) {
        try refreshObjects()
        // The whole array leaves (to be freed on another thread), and only what came after the pack is copied:
        // copying the thousands of objects that leave retained each (a tenth of a millisecond or more).
        let leaving = unpublished
        unpublished = Array(leaving[count...])
        for i in 0..<count { unpublishedBytes -= leaving[i].bytes.count }
        // The ids of what memory still holds, made afresh (removing thousands one by one costs a millisecond),
        // and the copies that leave memory freed on another thread.
        pendingIDs = Set(minimumCapacity: unpublished.count + pending.count)
        for o in unpublished { pendingIDs.insert(o.id) }
        for o in pending { pendingIDs.insert(o.id) }
        compressor.release(leaving)
        if !replaced.isEmpty || memoryWrites > Self.memoryWritesKept {
            removePacks(replaced)
            try reopenObjects()
        }
        // Otherwise libgit2's memory backend keeps its copies of what reached the pack for now (reading them
        // there is as good as from the pack): emptying it frees each, milliseconds for a few thousand.
    }

    /// Writes the objects no pack has yet (`unpublished`, then `pending`) to libgit2's memory backend again.
    private func holdInMemory() throws(HistoryError) {
        let backend = UnsafeMutablePointer<git_odb_backend>(memory)
        for o in unpublished + pending {
            var oid = o.id.oid
            let type: git_object_t = o.type == 1 ? GIT_OBJECT_COMMIT : o.type == 2 ? GIT_OBJECT_TREE : GIT_OBJECT_BLOB
            let rc = o.bytes.withUnsafeBytes { backend.pointee.write(backend, &oid, $0.baseAddress, $0.count, type) }
            try check(rc, "git_mempack.write", path: path)
        }
        memoryWrites += unpublished.count + pending.count
    }

    /// Objects written to libgit2's memory backend since it was made: past ``memoryWritesKept`` (after a pack
    /// landed) a fresh backend replaces it, given only what no pack holds yet.
    private var memoryWrites = 0
    static let memoryWritesKept = 32_768

    func refreshObjects() throws(HistoryError) {
        var odb: OpaquePointer?
        try check(git_repository_odb(&odb, handle), "git_repository_odb", path: path)
        defer { git_odb_free(odb) }
        try check(git_odb_refresh(odb), "git_odb_refresh", path: path)
    }

    // MARK: the journal

    /// The journal that makes this handle's writes durable, when it holds one (``openJournal()``).
    package private(set) var journal: Journal?

    /// Makes this handle's writes durable through a ``Journal`` (one flush per write) from now on, first
    /// bringing back what the journal holds and the repository lost in a crash of the machine. Turns libgit2's
    /// own flushing off for the whole process (a journaled writer is the only writer in its process), and its check of
    /// every object read against its id.
    ///
    /// Returns the main commit the journal's last record left main at, when main has moved on without it
    /// (another process wrote while this one was down): the caller merges it in, then checkpoints; and the
    /// sync-state updates the records hold, in order, for the caller to write as commits.
    package func openJournal(tree edit: (ObjectID?, [(path: [String], blob: ObjectID?)]) throws(HistoryError) -> ObjectID) throws(HistoryError)
        -> (behind: ObjectID?, states: [Journal.StateUpdate]) {
        guard journal == nil else { return (nil, []) }
        let journal = try Journal(repository: path)
        let records = journal.takeRecordsFound()
        let behind = try recover(records, tree: edit)
        _ = filamentdb_git_set_fsync(0)
        // libgit2 hashes every object it reads again to check it against its id, with its portable SHA-1: a
        // tenth of a sync request's time on the server. Git itself does not (its checks are `git fsck`'s, as
        // ours are `filamentdb verify`'s, run in a process of its own, where libgit2 checks every read).
        _ = filamentdb_git_verify_reads(0)
        self.journal = journal
        return (behind, records.flatMap(\.states))
    }

    /// Writes back the objects of the journal's records that the repository lacks (as one flushed pack) and
    /// moves each branch a record moved and the repository left behind (still at the record's old commit, or
    /// at a commit it lost). Returns the journal's last main commit if main went elsewhere meanwhile.
    func recover(_ records: [Journal.Record], tree edit: (ObjectID?, [(path: [String], blob: ObjectID?)]) throws(HistoryError) -> ObjectID) throws(HistoryError) -> ObjectID? {
        guard !records.isEmpty else { return nil }
        var odb: OpaquePointer?
        try check(git_repository_odb(&odb, handle), "git_repository_odb", path: path)
        defer { git_odb_free(odb) }
        func present(_ id: ObjectID) -> Bool {
            var oid = id.oid
            var object: OpaquePointer?
            guard git_odb_read(&object, odb, &oid) == 0 else {
                git_error_clear()
                return false
            }
            git_odb_object_free(object)
            return true
        }
        var missing: [PackWriter.Object] = []
        var seen = Set<ObjectID>()
        for record in records {
            for o in record.objects where seen.insert(o.id).inserted && !present(o.id) { missing.append(o) }
        }
        if !missing.isEmpty {
            try PackWriter.write(missing, to: path + "/objects/pack")
            try refreshObjects()
        }
        // The commits records hold as builds, built again in order (each on what the records before it left), and
        // written as one pack before any branch moves to them.
        var moves: [[Journal.Move]] = []
        for record in records {
            var built: [(commit: ObjectID, tree: ObjectID)] = []
            for b in record.builds { built.append(try build(b, after: built, tree: edit)) }
            moves.append(record.moves + record.buildMoves.map { Journal.Move(reference: $0.reference, from: $0.from, to: built[$0.build].commit) })
        }
        if !pending.isEmpty { try flushObjects() }
        for recordMoves in moves {
            for move in recordMoves {
                removeLockLeftByACrash(move.reference)
                // A branch file a crash left unreadable counts as lost, like one naming a commit that is gone.
                let current: ObjectID?, lost: Bool
                do {
                    current = try reference(move.reference)
                    lost = current.map { !present($0) } ?? false
                } catch {
                    (current, lost) = (nil, true)
                }
                if current == move.from || lost {
                    var oid = move.to.oid
                    var ref: OpaquePointer?
                    forgetKeptReferences()
                    try check(git_reference_create(&ref, handle, move.reference, &oid, 1, "filamentdb: recovered from the journal"),
                              "git_reference_create", path: path)
                    git_reference_free(ref)
                }
            }
        }
        let mainMoves = moves.flatMap { $0 }.filter { $0.reference == InventoryRepository.mainReference }
        guard let last = mainMoves.last?.to, let current = try reference(InventoryRepository.mainReference), current != last,
              try !contains(last, in: current) else { return nil }
        return last
    }

    /// A writer killed between writing `reference`'s lock file and renaming it over the branch leaves the lock,
    /// and libgit2 moves no branch that has one. It is removed once it is older than a live writer ever holds
    /// one (``InventoryRepository/staleLockAge``), waiting until then: another process's lock, younger, is
    /// waited for and goes with its rename.
    func removeLockLeftByACrash(_ reference: String) {
        let lock = path + "/" + reference + ".lock"
        let deadline = Date().addingTimeInterval(InventoryRepository.staleLockAge + 1)
        while let modified = (try? FileManager.default.attributesOfItem(atPath: lock))?[.modificationDate] as? Date {
            if Date().timeIntervalSince(modified) > InventoryRepository.staleLockAge {
                try? FileManager.default.removeItem(atPath: lock)
                return
            }
            guard Date() < deadline else { return }
            usleep(20_000)
        }
    }

    /// Flushes everything to disk and empties the journal (the repository publishes what it holds first:
    /// ``InventoryRepository/publish()``), but for the sync-state updates it `carries` over
    /// (``Journal/checkpoint(carrying:)``).
    package func checkpoint(carrying states: [Journal.StateUpdate] = []) throws(HistoryError) {
        guard let journal else { return }
        try publishObjects()
        // Once the journal is emptied, the packs written so far are all that holds their objects: combined from
        // now on, they stay until the next checkpoint has flushed the combined pack.
        compressor.outliveJournal()
        try journal.checkpoint(carrying: states)
        let flushed = compressor.takeReplacedBeforeCheckpoint()
        guard !flushed.isEmpty else { return }
        removePacks(flushed)
        try reopenObjects()
    }

    /// Removes packs another one replaced (the index first: a pack without its index is invisible, an index
    /// without its pack an error); libgit2 forgets them once the database is made afresh (``reopenObjects()``).
    private func removePacks(_ names: [String]) {
        for name in names {
            unlink(path + "/objects/pack/" + name + ".idx")
            unlink(path + "/objects/pack/" + name + ".pack")
        }
    }

    // MARK: combining a writer's small packs

    /// How many packs of one level are combined into one of the next: every object lookup searches each pack's
    /// index, so a server keeps few.
    static let combineCount = 8
    /// Up to which level packs are combined here (level 3: 512 writes); above it, garbage collection does.
    static let combineLevels = 3
    /// Packs are combined only while the combination stays under this size (a bulk import, or a batch of
    /// thousands of spools synced, is one pack already): writing a larger one on the compressor's thread held up
    /// the requests of a busy server (the journal's flush, and a core, shared with it).
    static let combineBytes = 16 << 20

    /// A fresh object database for this handle: libgit2 never forgets a pack it once listed, so after packs
    /// were combined and removed every lookup would still search (and every refresh compare against) them.
    /// The objects memory holds and no pack has yet are written to the new one's memory backend again.
    func reopenObjects() throws(HistoryError) {
        var odb: OpaquePointer?
        try check(git_odb_open(&odb, path + "/objects"), "git_odb_open", path: path)
        defer { git_odb_free(odb) }
        var backend: UnsafeMutablePointer<git_odb_backend>?
        try check(git_mempack_new(&backend), "git_mempack_new", path: path)
        let added = git_odb_add_backend(odb, backend, 999)
        if added != 0 { backend?.pointee.free(backend) }
        try check(added, "git_odb_add_backend", path: path)
        // The old database is freed on the compressor's thread: its memory backend holds every object written since
        // it was made (tens of thousands after a large upload), and freeing them one by one took a request 10 ms.
        var old: OpaquePointer?
        if git_repository_odb(&old, handle) != 0 { old = nil }
        let set = git_repository_set_odb(handle, odb)
        if let old { if set == 0 { compressor.release(database: old) } else { git_odb_free(old) } }
        try check(set, "git_repository_set_odb", path: path)
        memory = OpaquePointer(backend!)
        memoryWrites = 0
        try holdInMemory()
    }

    /// Leaves an object written since the last flush out of the next pack (a commit made again, then not used).
    package func unwrite(_ id: ObjectID) {
        guard pendingIDs.remove(id) != nil else { return }
        pending.removeAll { $0.id == id }
    }

    /// Forgets the objects written since the last flush (after a failure: nothing of it reaches the disk).
    /// Objects a journal holds and no pack has yet stay in memory (an unused copy there is harmless).
    package func discardObjects() {
        if unpublished.isEmpty {
            git_mempack_reset(UnsafeMutablePointer<git_odb_backend>(memory))
            pendingIDs.removeAll(keepingCapacity: true)
        } else {
            for o in pending { pendingIDs.remove(o.id) }
        }
        pending.removeAll(keepingCapacity: true)
    }

    /// How many packs the object database holds.
    package var packCount: Int {
        ((try? FileManager.default.contentsOfDirectory(atPath: path + "/objects/pack")) ?? []).filter { $0.hasSuffix(".pack") }.count
    }

    /// Rewrites every object reachable from `references` into one pack and removes the packs and loose
    /// objects it replaces: what many small flushes and failed writers left behind. Objects that no reference
    /// reaches are dropped.
    ///
    /// Another process may have written a pack and not yet moved its branch: packs, loose objects and
    /// temporary files younger than `grace` seconds are kept (their objects are copied, not lost), and a
    /// temporary file of filamentdb's is removed only once the process that wrote it is gone.
    package func repack(references: [ObjectID], grace: TimeInterval, givingWay: (@Sendable () -> Bool)? = nil) throws(HistoryError) {
        let packFolder = path + "/objects/pack"
        let objects = path + "/objects"
        let fm = FileManager.default
        func old(_ file: String) -> Bool {
            guard let modified = (try? fm.attributesOfItem(atPath: file))?[.modificationDate] as? Date else { return false }
            return Date().timeIntervalSince(modified) >= grace
        }
        let before = Set(((try? fm.contentsOfDirectory(atPath: packFolder)) ?? []).filter { $0.hasPrefix("pack-") && old(packFolder + "/" + $0) })
        var builder: OpaquePointer?
        try check(git_packbuilder_new(&builder, handle), "git_packbuilder_new", path: path)
        defer { git_packbuilder_free(builder) }
        git_packbuilder_set_threads(builder, 0)
        // `givingWay` is asked at libgit2's progress reports (every half second at most, while objects are added,
        // compressed and written): true stops the repack, which then leaves everything as it was.
        let stop = Unmanaged.passRetained(GivingWay(givingWay ?? { false }))
        defer { stop.release() }
        let asked: git_packbuilder_progress = { _, _, _, payload in
            Unmanaged<GivingWay>.fromOpaque(payload!).takeUnretainedValue().body() ? -1 : 0
        }
        let askedWhileWriting: git_indexer_progress_cb = { _, payload in
            Unmanaged<GivingWay>.fromOpaque(payload!).takeUnretainedValue().body() ? -1 : 0
        }
        if givingWay != nil { git_packbuilder_set_callbacks(builder, asked, stop.toOpaque()) }
        var walk: OpaquePointer?
        try check(git_revwalk_new(&walk, handle), "git_revwalk_new", path: path)
        defer { git_revwalk_free(walk) }
        for r in references {
            var oid = r.oid
            try check(git_revwalk_push(walk, &oid), "git_revwalk_push", path: path)
        }
        try check(git_packbuilder_insert_walk(builder, walk), "git_packbuilder_insert_walk", path: path)
        try check(git_packbuilder_write(builder, nil, 0, givingWay == nil ? nil : askedWhileWriting, stop.toOpaque()), "git_packbuilder_write", path: path)
        let written = git_packbuilder_name(builder).map { "pack-" + String(cString: $0) } ?? ""
        // With a journal, libgit2 wrote the pack without flushing: everything reaches the disk before what it
        // replaces goes.
        try checkpoint()
        // The index goes first: a pack without its index is invisible, an index without its pack an error. (And
        // before them, a multi-pack-index, which lists them.)
        multiPackIndex.removing {
            for name in before.sorted(by: { $0.hasSuffix(".idx") && !$1.hasSuffix(".idx") }) where !name.hasPrefix(written + ".") {
                try? fm.removeItem(atPath: packFolder + "/" + name)
            }
        }
        // Loose objects (from earlier versions of filamentdb, or stock git) are all in the new pack.
        for folder in (try? fm.contentsOfDirectory(atPath: objects)) ?? [] where folder.utf8.count == 2 {
            for file in (try? fm.contentsOfDirectory(atPath: objects + "/" + folder)) ?? [] where old(objects + "/" + folder + "/" + file) {
                try? fm.removeItem(atPath: objects + "/" + folder + "/" + file)
            }
            rmdir(objects + "/" + folder) // only once empty
        }
        // What writers stopped midway left: filamentdb's own temporary packs (named by process), libgit2's.
        for (folder, names) in [(packFolder, (try? fm.contentsOfDirectory(atPath: packFolder)) ?? []), (objects, (try? fm.contentsOfDirectory(atPath: objects)) ?? [])] {
            for name in names where name.hasPrefix("tmp_") {
                let file = folder + "/" + name
                if name.hasPrefix("tmp_pack_filamentdb_"), let pid = Int32(name.split(separator: "_")[3]) {
                    if kill(pid, 0) != 0 && errno == ESRCH { try? fm.removeItem(atPath: file) }
                } else if old(file) {
                    try? fm.removeItem(atPath: file)
                }
            }
        }
        var odb: OpaquePointer?
        if git_repository_odb(&odb, handle) == 0 {
            git_odb_refresh(odb)
            git_odb_free(odb)
        }
    }

    // MARK: references

    /// The references ``keptReference(_:)`` read while ``keepingReferences(_:)`` runs, as read; forgotten as soon
    /// as this handle writes any reference.
    private var keptReferences: [String: ObjectID?]?

    /// Runs `body` reading each reference from the disk at most once (``keptReference(_:)``), until this handle
    /// writes one. A sync request asked for main and its device's branch six times each, each time libgit2's four
    /// to six file system calls (the loose file, `packed-refs`), a tenth of a poll's work on the history. What
    /// another process writes meanwhile is seen by the next call, as it would be a moment later anyway: every
    /// move is a compare-and-swap that reads the disk again (``updateReference(_:to:expecting:message:)``).
    package func keepingReferences<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        guard keptReferences == nil else { return try body() }
        keptReferences = [:]
        defer { keptReferences = nil }
        return try body()
    }

    /// ``reference(_:)``, read once within ``keepingReferences(_:)``.
    package func keptReference(_ name: String) throws(HistoryError) -> ObjectID? {
        if let kept = keptReferences?[name] { return kept }
        let id = try reference(name)
        if keptReferences != nil { keptReferences![name] = .some(id) }
        return id
    }

    /// Forgets the references ``keepingReferences(_:)`` read: this handle wrote one.
    private func forgetKeptReferences() {
        if keptReferences != nil { keptReferences = [:] }
    }

    /// The commit a reference (`refs/heads/main`) points to, or `nil` if it does not exist yet.
    package func reference(_ name: String) throws(HistoryError) -> ObjectID? {
        var oid = git_oid()
        let rc = git_reference_name_to_id(&oid, handle, name)
        if rc == GIT_ENOTFOUND.rawValue {
            git_error_clear()
            return nil
        }
        try check(rc, "git_reference_name_to_id", path: path)
        return ObjectID(oid)
    }

    /// The names of the references under `prefix` (`refs/heads/`).
    package func references(under prefix: String) throws(HistoryError) -> [String] {
        var list = git_strarray()
        try check(git_reference_list(&list, handle), "git_reference_list", path: path)
        defer { git_strarray_dispose(&list) }
        var out: [String] = []
        for i in 0..<list.count {
            if let c = list.strings[i] {
                let name = String(cString: c)
                if name.hasPrefix(prefix) { out.append(name) }
            }
        }
        return out.sorted()
    }

    /// ``updateReference(_:to:expecting:message:)`` for a thread other than the handle's: the branch's file is
    /// read directly, not through libgit2. Returns whether the branch now points at `id`; `false` (nothing
    /// written) whenever it cannot tell for sure: the branch is locked or not as expected, its file is missing
    /// (it may be in `packed-refs`) or is not a plain id. The handle's own writer then moves it.
    static func updateLooseReference(in repository: String, _ name: String, to id: ObjectID, expecting expected: ObjectID?) -> Bool {
        guard let expected else { return false }
        let file = repository + "/" + name
        let lock = file + ".lock"
        let fd = Glibc.open(lock, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return false }
        var done = false
        defer {
            close(fd)
            if !done { unlink(lock) }
        }
        // A plain branch file: 40 hexadecimal digits and a newline.
        var current = [UInt8](repeating: 0, count: 64)
        let reader = Glibc.open(file, O_RDONLY | O_CLOEXEC)
        guard reader >= 0 else { return false }
        let n = current.withUnsafeMutableBytes { read(reader, $0.baseAddress, $0.count) }
        close(reader)
        guard n == 41, current[40] == UInt8(ascii: "\n"),
              let hex = String(validating: current[0..<40], as: UTF8.self), ObjectID(hex: hex) == expected else { return false }
        guard Self.writeReference(id, through: fd, lock: lock, to: file, flush: false) else { return false }
        done = true
        return true
    }

    /// The end of a reference's update: `id` written to its lock file (and flushed, with `flush`), and the lock
    /// renamed over the reference's file. Whether all of it succeeded (`errno` says why not).
    private static func writeReference(_ id: ObjectID, through fd: Int32, lock: String, to file: String, flush: Bool) -> Bool {
        let line = Array((id.hex + "\n").utf8)
        let written = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        return written == line.count && (!flush || fsync(fd) == 0) && rename(lock, file) == 0
    }

    /// Moves `name` to `id` only if it still points to `expected` (`nil`: only if it does not exist yet).
    /// Losing the race throws a retryable ``HistoryError/Code/contention``: the caller re-reads and retries,
    /// so two writers never lose a commit.
    ///
    /// Written as git writes a reference, and as libgit2 does: `NAME.lock` created exclusively (the lock every
    /// git writer takes), the current value compared, the new one written (flushed, unless a ``Journal`` holds
    /// the move) and renamed over `NAME`. By hand rather than through libgit2, which also checks every other
    /// reference for a name that would clash (ours cannot: ``DeviceBranch`` encodes names so none is a
    /// folder of another) and took a third of a sync request's time doing so.
    package func updateReference(_ name: String, to id: ObjectID, expecting expected: ObjectID?, message: String) throws(HistoryError) {
        forgetKeptReferences()
        let file = path + "/" + name
        let lock = file + ".lock"
        var fd = Glibc.open(lock, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        if fd < 0, errno == ENOENT {
            let folder = (file as NSString).deletingLastPathComponent
            try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            fd = Glibc.open(lock, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        }
        guard fd >= 0 else {
            let reason = String(cString: strerror(errno))
            var error = HistoryError(.contention, "\(name) is locked (\(reason))", path: lock)
            error.retryable = errno == EEXIST
            if errno != EEXIST { error = HistoryError(.io, "cannot lock \(name): \(reason)", path: lock) }
            throw error
        }
        var locked = true
        defer { if locked { unlink(lock) } }
        let current: ObjectID?
        do {
            current = try reference(name)
        } catch {
            close(fd)
            throw error
        }
        guard current == expected else {
            close(fd)
            var error = HistoryError(.contention, "\(name) moved to \(current?.hex ?? "nothing") while it was expected at \(expected?.hex ?? "nothing")", path: path)
            error.retryable = true
            throw error
        }
        let done = Self.writeReference(id, through: fd, lock: lock, to: file, flush: journal == nil)
        let reason = String(cString: strerror(errno))
        close(fd)
        guard done else { throw HistoryError(.io, "cannot write \(name): \(reason)", path: file) }
        locked = false
    }

    /// Removes a reference if it still points to `expected`.
    package func deleteReference(_ name: String, expecting expected: ObjectID) throws(HistoryError) {
        forgetKeptReferences()
        var reference: OpaquePointer?
        try check(git_reference_lookup(&reference, handle, name), "git_reference_lookup", path: path, notFound: .noSuchBranch)
        defer { git_reference_free(reference) }
        guard let target = git_reference_target(reference), ObjectID(target.pointee) == expected else {
            var error = HistoryError(.contention, "\(name) moved while it was being renamed", path: path)
            error.retryable = true
            throw error
        }
        try check(git_reference_delete(reference), "git_reference_delete", path: path)
    }

    /// The best common ancestor of two commits, `nil` when they share none.
    package func mergeBase(_ a: ObjectID, _ b: ObjectID) throws(HistoryError) -> ObjectID? {
        var out = git_oid()
        var one = a.oid, two = b.oid
        let rc = git_merge_base(&out, handle, &one, &two)
        if rc == GIT_ENOTFOUND.rawValue {
            git_error_clear()
            return nil
        }
        try check(rc, "git_merge_base", path: path)
        return ObjectID(out)
    }

    /// Whether `commit` is `ancestor` or has it among its ancestors.
    package func contains(_ ancestor: ObjectID, in commit: ObjectID) throws(HistoryError) -> Bool {
        if ancestor == commit { return true }
        var a = commit.oid, b = ancestor.oid
        return try check(git_graph_descendant_of(handle, &a, &b), "git_graph_descendant_of", path: path) == 1
    }

    /// The commit a revision (`main`, `main~2`, an id) names; ``HistoryError/Code/noSuchRevision`` if none.
    package func revision(_ text: String) throws(HistoryError) -> ObjectID {
        var object: OpaquePointer?
        try check(git_revparse_single(&object, handle, text), "git_revparse_single", path: path, notFound: .noSuchRevision)
        defer { git_object_free(object) }
        var peeled: OpaquePointer?
        let rc = git_object_peel(&peeled, object, GIT_OBJECT_COMMIT)
        if rc < 0 {
            git_error_clear()
            throw HistoryError(.noSuchRevision, "\(text) names no commit (it is a \(String(cString: git_object_type2string(git_object_type(object)))))", path: path)
        }
        defer { git_object_free(peeled) }
        return ObjectID(git_object_id(peeled)!.pointee)
    }
}

/// Compresses each journaled write's objects on a thread of its own as soon as its record is flushed, so that
/// publishing them (``GitRepository/publishObjects()``) only writes the pack: the compression overlaps the
/// next requests instead of delaying one of them.
final class BackgroundCompressor: @unchecked Sendable {
    private let queue = IdleThread(name: "filamentdb.pack-compression")
    /// Writes are compressed on this thread alone, at idle priority. Compressed on every core, their parts ran on
    /// the system's worker threads at normal priority, and an upload's batches (thousands of objects each) took the
    /// cores from the requests that came after (delta syncs just after a 100,000-spool upload, p50 1.47-1.51 ms against
    /// 1.20-1.25 alone in three pairs; in five more, on a faster phase of the machine, 1.15-1.20 against 1.09-1.22:
    /// no worse, and the upload of the first 10,000 spools 345-430 ms against 351-449). A writer that waits for the
    /// compression runs what is left on its own thread (``IdleThread/sync(_:)``), on every core from this many
    /// objects (on both cores, a delta sync's 40-60 objects took the core the next request was on, for a scheduler's
    /// time slice: requests of 3-6 ms, traced).
    static let parallelFrom = 1_024
    private let lock = NSLock()
    private var done: [[PackWriter.Entry]] = []
    private var failed = false
    /// What ``seal(folder:)`` wrote (the names of the packs it replaced by combining them), once written.
    private var sealed: Result<Sealed, HistoryError>?

    /// What a ``seal(folder:alone:after:repository:moves:)`` did: the packs its pack was combined with, to be
    /// removed, and the branches it moved.
    struct Sealed {
        var replaced: [String]
        var references: [String: ObjectID]
    }
    /// Whether requests are being served: a pack is written in parts, each once no request is (``pause()``).
    private let activity: WriterActivity
    /// The longest a part of this thread's work waits for the requests being served to end (under a load
    /// with no gaps, the pack is written anyway, in about 2 ms more per part).
    static let pauseLimit: TimeInterval = 0.002

    init(activity: WriterActivity) { self.activity = activity }

    /// Between two parts of a pack's writing: waits until no request is being served (at most ``pauseLimit``).
    private func pause() { activity.waitUntilIdle(atMost: Self.pauseLimit) }

    /// Runs `body` once the thread's work given so far is done (the writer waiting: that work no longer pauses).
    private func waitForQueue<T>(_ body: () -> T) -> T { activity.hurrying { queue.sync(body) } }

    func add(_ objects: [PackWriter.Object]) {
        queue.async { [self] in
            let entries = try? PackWriter.compress(objects, durable: false, parallel: objects.count >= Self.parallelFrom && !IdleThread.onItsThread)
            lock.withLock {
                if let entries { done.append(entries) } else { failed = true }
            }
        }
    }

    /// Frees `objects` (a landed pack's, which memory no longer needs) on this thread, a few hundred at a time
    /// between requests: freeing thousands at once, on another thread, held up the allocations of the requests
    /// running meanwhile (they share the allocator's locks).
    func release(_ objects: [PackWriter.Object]) {
        final class Leaving: @unchecked Sendable {
            var objects: [PackWriter.Object]
            init(_ objects: [PackWriter.Object]) { self.objects = objects }
        }
        let leaving = Leaving(objects)
        queue.async { [self] in
            while !leaving.objects.isEmpty {
                pause()
                leaving.objects.removeLast(min(Self.releasedAtOnce, leaving.objects.count))
            }
        }
    }

    /// Frees an object database no handle uses any more (its memory backend can hold tens of thousands of
    /// objects), between requests.
    func release(database odb: OpaquePointer) {
        /// The database, handed to the thread that frees it (no other holds it).
        struct Unused: @unchecked Sendable { let odb: OpaquePointer }
        let unused = Unused(odb: odb)
        queue.async { [self] in
            pause()
            git_odb_free(unused.odb)
        }
    }

    /// How many objects ``release(_:)`` frees between two pauses.
    static let releasedAtOnce = 500

    /// Everything added so far, compressed, in the order added (each delta's base moved with its part);
    /// `nil` if a part failed (the caller compresses it all again).
    func take() -> [PackWriter.Entry]? {
        waitForQueue {}
        return takeDone()
    }

    private func takeDone(pause: () -> Void = {}) -> [PackWriter.Entry]? {
        let (parts, failure) = lock.withLock { () -> ([[PackWriter.Entry]], Bool) in
            defer { (done, failed) = ([], false) }
            return (done, failed)
        }
        guard !failure else { return nil }
        var out: [PackWriter.Entry] = []
        out.reserveCapacity(parts.reduce(0) { $0 + $1.count })
        var sincePause = 0
        for part in parts {
            let offset = out.count
            for var entry in part {
                entry.base = entry.base.map { $0 + offset }
                out.append(entry)
            }
            sincePause += part.count
            if sincePause >= Self.entriesBetweenPauses {
                sincePause = 0
                pause()
            }
        }
        return out
    }

    /// How many entries ``takeDone(pause:)`` moves between two pauses (about 0.2 ms of work).
    static let entriesBetweenPauses = 1_000

    /// Writes everything added so far as one pack in `folder` (not flushed), on this thread, then combines
    /// packs as ``keepRecentNow`` does; ``takeSealed(wait:)`` tells how it went.
    ///
    /// `alone`: the pack of a large write (a batch of an upload) stays as it is, out of the combining. It is large
    /// enough to stand alone until garbage is collected, and combined with others it made the combination that
    /// followed, tens of milliseconds on this thread, fall among the small requests after the upload.
    ///
    /// `after`: the journal's flusher and the offset its records are to be flushed up to before the pack is written
    /// (no pack of a record that is not durable yet reaches the disk before it).
    ///
    /// `moves`: branches of the repository at `repository` to move once the pack is written, in order, as far as
    /// ``GitRepository/updateLooseReference(in:_:to:expecting:)`` can (it stops at the first it cannot: a
    /// branch is not to point at a commit that a branch written before it names and is not moved yet).
    ///
    /// `objects`: what the pack is to hold. The entries compressed as they were added are used when they are
    /// exactly those (a pack that could not be written, a full disk, took its entries with it: the next pack
    /// compresses everything again, or it would have left those objects out and its branches named commits no
    /// pack holds).
    func seal(_ objects: [PackWriter.Object], folder: String, alone: Bool = false, after journal: (flusher: JournalFlusher, offset: Int)? = nil,
              repository: String = "", moves: [(reference: String, from: ObjectID?, to: ObjectID)] = []) {
        queue.async { [self] in
            let result: Result<Sealed, HistoryError>
            var compressed = takeDone(pause: pause)
            if compressed.map({ $0.count != objects.count || $0.last?.id != objects.last?.id }) ?? true {
                // Alone on this thread too (at idle priority, ``parallelFrom``); on every core for a writer waiting.
                compressed = try? PackWriter.compress(objects, durable: false, parallel: !IdleThread.onItsThread)
            }
            if let entries = compressed {
                do throws(HistoryError) {
                    if let journal { try journal.flusher.waitUntilDurableBlocking(journal.offset) }
                    let name = try PackWriter.write(entries: entries, to: folder, durable: false, pause: pause)
                    var references: [String: ObjectID] = [:]
                    for move in moves {
                        guard GitRepository.updateLooseReference(in: repository, move.reference, to: move.to, expecting: move.from) else { break }
                        references[move.reference] = move.to
                    }
                    result = .success(Sealed(replaced: alone ? [] : keepRecent(name, entries, folder: folder, pause: pause), references: references))
                } catch {
                    result = .failure(error)
                }
            } else {
                result = .failure(HistoryError(.io, "a pack could not be compressed", path: folder))
            }
            lock.withLock { sealed = result }
        }
    }

    /// How the last ``seal(folder:)`` went, once it is done (with `wait`, waiting for it); `nil` before.
    func takeSealed(wait: Bool) -> Result<Sealed, HistoryError>? {
        if wait { waitForQueue {} }
        return lock.withLock {
            defer { sealed = nil }
            return sealed
        }
    }

    /// The packs written here, small enough to combine, with their entries and level (0: one write; 1:
    /// ``GitRepository/combineCount`` writes; …), and whether the journal no longer holds all their objects
    /// (written before its last checkpoint, or combined from such packs): once combined, those are removed only
    /// after the next checkpoint has flushed the combined pack (``replacedBeforeCheckpoint``), not flushed here
    /// (an fsync of megabytes on this thread holds up the journal's flush of every request meanwhile). Used on
    /// this thread only.
    private var recent: [(name: String, entries: [PackWriter.Entry], level: Int, outlived: Bool)] = []
    private var replacedBeforeCheckpoint: [String] = []
    /// Packs combined into another, to be removed (by the writer, or after a checkpoint): no multi-pack-index
    /// lists them (``indexPacks(_:)``). Used on this thread only.
    private var leaving = Set<String>()

    /// Has `index` written for the packs that stay (``MultiPackIndex``): every pack in the folder but those this
    /// thread may still combine and those it combined, which are to be removed. Listed on this thread, after the
    /// work given before; the index is written on its own.
    func indexPacks(_ index: MultiPackIndex) {
        queue.async { [self] in
            let names = Set(((try? FileManager.default.contentsOfDirectory(atPath: index.folder)) ?? [])
                .filter { $0.hasPrefix("pack-") && $0.hasSuffix(".idx") }.map { String($0.dropLast(4)) })
            leaving.formIntersection(names)
            let combinable = Set(recent.map(\.name))
            index.write(names.subtracting(leaving).subtracting(combinable).sorted(), inFolder: names.count)
        }
    }

    /// The packs that were combined into others and wait for a checkpoint to be removed: called once the
    /// checkpoint has flushed everything (nothing is combined meanwhile: publishing waits for the checkpoint).
    func takeReplacedBeforeCheckpoint() -> [String] {
        waitForQueue {
            defer { replacedBeforeCheckpoint = [] }
            return replacedBeforeCheckpoint
        }
    }

    /// Keeps a pack written here for combining, and combines a level's packs once there are
    /// ``GitRepository/combineCount`` of them: a server writing a pack per publish keeps a few dozen packs, not
    /// thousands. Returns the names of the packs a combined one replaces: they are removed once libgit2 knows
    /// the combined one.
    func keepRecentNow(_ name: String, _ entries: [PackWriter.Entry], folder: String) -> [String] {
        waitForQueue { keepRecent(name, entries, folder: folder) }
    }

    /// Before the journal is emptied: the packs written so far outlive what it holds. (Once they were never
    /// combined again, and every checkpoint left up to a few dozen packs behind: past
    /// ``InventoryStore/packLimit`` the whole database was repacked, tens of seconds on a large history.)
    func outliveJournal() {
        waitForQueue { for i in recent.indices { recent[i].outlived = true } }
    }

    private func keepRecent(_ name: String, _ entries: [PackWriter.Entry], folder: String, pause: () -> Void = {}) -> [String] {
        guard entries.reduce(0, { $0 + $1.payload.count }) <= GitRepository.combineBytes else { return [] }
        recent.append((name, entries, 0, false))
        var replaced: [String] = []
        for level in 0..<GitRepository.combineLevels {
            let members = recent.filter { $0.level == level }
            guard members.count >= GitRepository.combineCount else { break }
            // Members that would make too large a pack together stay as they are, out of the combining.
            guard members.reduce(0, { $0 + $1.entries.reduce(0) { $0 + $1.payload.count } }) <= GitRepository.combineBytes else {
                let names = Set(members.map(\.name))
                recent.removeAll { names.contains($0.name) }
                break
            }
            // The members' entries as they are, compressed once: a delta's base is found again by its id (an
            // object two members hold is kept once, at its first place, before any delta of it).
            var all: [PackWriter.Entry] = []
            var place: [ObjectID: Int] = [:]
            for m in members {
                var moved = [Int](repeating: 0, count: m.entries.count)
                for (k, e) in m.entries.enumerated() {
                    if let at = place[e.id] {
                        moved[k] = at
                        continue
                    }
                    var entry = e
                    if let b = e.base { entry.base = moved[b] }
                    place[e.id] = all.count
                    moved[k] = all.count
                    all.append(entry)
                }
                pause()
            }
            // A combination that cannot be written leaves its members as they are. Members whose objects the
            // journal no longer holds all stay until a checkpoint has flushed the combined pack.
            guard let combined = try? PackWriter.write(entries: all, to: folder, durable: false, pause: pause) else { break }
            let outlived = members.contains { $0.outlived }
            let names = Set(members.map(\.name))
            leaving.formUnion(names.subtracting([combined]))
            recent.removeAll { names.contains($0.name) }
            if outlived { replacedBeforeCheckpoint += names.filter { $0 != combined } } else { replaced += names.filter { $0 != combined } }
            if level + 1 < GitRepository.combineLevels { recent.append((combined, all, level + 1, outlived)) }
        }
        return replaced
    }
}

/// A repack's question whether to stop (``GitRepository/repack(references:grace:givingWay:)``), handed to libgit2's callbacks.
private final class GivingWay {
    let body: @Sendable () -> Bool
    init(_ body: @escaping @Sendable () -> Bool) { self.body = body }
}

/// Values by object id, up to `budget` (each counted by `cost`), in two generations of half the budget each:
/// once the recent one is full, it becomes the older one (whose values go), and a value found there is kept in
/// the recent one again. What a server uses request after request (the files of the spools its devices change,
/// the folders above them, the commits its devices stand on) stays; emptying the whole of it when full, as
/// before, made every such read go through libgit2 again after each emptying (a pack lookup and an inflate: 4%
/// of the server's time with 8 devices syncing).
/// Object ids name their contents, so what is kept never goes stale. Held in a stored property, mutated in place
/// (behind a `lazy var`, each `keep` copied the whole dictionary: a first import of 100,000 spools took 2 minutes).
struct Kept<Value> {
    let budget: Int
    let cost: (Value) -> Int
    private var recent: [ObjectID: Value] = [:]
    private var older: [ObjectID: Value] = [:]
    private var held = 0, olderHeld = 0

    /// What both generations hold, by `cost`: at most `budget`.
    var total: Int { held + olderHeld }

    init(budget: Int, cost: @escaping (Value) -> Int) { (self.budget, self.cost) = (budget, cost) }

    /// The value of `id`, if kept (found in the older generation, kept in the recent one again).
    mutating func value(_ id: ObjectID) -> Value? {
        if let found = recent[id] { return found }
        guard let found = older[id] else { return nil }
        keep(id, found)
        return found
    }

    mutating func keep(_ id: ObjectID, _ value: Value) {
        let c = cost(value)
        if held + c > budget / 2 {
            older = recent
            olderHeld = held
            recent = [:]
            recent.reserveCapacity(older.count)
            held = 0
        }
        if recent.updateValue(value, forKey: id) == nil { held += c }
    }
}

/// Objects' bytes (each counted with 64 more for its key and entry).
typealias KeptBytes = Kept<[UInt8]>

extension Kept where Value == [UInt8] {
    init(budget: Int) { self.init(budget: budget) { $0.count + 64 } }
}
