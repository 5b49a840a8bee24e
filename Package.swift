// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "filamentdb",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "SpoolModel", targets: ["SpoolModel"]),
        .library(name: "SpoolFormats", targets: ["SpoolFormats"]),
        .executable(name: "filamentdb", targets: ["filamentdb"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        // The canonical spool record: values, canonical JSON, typeson, migration, identity. Pure: no I/O.
        .target(name: "SpoolModel"),
        // Reading and writing inventories in every supported file format.
        .target(name: "SpoolFormats", dependencies: ["SpoolModel"]),
        // The command-line tool: argument parsing only; the work is in the libraries.
        .executableTarget(
            name: "filamentdb",
            dependencies: [
                "SpoolModel", "SpoolFormats",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Shared by the test targets: fixture paths, a seeded generator of hostile inventories.
        .target(name: "SpoolTestSupport", dependencies: ["SpoolModel"], path: "Tests/SpoolTestSupport"),
        .testTarget(name: "SpoolModelTests", dependencies: ["SpoolModel", "SpoolTestSupport"]),
        .testTarget(name: "SpoolFormatsTests", dependencies: ["SpoolFormats", "SpoolModel", "SpoolTestSupport"]),
        .testTarget(name: "CLITests", dependencies: ["filamentdb", "SpoolFormats", "SpoolModel", "SpoolTestSupport"]),
    ]
)
