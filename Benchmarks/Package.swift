// swift-tools-version:6.0
import PackageDescription

// Benchmarks live in their own package so that building the product stays fast.
// Run with `Benchmarks/run` (builds filamentdb in release mode first).
let package = Package(
    name: "Benchmarks",
    platforms: [.macOS(.v14)],
    targets: [
        .executableTarget(name: "ConversionBenchmark"),
    ]
)
