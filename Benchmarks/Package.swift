// swift-tools-version:6.0
import PackageDescription

// Benchmarks live in their own package so that building the product stays fast.
// Run with `Benchmarks/run` (conversion), `Benchmarks/run-history` (history) and `Benchmarks/run-sync` (the sync
// server against a Python baseline; its client and baseline are Python scripts in `sync/`); all build in release mode.

// The root package is a path dependency, whose identity is its folder's name.
let root = Context.packageDirectory.split(separator: "/").dropLast().last.map(String.init) ?? "main"

let package = Package(
    name: "Benchmarks",
    platforms: [.macOS(.v14)],
    dependencies: [.package(path: "..")],
    targets: [
        .executableTarget(name: "ConversionBenchmark"),
        .executableTarget(name: "HistoryBenchmark", dependencies: [
            .product(name: "SpoolHistory", package: root),
            .product(name: "SpoolModel", package: root),
        ]),
        .executableTarget(name: "SyncLibraryBenchmark", dependencies: [
            .product(name: "SpoolHistory", package: root),
            .product(name: "SpoolModel", package: root),
            .product(name: "SpoolSync", package: root),
        ]),
    ]
)
