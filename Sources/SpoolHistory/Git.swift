internal import CGit2
internal import CGit2Shim
import Foundation

/// A libgit2 failure: what kind, libgit2's own message, and the C function that failed.
public struct GitError: Error, Sendable, CustomStringConvertible {
    public enum Code: Sendable, Equatable {
        case notFound
        case exists
        case locked
        /// A reference did not have the value it was expected to have (a compare-and-swap lost).
        case modified
        case ambiguous
        case other(Int32)
    }

    public var code: Code
    public var message: String
    public var function: String

    public var description: String { "\(function): \(message)" }
}

/// Only a negative return code is a failure; its message is read at once, on this thread, and cleared.
@discardableResult
func check(_ rc: Int32, _ function: String) throws(GitError) -> Int32 {
    guard rc < 0 else { return rc }
    var message = "libgit2 error \(rc)"
    if let e = git_error_last(), let text = e.pointee.message { message = String(cString: text) }
    git_error_clear()
    let code: GitError.Code
    switch rc {
    case GIT_ENOTFOUND.rawValue: code = .notFound
    case GIT_EEXISTS.rawValue: code = .exists
    case GIT_ELOCKED.rawValue: code = .locked
    case GIT_EMODIFIED.rawValue: code = .modified
    case GIT_EAMBIGUOUS.rawValue: code = .ambiguous
    default: code = .other(rc)
    }
    throw GitError(code: code, message: message, function: function)
}

/// libgit2 is initialised once per process, with fsync on, and never shut down.
let gitLibrary: Int32 = {
    git_libgit2_init()
    return filamentdb_git_enable_fsync()
}()

/// A git object id, as a Swift value.
public struct ObjectID: Hashable, Sendable, CustomStringConvertible {
    public let bytes: [UInt8]

    init(_ oid: git_oid) {
        var oid = oid
        bytes = withUnsafeBytes(of: &oid.id) { Array($0) }
    }

    public init?(hex: String) {
        var oid = git_oid()
        guard git_oid_fromstrn(&oid, hex, hex.utf8.count) == 0, hex.utf8.count == 40 else { return nil }
        self.init(oid)
    }

    var oid: git_oid {
        var oid = git_oid()
        withUnsafeMutableBytes(of: &oid.id) { $0.copyBytes(from: bytes) }
        return oid
    }

    public var hex: String { bytes.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined() }
    public var description: String { hex }
}

/// One entry of a tree.
public struct TreeEntry: Hashable, Sendable {
    public enum Kind: Sendable { case blob, tree }
    public var name: String
    public var id: ObjectID
    public var kind: Kind

    public init(name: String, id: ObjectID, kind: Kind) {
        self.name = name
        self.id = id
        self.kind = kind
    }
}

/// A commit as read back.
public struct CommitInfo: Sendable {
    public var id: ObjectID
    public var tree: ObjectID
    public var parents: [ObjectID]
    public var message: String
    public var authorName: String
    public var authorEmail: String
    /// Seconds since the epoch.
    public var time: Int64
}

/// A repository, owned by one holder at a time: libgit2 handles are not thread-safe, so this class is not
/// `Sendable`; the history layer keeps one per process behind an actor.
public final class GitRepository {
    let handle: OpaquePointer
    public let path: String

    private init(handle: OpaquePointer, path: String) {
        self.handle = handle
        self.path = path
    }

    deinit { git_repository_free(handle) }

    /// Opens the repository at `path`.
    public static func open(_ path: String) throws(GitError) -> GitRepository {
        _ = gitLibrary
        let path = standardized(path)
        var repo: OpaquePointer?
        try check(git_repository_open_ext(&repo, path, GIT_REPOSITORY_OPEN_NO_SEARCH.rawValue, nil), "git_repository_open_ext")
        return GitRepository(handle: repo!, path: path)
    }

