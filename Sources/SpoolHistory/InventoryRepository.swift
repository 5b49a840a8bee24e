import Foundation
import SpoolModel

/// The inventory's history: a git repository with one canonical JSON file per spool under `spools/`
/// (``SpoolPaths``), one commit per import, edit or sync, each device on its own branch.
///
/// A commit rewrites only the trees on the paths of the spools that changed; every other subtree is reused by
/// id, so its cost follows the size of the change, not of the inventory. Branches move by compare-and-swap:
/// objects are written first and the reference last, so a crash leaves the branch at the old commit or the
/// new one, and two writers never lose each other's commit.
public final class InventoryRepository {
    public let git: GitRepository

    public init(_ git: GitRepository) { self.git = git }

    /// Opens the repository in `folder`, creating it (and the folder) on first use. A folder that exists, is
    /// not empty and is not a repository is refused: filamentdb does not put its history among other files.
    public static func openOrCreate(_ folder: String) throws(GitError) -> (repository: InventoryRepository, created: Bool) {
        do {
            let repository = InventoryRepository(try GitRepository.open(folder))
            try repository.verifyLayout()
            return (repository, false)
        } catch where error.code == .notFound && error.function == "git_repository_open_ext" {
            if let contents = try? FileManager.default.contentsOfDirectory(atPath: folder), !contents.isEmpty {
                throw GitError(code: .notFound, message: "\(folder) is not empty and is not a filamentdb history repository; choose an empty or new folder",
                               function: "InventoryRepository.openOrCreate")
            }
            // Made beside its place and renamed into it, so a process stopped halfway leaves no half a repository.
            let parent = URL(fileURLWithPath: folder).deletingLastPathComponent().path
            try? FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
            let temporary = folder + ".creating-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            _ = try GitRepository.create(temporary)
            if rename(temporary, folder) != 0 {
                try? FileManager.default.removeItem(atPath: temporary)
                // Another process made it first: use theirs.
                if let existing = try? GitRepository.open(folder) { return (InventoryRepository(existing), false) }
                throw GitError(code: .exists, message: "cannot move the new history into \(folder): \(String(cString: strerror(errno)))", function: "rename")
            }
            return (InventoryRepository(try GitRepository.open(folder)), true)
        }
    }

    public static func branchReference(_ branch: String) -> String { "refs/heads/" + branch }

    /// What may stand at the root of our trees.
    public static let rootEntries: Set<String> = [SpoolPaths.root, "conflicts"]

    /// Refuses a git repository that is not filamentdb's (other files at the root of `main`).
    func verifyLayout() throws(GitError) {
        guard let head = try head() else { return }
        let foreign = try git.readTree(try git.readCommit(head).tree).map(\.name).filter { !Self.rootEntries.contains($0) }
        if !foreign.isEmpty {
            throw GitError(code: .other(-1), message: "\(git.path) is a git repository that is not filamentdb's history (its main branch holds \(foreign.prefix(3).joined(separator: ", ")))",
                           function: "InventoryRepository.openOrCreate")
        }
    }

    /// The head commit of `branch`, `nil` before its first commit.
    public func head(_ branch: String = "main") throws(GitError) -> ObjectID? {
        try git.reference(Self.branchReference(branch))
    }

    /// Every spool file at `commit` (`nil`: the empty inventory), by serial.
    public func files(at commit: ObjectID?) throws(GitError) -> [String: ObjectID] {
        guard let commit else { return [:] }
        let root = try git.readCommit(commit).tree
        var out: [String: ObjectID] = [:]
        try collect(tree: root, prefix: "", into: &out)
        return out
    }

    private func collect(tree: ObjectID, prefix: String, into out: inout [String: ObjectID]) throws(GitError) {
        for entry in try git.readTree(tree) {
            let path = prefix.isEmpty ? entry.name : prefix + "/" + entry.name
            switch entry.kind {
            case .tree: try collect(tree: entry.id, prefix: path, into: &out)
            case .blob: if let serial = SpoolPaths.serial(atPath: path) { out[serial] = entry.id }
            }
        }
    }

    /// Commits from `start` back to the first, newest first (each commit once, parents in order).
    public func log(from start: ObjectID?, limit: Int = .max) throws(GitError) -> [CommitInfo] {
        guard let start else { return [] }
        var out: [CommitInfo] = []
        var seen: Set<ObjectID> = [start]
        // The commits waiting to be listed, each read once; the newest is listed next.
        var waiting = [try git.readCommit(start)]
        while !waiting.isEmpty, out.count < limit {
            waiting.sort { $0.time != $1.time ? $0.time > $1.time : $0.id.hex < $1.id.hex }
            let next = waiting.removeFirst()
            out.append(next)
            for p in next.parents where seen.insert(p).inserted { waiting.append(try git.readCommit(p)) }
        }
        return out
    }

    /// One spool at `commit`, read by its path alone.
    public func spool(_ serial: String, at commit: ObjectID?) throws(GitError) -> Spool? {
        try spool(serial, inTree: tree(of: commit))
    }

    /// One spool in a root tree (callers reading many spools of one commit resolve its tree once).
    public func spool(_ serial: String, inTree tree: ObjectID?) throws(GitError) -> Spool? {
        guard let tree else { return nil }
        let components = SpoolPaths.path(for: serial).split(separator: "/").map(String.init)
        guard let blob = try objectID(at: components, in: tree) else { return nil }
        return Spool(canonicalJSON: try git.readBlob(blob))
    }

