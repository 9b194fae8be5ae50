// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "ztp",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "PolicyLang", targets: ["PolicyLang"]),
        .library(name: "PolicyCompiler", targets: ["PolicyCompiler"]),
        .library(name: "Tunnel", targets: ["Tunnel"]),
        .executable(name: "ztpc", targets: ["ztpc"]),
        .executable(name: "ztpd", targets: ["ztpd"]),
    ],
    dependencies: [
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-atomics.git", from: "1.3.0"),
    ],
    targets: [
        // The rule language: YAML front (through Yams), rule DSL lexer/parser, AST, diagnostics.
        .target(name: "PolicyLang", dependencies: [.product(name: "Yams", package: "Yams")]),
        // Resolution, lint, decision tables, bundle format and the evaluator.
        .target(name: "PolicyCompiler", dependencies: ["PolicyLang", "CSodium"]),
        // Per-packet enforcement of compiled tables: flows, decision cache, rate limits, reloads.
        .target(
            name: "Enforcer",
            dependencies: ["PolicyCompiler", "PolicyLang", .product(name: "Atomics", package: "swift-atomics")]
        ),
        .executableTarget(
            name: "ztpc",
            dependencies: [
                "PolicyLang", "PolicyCompiler",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // libsodium, from Debian's libsodium-dev.
        .systemLibrary(name: "CSodium", pkgConfig: "libsodium", providers: [.apt(["libsodium-dev"])]),
        // WireGuard in userspace: primitives, Noise_IKpsk2, transport.
        .target(name: "Tunnel", dependencies: ["CSodium"]),
        // The userspace WireGuard daemon: TUN + UDP + the Tunnel runtime, wg-style config.
        .executableTarget(
            name: "ztpd",
            dependencies: [
                "Tunnel",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        .testTarget(name: "PolicyLangTests", dependencies: ["PolicyLang"]),
        .testTarget(name: "PolicyCompilerTests", dependencies: ["PolicyCompiler", "PolicyLang"]),
        .testTarget(name: "ztpcTests", dependencies: ["ztpc"]),
        .testTarget(name: "EnforcerTests", dependencies: ["Enforcer", "PolicyCompiler", "PolicyLang"]),
        .testTarget(name: "TunnelTests", dependencies: ["Tunnel", "ztpd"]),
    ],
    swiftLanguageModes: [.v6]
)
