// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "filamentdb",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "SpoolModel", targets: ["SpoolModel"]),
        .library(name: "SpoolFormats", targets: ["SpoolFormats"]),
        .library(name: "SpoolHistory", targets: ["SpoolHistory"]),
        .library(name: "SpoolSync", targets: ["SpoolSync"]),
        .library(name: "SpoolServer", targets: ["SpoolServer"]),
        .executable(name: "filamentdb", targets: ["filamentdb"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/yaslab/CSV.swift", from: "2.5.2"),
        .package(url: "https://github.com/weichsel/ZIPFoundation", from: "0.9.20"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        // Already in the graph through Hummingbird; named for the server's channel handlers (NIOCore; the HTTP
        // parts Hummingbird's pipeline carries, NIOHTTPTypes; and, before their conversion, NIOHTTP1's).
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
    ],
    targets: [
        // The canonical spool record: values, canonical JSON, typeson, migration, identity. Pure: no I/O.
        .target(name: "SpoolModel"),
        // libgit2 (Debian's libgit2-dev): a module map only, and a C shim for its one variadic function.
        .systemLibrary(name: "CGit2", pkgConfig: "libgit2", providers: [.apt(["libgit2-dev"])]),
        .target(name: "CGit2Shim", dependencies: ["CGit2"], linkerSettings: [.linkedLibrary("crypto")]),
        // The inventory's history: a git repository written through libgit2, C contained in this module.
        .target(name: "SpoolHistory", dependencies: ["SpoolModel", "CGit2", "CGit2Shim"]),
        // The sync protocol without HTTP: the request and response, the server's apply over the history, the client.
        .target(name: "SpoolSync", dependencies: ["SpoolModel", "SpoolHistory"]),
        // The sync API over HTTP (Hummingbird 2): routes, authentication, CORS, limits, the OpenAPI document.
        .target(
            name: "SpoolServer",
            dependencies: [
                "SpoolModel", "SpoolSync",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                // The thread of LongRequests (a one-thread event loop group).
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
                .product(name: "Logging", package: "swift-log"),
            ],
            // Compiled into the binary (SwiftPM generates `PackageResources.openapi_json`): an installed `filamentdb`,
            // copied away from its build folder, still serves `/openapi.json`.
            resources: [.embedInCode("openapi.json")]
        ),
        // zlib (Debian's zlib1g-dev): a module map only, for the ZIP format's deflate and CRC-32.
        .systemLibrary(name: "CSystemZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        // Reading and writing inventories in every supported file format.
        .target(
            name: "SpoolFormats",
            dependencies: [
                "SpoolModel", "CSystemZlib",
                .product(name: "GRDB", package: "GRDB.swift"),
                // SQLite's C API, for the bulk insert (explicit text lengths, no per-row boxing).
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
            ]
        ),
        // A file imported into the history: the conversion and the history's import as one step, with the
        // device's import memo (the one place both libraries meet, outside the CLI).
        .target(name: "SpoolImport", dependencies: ["SpoolModel", "SpoolFormats", "SpoolHistory"]),
        // The command-line tool: argument parsing only; the work is in the libraries.
        .executableTarget(
            name: "filamentdb",
            dependencies: [
                "SpoolModel", "SpoolFormats", "SpoolHistory", "SpoolImport", "SpoolSync", "SpoolServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                // `serve` makes the server's Logger (libraries never bootstrap logging).
                .product(name: "Logging", package: "swift-log"),
                // `sync`'s HTTP client: it reads an answer only as fast as it is taken, so a size limit holds
                // (URLSession on Linux reads ahead of its delegate without bound).
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ]
        ),
        // Shared by the test targets: fixture paths, a seeded generator of hostile inventories.
        .target(name: "SpoolTestSupport", dependencies: ["SpoolModel"], path: "Tests/SpoolTestSupport"),
        .testTarget(name: "SpoolModelTests", dependencies: ["SpoolModel", "SpoolTestSupport"]),
        .testTarget(name: "SpoolHistoryTests", dependencies: ["SpoolHistory", "SpoolModel", "SpoolTestSupport"]),
        .testTarget(
            name: "SpoolFormatsTests",
            dependencies: [
                "SpoolFormats", "SpoolModel", "SpoolTestSupport",
                // The reference our own CSV reader is checked against.
                .product(name: "CSV", package: "CSV.swift"),
                .product(name: "GRDB", package: "GRDB.swift"),
                // The reference our own ZIP reader and writer are checked against.
                .product(name: "ZIPFoundation", package: "ZIPFoundation"),
            ]
        ),
        .testTarget(name: "SpoolSyncTests", dependencies: ["SpoolSync", "SpoolHistory", "SpoolModel", "SpoolTestSupport"]),
        .testTarget(
            name: "SpoolServerTests",
            dependencies: [
                "SpoolServer", "SpoolSync", "SpoolHistory", "SpoolModel", "SpoolTestSupport",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                // Event loops of their own for EventLoopAffinityTests (already in the graph through Hummingbird).
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            // Run by OpenAPITests with python3: the reference JSON Schema validator.
            exclude: ["check_openapi.py"]
        ),
        .testTarget(name: "CLITests", dependencies: ["filamentdb", "SpoolFormats", "SpoolHistory", "SpoolModel", "SpoolTestSupport"]),
    ]
)
