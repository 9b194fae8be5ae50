// swift-tools-version: 6.1
import PackageDescription

// Performance benchmarks for ztp, kept in their own package so that the main package does not
// depend on ordo-one/benchmark. Run from this directory:
//   swift package --scratch-path .build-bench --allow-writing-to-package-directory benchmark
let package = Package(
    name: "ztp-benchmarks",
    platforms: [.macOS(.v14)],
    dependencies: [
        // The ztp package itself; its identity is the directory name ("main").
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
                .product(name: "PolicyCompiler", package: "main"),
                .product(name: "PolicyLang", package: "main"),
            ]
        ),
        .executableTarget(
            name: "PolicyBenchmarks",
            dependencies: [
                "PolicyFixtures",
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "PolicyCompiler", package: "main"),
                .product(name: "Enforcer", package: "main"),
                .product(name: "PolicyLang", package: "main"),
                .product(name: "Tunnel", package: "main"),
            ],
            path: "Benchmarks/PolicyBenchmarks",
            plugins: [
                .plugin(name: "BenchmarkPlugin", package: "benchmark"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
