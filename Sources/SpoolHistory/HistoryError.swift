import SpoolModel
/// What went wrong in the history, as a code a caller can switch on (the CLI maps each code to one exit status,
/// a server to one HTTP status), with what and where for a person. libgit2's own report is kept in ``git`` when
/// libgit2 was the one to fail.
public struct HistoryError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable, CaseIterable {
        /// The folder holds no history yet (a read-only command does not create one).
        case noHistory
        case noSuchBranch
        case noSuchRevision
        case noSuchSpool
        case noSuchConflict
        /// A prefix or name that stands for more than one thing; ``HistoryError/candidates`` lists them.
        case ambiguous
        /// A git repository that is not filamentdb's history.
        case foreignRepository
        /// A folder that is neither empty nor a history.
        case folderNotEmpty
        /// Other writers kept moving the branch, or a lock that is not stale stayed.
        case contention
        /// A device name or other name that cannot be used.
        case invalidName
        /// An object the history refers to is missing or cannot be read.
        case damagedObject
        /// The file system refused (permissions, space, a file where a folder should be).
        case io
        /// Anything else libgit2 reported.
        case git
    }

    public var code: Code
    /// What happened, in the library's terms.
    public var message: String
    /// Where: the repository or file concerned.
    public var path: String?
    /// For ``Code/ambiguous``: what the name could stand for.
    public var candidates: [String]
    /// libgit2's report, when libgit2 failed.
    public var git: GitError?
    /// A lost compare-and-swap: trying again on the new branch head may succeed.
    package var retryable = false

    public init(_ code: Code, _ message: String, path: String? = nil, candidates: [String] = [], git: GitError? = nil) {
        self.code = code
        self.message = message
        self.path = path
        self.candidates = candidates
        self.git = git
    }

    public var description: String {
        var text = path.map { "\($0): " } ?? ""
        text += message
        if !candidates.isEmpty { text += " (it could be: \(candidates.joined(separator: ", ")))" }
        if let git, code == .git || code == .io || code == .damagedObject { text += " [\(git.function)]" }
        return text
    }
}

/// A libgit2 failure as libgit2 reported it: its class and code, its message and the C function that failed.
public struct GitError: Error, Sendable, CustomStringConvertible {
    public var code: Int32
    public var errorClass: Int32
    public var message: String
    public var function: String

    public var description: String { "\(function): \(message)" }
}

extension HistoryError {
    /// `place` (`spools`, or a shard folder under it) is a file or a submodule where spools live: damage, not an
    /// empty place (the spools it held would be left out without a word).
    static func notAFolder(_ place: String, path: String) -> HistoryError {
        HistoryError(.damagedObject, "\(place): not a folder, where spools live", path: path)
    }

    /// Folders nested under `place` deeper than any spool's path (``SpoolPaths/deepestFolder``): damage.
    static func tooDeep(_ place: String, path: String) -> HistoryError {
        HistoryError(.damagedObject, "\(place)/...: folders nested deeper than any spool's path (\(SpoolPaths.deepestFolder))", path: path)
    }
}
