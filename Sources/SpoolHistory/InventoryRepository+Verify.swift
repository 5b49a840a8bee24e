import SpoolModel

/// A problem ``InventoryStore/verify()`` found.
public struct Problem: Sendable, CustomStringConvertible {
    public var path: String
    public var message: String
    public var description: String { "\(path): \(message)" }
}

extension InventoryRepository {
    /// Checks main without changing anything: every object on it can be read, every name in a folder is one git
    /// allows, once, in git's order, every spool file parses and sits at the path of its serial, and nothing
    /// foreign stands at the root.
    package func verify() throws(HistoryError) -> (spools: Int, problems: [Problem]) {
        guard let head = try head() else { return (0, []) }
        var problems: [Problem] = []
        var spools = 0
        func walk(_ tree: ObjectID, _ prefix: String, depth: Int = 0) {
            // (The root is depth 0, `spools` 1: a history made by hand could nest folders thousands deep.)
            if SpoolPaths.deeperThanAnySpool(depth - 1) {
                problems.append(Problem(path: prefix, message: "folders nested deeper than any spool's path"))
                return
            }
            let entries: [TreeEntry]
            do { entries = try git.readTree(tree) } catch {
                problems.append(Problem(path: prefix.isEmpty ? "/" : prefix, message: "cannot read the tree: \(error.message)"))
                return
            }
            var names = Set<String>()
            for (n, e) in entries.enumerated() {
                let path = prefix.isEmpty ? e.name : prefix + "/" + e.name
                // Names git's own checks (fsck) refuse: read as a path, `a/b` in one folder is the file `b` of a
                // folder `a` that is not there, and a name held twice is two files at one path.
                if e.name.isEmpty || e.name == "." || e.name == ".." || e.name.utf8.contains(where: { $0 == 0x2F || $0 == 0 }) {
                    problems.append(Problem(path: (prefix.isEmpty ? "" : prefix + "/") + printableText(JSONValue.string(e.name).jsonText),
                                            message: "a name git does not allow in a folder"))
                    continue
                }
                guard names.insert(e.name).inserted else {
                    problems.append(Problem(path: path, message: "named twice in its folder"))
                    continue
                }
                if n > 0, !GitRepository.gitOrdered(entries[n - 1], e) {
                    problems.append(Problem(path: path, message: "out of git's order in its folder"))
                }
                if prefix.isEmpty, !Self.rootEntries.contains(e.name) {
                    problems.append(Problem(path: path, message: "not part of a filamentdb history"))
                    continue
                }
                if e.kind == .tree { walk(e.id, path, depth: depth + 1); continue }
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