    /// Creates a bare repository at `path` (folders included) whose first branch is `initialBranch`: the history
    /// is objects and references only, with no working tree to fall out of step.
    public static func create(_ path: String, initialBranch: String = "main") throws(GitError) -> GitRepository {
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
        try check(rc, "git_repository_init_ext")
        return GitRepository(handle: repo!, path: path)
    }

    /// `a//b/./c` as `a/b/c`: libgit2's recursive mkdir stops at a doubled slash.
    static func standardized(_ path: String) -> String { URL(fileURLWithPath: path).standardizedFileURL.path }

    // MARK: objects

    public func writeBlob(_ bytes: [UInt8]) throws(GitError) -> ObjectID {
        var oid = git_oid()
        let rc = bytes.withUnsafeBytes { git_blob_create_from_buffer(&oid, handle, $0.baseAddress, $0.count) }
        try check(rc, "git_blob_create_from_buffer")
        return ObjectID(oid)
    }

    /// The id `bytes` would have as a blob, without writing anything.
    public func hashBlob(_ bytes: [UInt8]) throws(GitError) -> ObjectID {
        var oid = git_oid()
        let rc = bytes.withUnsafeBytes { git_odb_hash(&oid, $0.baseAddress, $0.count, GIT_OBJECT_BLOB) }
        try check(rc, "git_odb_hash")
        return ObjectID(oid)
    }

    public func readBlob(_ id: ObjectID) throws(GitError) -> [UInt8] {
        var blob: OpaquePointer?
        var oid = id.oid
        try check(git_blob_lookup(&blob, handle, &oid), "git_blob_lookup")
        defer { git_blob_free(blob) }
        let size = Int(git_blob_rawsize(blob))
        guard size > 0, let raw = git_blob_rawcontent(blob) else { return [] }
        return Array(UnsafeRawBufferPointer(start: raw, count: size))
    }

    public func readTree(_ id: ObjectID) throws(GitError) -> [TreeEntry] {
        var tree: OpaquePointer?
        var oid = id.oid
        try check(git_tree_lookup(&tree, handle, &oid), "git_tree_lookup")
        defer { git_tree_free(tree) }
        var out: [TreeEntry] = []
        for i in 0..<git_tree_entrycount(tree) {
            guard let entry = git_tree_entry_byindex(tree, i), let id = git_tree_entry_id(entry) else { continue }
            let kind: TreeEntry.Kind = git_tree_entry_type(entry) == GIT_OBJECT_TREE ? .tree : .blob
            out.append(TreeEntry(name: String(cString: git_tree_entry_name(entry)), id: ObjectID(id.pointee), kind: kind))
        }
        return out
    }

    /// Writes a tree of `entries` (names unique; libgit2 sorts them).
    public func writeTree(_ entries: [TreeEntry]) throws(GitError) -> ObjectID {
        var builder: OpaquePointer?
        try check(git_treebuilder_new(&builder, handle, nil), "git_treebuilder_new")
        defer { git_treebuilder_free(builder) }
        for e in entries {
            var oid = e.id.oid
            let mode = e.kind == .tree ? GIT_FILEMODE_TREE : GIT_FILEMODE_BLOB
            try check(git_treebuilder_insert(nil, builder, e.name, &oid, mode), "git_treebuilder_insert")
        }
        var out = git_oid()
        try check(git_treebuilder_write(&out, builder), "git_treebuilder_write")
        return ObjectID(out)
    }

