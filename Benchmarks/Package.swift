// swift-tools-version: 6.1
import Foundation
import PackageDescription

/// SwiftPM names a path dependency after its directory, so the ztp package's identity is the
/// name of the folder it was checked out into (`main`, `ztp`, ...): read it off this manifest's
/// own path, so that the benchmarks build from a checkout under any name.
let ztp = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().lastPathComponent

// Performance benchmarks for ztp, kept in their own package so that the main package does not
// depend on ordo-one/benchmark. Run from this directory:
//   swift package --scratch-path .build-bench --allow-writing-to-package-directory benchmark
let package = Package(
    name: "ztp-benchmarks",
    platforms: [.macOS(.v14)],
    dependencies: [
        // The ztp package itself; its identity is its directory's name (see `ztp` above).
        .package(path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        // Deterministic generator of policy sets, and a naive reference evaluator to check decide.
        .target(name: "PolicyFixtures"),
        // Not a benchmark: a driver for perf/callgrind and for checking decide against the reference.
        .executableTarget(
            name: "PolicyProfile",
            dependencies: [
                "PolicyFixtures",
                .product(name: "PolicyCompiler", package: ztp),
                .product(name: "PolicyLang", package: ztp),
                .product(name: "Enforcer", package: ztp),
            ]
        ),
        .executableTarget(
            name: "PolicyBenchmarks",
            dependencies: [
                "PolicyFixtures",
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "PolicyCompiler", package: ztp),
                .product(name: "Enforcer", package: ztp),
                .product(name: "PolicyLang", package: ztp),
                .product(name: "Tunnel", package: ztp),
            ],
            path: "Benchmarks/PolicyBenchmarks",
            plugins: [
                .plugin(name: "BenchmarkPlugin", package: "benchmark"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
