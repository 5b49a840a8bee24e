import SpoolModel

/// A conflict as kept in the history (`conflicts/<id>.json`).
public struct ConflictRecord: Sendable {
    public var id: String
    public var serial: String
    public var field: String
    /// Milliseconds since the epoch, when the merge decided it.
    public var time: Int64
    public var base: JSONValue?
    public var ours: JSONValue?
    public var theirs: JSONValue?
    public var oursBranch: String
    public var theirsBranch: String
    public var winner: MergeSide
    public var reason: String
    /// The raw record.
    public var json: JSONValue

    init?(_ value: JSONValue) {
        guard case .object(let document) = value, let o = try? Typeson.decodeDocument(document) else { return nil }
        guard let id = o["id"]?.stringValue, let serial = o["serial"]?.stringValue, let field = o["field"]?.stringValue,
              let winner = o["winner"]?.stringValue.flatMap(MergeSide.init(rawValue:)) else { return nil }
        self.id = id
        self.serial = serial
        self.field = field
        self.time = o["time"]?.numberValue.map { Int64($0) } ?? 0
        base = o["base"]
        ours = o["ours"]?.objectValue?["value"]
        theirs = o["theirs"]?.objectValue?["value"]
        oursBranch = o["ours"]?.objectValue?["branch"]?.stringValue ?? "main"
        theirsBranch = o["theirs"]?.objectValue?["branch"]?.stringValue ?? "?"
        self.winner = winner
        reason = o["reason"]?.stringValue ?? ""
        json = value
    }

    /// The value the decision did not keep.
    public var other: JSONValue? { winner == .ours ? theirs : ours }
}

extension InventoryRepository {
    /// Every conflict recorded on `branch`, oldest first.
    public func conflicts(branch: String = "main") throws(GitError) -> [ConflictRecord] {
        guard let head = try head(branch) else { return [] }
        let root = try git.readTree(try git.readCommit(head).tree)
        guard let folder = root.first(where: { $0.name == "conflicts" && $0.kind == .tree }) else { return [] }
        var out: [ConflictRecord] = []
        for entry in try git.readTree(folder.id) where entry.kind == .blob {
            if let parsed = try? JSONParser.parse(try git.readBlob(entry.id)), let record = ConflictRecord(parsed) { out.append(record) }
        }
        return out.sorted { $0.time != $1.time ? $0.time < $1.time : $0.id < $1.id }
    }

    /// What `conflicts resolve` may take instead of the decision.
    public enum Resolution: Sendable {
        /// The value the decision did not keep.
        case other
        /// The value before either side changed it.
        case base
        /// A value of the user's.
        case value(JSONValue?)
    }

    /// Writes a new commit on `branch` setting the conflict's field to `resolution` (a deletion conflict:
    /// `deleted`), with `lastUpdated` set to the signature's time so the decision travels to every device.
    public func resolve(conflict id: String, with resolution: Resolution, branch: String = "main", author: Signature) throws(GitError) -> ObjectID? {
        guard let record = try conflicts(branch: branch).first(where: { $0.id == id || $0.id.hasPrefix(id) && id.count >= 6 }) else {
            throw GitError(code: .notFound, message: "no conflict \(id) on \(branch)", function: "InventoryRepository.resolve")
        }
        let value: JSONValue?
        switch resolution {
        case .other: value = record.other
        case .base: value = record.base
        case .value(let v): value = v
        }
        guard var spool = try spool(record.serial, at: try head(branch)) else {
            throw GitError(code: .notFound, message: "spool \(JSONValue.string(record.serial).jsonText) is not on \(branch)", function: "InventoryRepository.resolve")
        }
        spool[record.field] = value
        spool["lastUpdated"] = .int(max(author.time * 1000, (spool.lastUpdated ?? 0) + 1))
        let message = "resolve conflict \(record.id): \(JSONValue.string(record.serial).jsonText) \(record.field) = \(value?.jsonText ?? "(absent)")\n\nFilamentdb-Conflict: \(record.id)\n"
        return try commit(branch: branch, changes: [record.serial: spool], author: author, message: message)
    }

    /// A problem `verify` found.
    public struct Problem: Sendable, CustomStringConvertible {
        public var path: String
        public var message: String
        public var description: String { "\(path): \(message)" }
    }

    /// Checks `branch` without changing anything: every object on it can be read, every spool file parses and
    /// sits at the path of its serial, and nothing foreign stands at the root.
    public func verify(branch: String = "main") throws(GitError) -> (spools: Int, problems: [Problem]) {
        guard let head = try head(branch) else { return (0, []) }
        var problems: [Problem] = []
        var spools = 0
        func walk(_ tree: ObjectID, _ prefix: String) {
            let entries: [TreeEntry]
            do { entries = try git.readTree(tree) } catch {
                problems.append(Problem(path: prefix.isEmpty ? "/" : prefix, message: "cannot read the tree: \(error.message)"))
                return
            }
            for e in entries {
                let path = prefix.isEmpty ? e.name : prefix + "/" + e.name
                if prefix.isEmpty, !Self.rootEntries.contains(e.name) {
                    problems.append(Problem(path: path, message: "not part of a filamentdb history"))
                    continue
                }
                if e.kind == .tree { walk(e.id, path); continue }
                let bytes: [UInt8]
                do { bytes = try git.readBlob(e.id) } catch {
                    problems.append(Problem(path: path, message: "cannot read the file: \(error.message)"))
                    continue
                }
                if path.hasPrefix("conflicts/") {
                    if (try? JSONParser.parse(bytes)).flatMap(ConflictRecord.init) == nil { problems.append(Problem(path: path, message: "not a conflict record")) }
                    continue
                }
                guard let serial = SpoolPaths.serial(atPath: path) else {
                    problems.append(Problem(path: path, message: "not the path of any serial"))
                    continue
                }
                guard let spool = Spool(canonicalJSON: bytes) else {
                    problems.append(Problem(path: path, message: "does not parse as a spool"))
                    continue
                }
                spools += 1
                if Array(spool.serial.utf8) != Array(serial.utf8) {
                    problems.append(Problem(path: path, message: "holds serial \(JSONValue.string(spool.serial).jsonText), but the path is that of \(JSONValue.string(serial).jsonText)"))
                } else if spool.canonicalJSON != bytes {
                    problems.append(Problem(path: path, message: "is not in canonical form"))
                }
            }
        }
        walk(try git.readCommit(head).tree, "")
        return (spools, problems)
    }
}