    /// Writes a commit object (no reference moves: see ``updateReference(_:to:expecting:message:)``).
    public func writeCommit(tree: ObjectID, parents: [ObjectID], authorName: String, authorEmail: String,
                            time: Int64, message: String) throws(GitError) -> ObjectID {
        var signature: UnsafeMutablePointer<git_signature>?
        try check(git_signature_new(&signature, authorName, authorEmail, git_time_t(time), 0), "git_signature_new")
        defer { git_signature_free(signature) }
        var treeObject: OpaquePointer?
        var treeOID = tree.oid
        try check(git_tree_lookup(&treeObject, handle, &treeOID), "git_tree_lookup")
        defer { git_tree_free(treeObject) }
        var parentObjects: [OpaquePointer?] = []
        defer { for p in parentObjects { git_commit_free(p) } }
        for p in parents {
            var commit: OpaquePointer?
            var oid = p.oid
            try check(git_commit_lookup(&commit, handle, &oid), "git_commit_lookup")
            parentObjects.append(commit)
        }
        var out = git_oid()
        let rc = parentObjects.withUnsafeMutableBufferPointer { buffer in
            git_commit_create(&out, handle, nil, signature, signature, nil, message, treeObject, parents.count, buffer.baseAddress)
        }
        try check(rc, "git_commit_create")
        return ObjectID(out)
    }

    public func readCommit(_ id: ObjectID) throws(GitError) -> CommitInfo {
        var commit: OpaquePointer?
        var oid = id.oid
        try check(git_commit_lookup(&commit, handle, &oid), "git_commit_lookup")
        defer { git_commit_free(commit) }
        var parents: [ObjectID] = []
        for i in 0..<git_commit_parentcount(commit) {
            if let p = git_commit_parent_id(commit, i) { parents.append(ObjectID(p.pointee)) }
        }
        let author = git_commit_author(commit)!.pointee
        return CommitInfo(id: id, tree: ObjectID(git_commit_tree_id(commit)!.pointee), parents: parents,
                          message: git_commit_message(commit).map { String(cString: $0) } ?? "",
                          authorName: author.name.map { String(cString: $0) } ?? "",
                          authorEmail: author.email.map { String(cString: $0) } ?? "",
                          time: Int64(git_commit_time(commit)))
    }

    // MARK: references

    /// The commit a reference (`refs/heads/main`) points to, or `nil` if it does not exist yet.
    public func reference(_ name: String) throws(GitError) -> ObjectID? {
        var oid = git_oid()
        let rc = git_reference_name_to_id(&oid, handle, name)
        if rc == GIT_ENOTFOUND.rawValue {
            git_error_clear()
            return nil
        }
        try check(rc, "git_reference_name_to_id")
        return ObjectID(oid)
    }

    /// Moves `name` to `id` only if it still points to `expected` (`nil`: only if it does not exist yet).
    /// Losing the race throws ``GitError/Code/modified`` (or ``GitError/Code/exists``): the caller re-reads
    /// and retries, so two writers never lose a commit.
    public func updateReference(_ name: String, to id: ObjectID, expecting expected: ObjectID?, message: String) throws(GitError) {
        var reference: OpaquePointer?
        var oid = id.oid
        if let expected {
            var current = expected.oid
            try check(git_reference_create_matching(&reference, handle, name, &oid, 1, &current, message), "git_reference_create_matching")
        } else {
            try check(git_reference_create(&reference, handle, name, &oid, 0, message), "git_reference_create")
        }
        git_reference_free(reference)
    }

    /// The best common ancestor of two commits, `nil` when they share none.
    public func mergeBase(_ a: ObjectID, _ b: ObjectID) throws(GitError) -> ObjectID? {
        var out = git_oid()
        var one = a.oid, two = b.oid
        let rc = git_merge_base(&out, handle, &one, &two)
        if rc == GIT_ENOTFOUND.rawValue {
            git_error_clear()
            return nil
        }
        try check(rc, "git_merge_base")
        return ObjectID(out)
    }

    /// The commit a revision (`main`, `HEAD~2`, an id) names.
    public func resolve(_ revision: String) throws(GitError) -> ObjectID {
        var object: OpaquePointer?
        try check(git_revparse_single(&object, handle, revision), "git_revparse_single")
        defer { git_object_free(object) }
        var peeled: OpaquePointer?
        try check(git_object_peel(&peeled, object, GIT_OBJECT_COMMIT), "git_object_peel")
        defer { git_object_free(peeled) }
        return ObjectID(git_object_id(peeled)!.pointee)
    }
}
