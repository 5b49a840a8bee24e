import Foundation

/// Paths of the test inputs: `fixtures/` in this repository and the real Dexie exports in `../shared/samples`.
public enum Fixtures {
    public static let repositoryRoot: URL = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url
    }()

    public static func path(_ relative: String) -> String {
        repositoryRoot.appendingPathComponent("fixtures").appendingPathComponent(relative).path
    }

    public static func bytes(_ relative: String) -> [UInt8] {
        [UInt8](FileManager.default.contents(atPath: path(relative)) ?? Data())
    }

    /// A file of `../shared/samples` (beside the repository, in CI as here).
    public static func sharedSample(_ name: String) -> String {
        repositoryRoot.deletingLastPathComponent().appendingPathComponent("shared/samples").appendingPathComponent(name).path
    }

    /// A new empty folder under the system's temporary folder.
    public static func temporaryDirectory() -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("filamentdb-test-\(UUID().uuidString)").path
        try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }
}