    /// The root tree of `commit` (`nil` for no commit).
    public func tree(of commit: ObjectID?) throws(GitError) -> ObjectID? {
        guard let commit else { return nil }
        return try git.readCommit(commit).tree
    }

    /// Who and when, for a commit.
    public struct Signature: Sendable {
        public var name: String
        public var email: String
        /// Seconds since the epoch.
        public var time: Int64

        public init(name: String, email: String, time: Int64) {
            self.name = name
            self.email = email
            self.time = time
        }
    }

    /// Commits `changes` (a spool to write, or `nil` to remove the serial's file) onto `branch`. Returns the
    /// new commit, or `nil` when nothing would change (no empty commits). If another writer moves the branch
    /// meanwhile, the change is applied again on top of its commit.
    public func commit(branch: String = "main", changes: [String: Spool?], author: Signature, message: String) throws(GitError) -> ObjectID? {
        var blobs: [(components: ArraySlice<String>, blob: ObjectID?)] = []
        for (serial, spool) in changes {
            let components = SpoolPaths.path(for: serial).split(separator: "/").map(String.init)
            if let spool {
                blobs.append((components[...], try git.writeBlob(spool.canonicalJSON)))
            } else {
                blobs.append((components[...], nil))
            }
        }
        let reference = Self.branchReference(branch)
        var lastError: GitError?
        for attempt in 0..<16 {
            if attempt > 0 { Self.backOff(attempt) }
            let parent = try git.reference(reference)
            let parentTree = try parent.map { (p) throws(GitError) in try git.readCommit(p).tree }
            let tree: ObjectID
            if let updated = try updateTree(parentTree, blobs) { tree = updated } else { tree = try git.writeTree([]) }
            if tree == parentTree { return nil }
            let commit = try git.writeCommit(tree: tree, parents: parent.map { [$0] } ?? [], authorName: author.name,
                                             authorEmail: author.email, time: author.time, message: message)
            do {
                try git.updateReference(reference, to: commit, expecting: parent, message: "filamentdb: " + (message.split(separator: "\n").first.map(String.init) ?? ""))
                return commit
            } catch where error.code == .modified || error.code == .exists || error.code == .locked {
                lastError = error
                if error.code == .locked { clearStaleLock(reference) }
                continue
            }
        }
        throw Self.gaveUp(reference, lastError, in: git.path)
    }

    /// How old a reference's lock file must be to belong to a writer that died: a live one holds it for the
    /// milliseconds it takes to write and rename one small file.
    public static let staleLockAge: TimeInterval = 2

    /// Removes `reference`'s lock file if it is older than ``staleLockAge`` (left by a writer that was stopped
    /// while moving the reference). Returns whether it did.
    @discardableResult
    func clearStaleLock(_ reference: String) -> Bool {
        let lock = git.path + "/" + reference + ".lock"
        guard let modified = (try? FileManager.default.attributesOfItem(atPath: lock))?[.modificationDate] as? Date,
              Date().timeIntervalSince(modified) > Self.staleLockAge else { return false }
        return (try? FileManager.default.removeItem(atPath: lock)) != nil
    }

    /// Waits a little longer after each lost race, so concurrent writers take turns.
    static func backOff(_ attempt: Int) {
        usleep(UInt32(min(attempt * attempt, 64)) * 1_000 + UInt32.random(in: 0...2_000))
    }

    /// The error after the last attempt: a lock that never went away is named, with what to do about it.
    static func gaveUp(_ reference: String, _ last: GitError?, in path: String) -> GitError {
        if last?.code == .locked {
            return GitError(code: .locked, message: "\(reference) stays locked: \(path)/\(reference).lock exists. Another filamentdb is writing, or one was stopped while writing (a lock older than \(Int(staleLockAge)) s is removed by the next writer); if none is running, remove that file",
                            function: last?.function ?? "git_reference_create_matching")
        }
        return GitError(code: .modified, message: "\(reference) kept moving: 16 attempts lost the race to other writers", function: last?.function ?? "InventoryRepository")
    }

    /// The tree `tree` with `changes` applied, rewriting only the subtrees on their paths; `nil` if empty.
    func updateTree(_ tree: ObjectID?, _ changes: [(components: ArraySlice<String>, blob: ObjectID?)]) throws(GitError) -> ObjectID? {
        var entries: [String: TreeEntry] = [:]
        if let tree { for e in try git.readTree(tree) { entries[e.name] = e } }
        var byChild: [String: [(components: ArraySlice<String>, blob: ObjectID?)]] = [:]
        for change in changes {
            let name = change.components.first!
            if change.components.count == 1 {
                if let blob = change.blob { entries[name] = TreeEntry(name: name, id: blob, kind: .blob) } else { entries[name] = nil }
            } else {
                byChild[name, default: []].append((change.components.dropFirst(), change.blob))
            }
        }
        for (name, childChanges) in byChild {
            let existing = entries[name].flatMap { $0.kind == .tree ? $0.id : nil }
            if let child = try updateTree(existing, childChanges) {
                entries[name] = TreeEntry(name: name, id: child, kind: .tree)
            } else {
                entries[name] = nil
            }
        }
        if entries.isEmpty { return nil }
        return try git.writeTree(Array(entries.values))
    }
}
