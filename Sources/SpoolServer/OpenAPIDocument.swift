/// The committed OpenAPI 3.1 document of this API (`Sources/SpoolServer/openapi.json`), served at `/openapi.json`.
/// SwiftPM compiles the file into the binary (`.embedInCode` in Package.swift), so the document is served wherever
/// the executable is installed; before, it was a resource bundle beside the build's executable, and a `filamentdb`
/// copied to `/usr/local/bin` answered `/openapi.json` with 404.
enum OpenAPIDocument {
    static var bytes: [UInt8] { PackageResources.openapi_json }
}
