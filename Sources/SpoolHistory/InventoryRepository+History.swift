import SpoolModel

/// Which commits `log` lists.
public struct LogQuery: Sendable {
    /// Only commits that changed this spool (main's first-parent line).
    public var spool: String?
    /// Only commits made by this device.
    public var device: String?
    /// Only commits at or after this time (milliseconds since the epoch).
    public var since: Int64?
    /// Only commits at or before this time.
    public var until: Int64?
    /// At most this many.
    public var limit: Int?
    /// The device whose branch to read instead of main.
    public var branchOfDevice: String?
    /// Only commits that changed this field of some spool.
    public var field: String?

    public init(spool: String? = nil, device: String? = nil, since: Int64? = nil, until: Int64? = nil, limit: Int? = nil,
                branchOfDevice: String? = nil, field: String? = nil) {
        self.field = field
        self.spool = spool
        self.device = device
        self.since = since
        self.until = until
        self.limit = limit
        self.branchOfDevice = branchOfDevice
    }

    public func admits(_ commit: CommitInfo) -> Bool {
        if let device, Array(commit.device.utf8) != Array(device.utf8) { return false }
        if let since, commit.time * 1000 < since { return false }
        if let until, commit.time * 1000 > until { return false }
        return true
    }
}

extension InventoryRepository {
    /// Commits from `start` back to the first, newest first (each commit once, parents in order), as `query`
    /// admits them.
    package func log(from start: ObjectID?, query: LogQuery = LogQuery()) throws(HistoryError) -> [CommitInfo] {
        guard let start else { return [] }
        let limit = query.limit ?? .max
        var out: [CommitInfo] = []
        var seen: Set<ObjectID> = [start]
        // The commits waiting to be listed, each read once; the newest is listed next.
        var waiting = [try git.readCommit(start)]
        while !waiting.isEmpty, out.count < limit {
            waiting.sort { $0.time != $1.time ? $0.time > $1.time : $0.id.hex < $1.id.hex }
            let next = waiting.removeFirst()
            // The newest commit left is older than `since`: so is everything behind it.
            if let since = query.since, next.time * 1000 < since { break }
            if query.admits(next) { out.append(next) }
            for p in next.parents where seen.insert(p).inserted { waiting.append(try git.readCommit(p)) }
        }
        return out
    }

    /// The commits of the first-parent line from `start` that changed `serial`'s file, newest first. Each
    /// commit is compared with its parent from the root down the spool's path, stopping at the first subtree
    /// both share, so most commits cost a few small tree lookups.
    package func history(of serial: String, from start: ObjectID?, query: LogQuery = LogQuery()) throws(HistoryError) -> [CommitInfo] {
        let components = SpoolPaths.path(for: serial).split(separator: "/").map(String.init)
        let limit = query.limit ?? .max
        var out: [CommitInfo] = []
        var next = start
        while let id = next, out.count < limit {
            let commit = try git.readCommit(id)
            next = commit.parents.first
            if let since = query.since, commit.time * 1000 < since { break }
            let parentTree = try next.map { (p) throws(HistoryError) in try git.readCommit(p).tree }
            if try pathChanged(components[...], commit.tree, parentTree), query.admits(commit) { out.append(commit) }
        }
        return out
    }

    func pathChanged(_ components: ArraySlice<String>, _ a: ObjectID?, _ b: ObjectID?) throws(HistoryError) -> Bool {
        if a == b { return false }
        guard let name = components.first else { return true }
        let childA = try a.flatMap { (t) throws(HistoryError) in try git.entry(name, in: t)?.id }
        let childB = try b.flatMap { (t) throws(HistoryError) in try git.entry(name, in: t)?.id }
        return try pathChanged(components.dropFirst(), childA, childB)
    }

    /// The commit a revision names: a date (ISO 8601) names the newest commit of main made at or before it;
    /// `main`, a commit id, `main~2` name what git's revision syntax names; a device's name names its branch.
    package func commit(named text: String) throws(HistoryError) -> ObjectID {
        if let ms = HistoryDates.parse(text) {
            let query = LogQuery(until: ms, limit: 1)
            guard let commit = try log(from: try head(), query: query).first else {
                throw HistoryError(.noSuchRevision, "no commit on main at or before \(text)", path: path)
            }
            return commit.id
        }
        do {
            return try git.revision(text)
        } catch where error.git != nil && [.noSuchRevision, .damagedObject, .git, .ambiguous].contains(error.code) {
            if let reference = try? deviceReference(text), let head = try head(reference) { return head }
            if error.code == .ambiguous { throw HistoryError(.ambiguous, "\(text) is the start of several object ids", path: path) }
            throw HistoryError(.noSuchRevision, "no revision, date or device \(JSONValue.string(text).jsonText)", path: path, git: error.git)
        }
    }
}
