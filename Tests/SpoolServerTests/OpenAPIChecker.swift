import Foundation
import SpoolModel
import SpoolTestSupport

/// Runs `check_openapi.py` (beside this file) over answers the server gave: Python's `jsonschema` is the reference
/// validator of JSON Schema 2020-12, which OpenAPI 3.1 uses.
enum OpenAPIChecker {
    struct Answer: Sendable {
        var method: String
        var path: String
        var status: Int
        /// `nil` for an answer without a body (204).
        var body: JSONValue?
    }

    static let document = Fixtures.repositoryRoot.appendingPathComponent("Sources/SpoolServer/openapi.json").path
    static let script = Fixtures.repositoryRoot.appendingPathComponent("Tests/SpoolServerTests/check_openapi.py").path

    /// Whether python3 with jsonschema is here (CI installs it: `pip install jsonschema`).
    static let available: Bool = (try? run(["-c", "import jsonschema, referencing"]).status) == 0
    static let unavailable = "python3 with the jsonschema package is not installed (pip install jsonschema): the answers cannot be checked against openapi.json"

    /// The checker's exit status and report.
    static func check(_ answers: [Answer]) throws -> (status: Int32, report: String) {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("answers-\(UUID().uuidString).jsonl").path
        defer { try? FileManager.default.removeItem(atPath: file) }
        let lines = answers.map { a in
            JSONValue.object(["method": .string(a.method), "path": .string(a.path), "status": .int(Int64(a.status)), "body": a.body ?? .null]).jsonText
        }
        try (lines.joined(separator: "\n") + "\n").write(toFile: file, atomically: false, encoding: .utf8)
        return try run([script, document, file])
    }

    private static func run(_ arguments: [String]) throws -> (status: Int32, report: String) {
        let (status, output) = try Command.run("/usr/bin/env", ["python3"] + arguments)
        return (status, output)
    }
}
