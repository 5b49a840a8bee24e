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

    /// `../shared/samples`: beside the repository in CI and in the project's workspace, absent from a lone clone.
    public static let sharedSamples = repositoryRoot.deletingLastPathComponent().appendingPathComponent("shared/samples")

    /// A file of `../shared/samples`.
    public static func sharedSample(_ name: String) -> String {
        sharedSamples.appendingPathComponent(name).path
    }

    /// Whether `../shared/samples` is there. The tests that read it are skipped, saying why, where it is not
    /// (`.enabled(if: Fixtures.hasSharedSamples, Comment(rawValue: Fixtures.noSharedSamples))`).
    public static let hasSharedSamples = FileManager.default.fileExists(atPath: sharedSamples.path)

    /// Why such a test was skipped.
    public static let noSharedSamples = "../shared/samples (real Dexie exports of other apps) is not beside this repository"

    /// A new empty folder under the system's temporary folder, inside one folder per test process that is
    /// removed when the process exits (a run of the suite made about a thousand, and left them all behind).
    public static func temporaryDirectory() -> String {
        let dir = temporaryRoot + "/" + UUID().uuidString
        try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    /// This process's folder of test folders.
    static let temporaryRoot: String = {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("filamentdb-tests-\(getpid())-\(UUID().uuidString.prefix(8))").path
        try! FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        atexit { try? FileManager.default.removeItem(atPath: Fixtures.temporaryRoot) }
        return root
    }()
}
