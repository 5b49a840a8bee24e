import Foundation

/// The committed OpenAPI 3.1 document of this API (`Sources/SpoolServer/openapi.json`), served at `/openapi.json`.
enum OpenAPIDocument {
    /// The resource bundle's name, beside the executable (as SwiftPM lays out a build).
    static let bundleName = "filamentdb_SpoolServer.resources"

    /// The document's bytes, or `nil` when the binary was copied away from its resources.
    ///
    /// Looked up as SwiftPM's `Bundle.module` would, but without its `fatalError`: a server whose document is
    /// missing still serves the API, and answers `/openapi.json` with 404 saying what to copy.
    static func load() -> [UInt8]? {
        let candidates = [
            // The executable's folder.
            Bundle.main.bundleURL.appendingPathComponent(bundleName).appendingPathComponent("openapi.json"),
            // A build of this checkout (tests, `swift run`): the source itself.
            URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("openapi.json"),
        ]
        for url in candidates {
            if let data = FileManager.default.contents(atPath: url.path) { return [UInt8](data) }
        }
        return nil
    }
}
