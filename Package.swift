// swift-tools-version: 6.0
import PackageDescription

/// `ZTP_BUILD_COMMIT` from the environment when it looks like a (short) git commit, maybe `-dirty`.
let buildCommit = Context.environment["ZTP_BUILD_COMMIT"].flatMap { commit in
    !commit.isEmpty && commit.allSatisfy { $0.isHexDigit || $0.isLetter || $0 == "-" } ? commit : nil
}

let package = Package(
    name: "ztp",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "NetPrimitives", targets: ["NetPrimitives"]),
        .library(name: "PolicyLang", targets: ["PolicyLang"]),
        .library(name: "PolicyCompiler", targets: ["PolicyCompiler"]),
        .library(name: "Enforcer", targets: ["Enforcer"]),
        .library(name: "Tunnel", targets: ["Tunnel"]),
        .library(name: "Etcd", targets: ["Etcd"]),
        .library(name: "Fleet", targets: ["Fleet"]),
        .executable(name: "ztpc", targets: ["ztpc"]),
        .executable(name: "ztpd", targets: ["ztpd"]),
    ],
    dependencies: [
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-atomics.git", from: "1.3.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
    ],
    targets: [
        // The value types every layer shares: IP addresses and prefixes, public keys, the IP
        // packet parser. Pure Swift, no C library, so that it sits below everything else.
        .target(name: "NetPrimitives"),
        // The rule language: YAML front (through Yams), rule DSL lexer/parser, AST, diagnostics.
        .target(name: "PolicyLang", dependencies: ["NetPrimitives", .product(name: "Yams", package: "Yams")]),
        // Resolution, lint, decision tables, bundle format and the evaluator.
        .target(
            name: "PolicyCompiler",
            dependencies: ["NetPrimitives", "PolicyLang", "CSodium", "CLibCrypto", "SecureMemory", .product(name: "Yams", package: "Yams")]
        ),
        // Per-packet enforcement of compiled tables: flows, decision cache, rate limits, reloads.
        .target(
            name: "Enforcer",
            dependencies: ["NetPrimitives", "PolicyCompiler", "PolicyLang", .product(name: "Atomics", package: "swift-atomics")]
        ),
        // The daemon's sockets, inotify and process spawning: every raw system call of Edge, ztpd and ztpc.
        .target(name: "SystemSupport", dependencies: ["CSystemShim"]),
        // accept4 and eventfd, which the Glibc module does not export.
        .target(name: "CSystemShim"),
        // The edge daemon's parts: config, policy reloads, tunnel hooks, metrics, control socket.
        .target(
            name: "Edge",
            dependencies: [
                "Enforcer", "NetPrimitives", "PolicyCompiler", "PolicyLang", "Tunnel", "SystemSupport", "CBuildInfo",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        // An etcd v3 client over etcd's JSON gateway (AsyncHTTPClient), with failover across members.
        .target(
            name: "Etcd",
            dependencies: [
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Atomics", package: "swift-atomics"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // A fleet of edges following one policy pointer in etcd: publish and rollback, the edge's
        // follower and status reporter, fleet status.
        .target(
            name: "Fleet",
            dependencies: [
                "Etcd", "CSodium", "CLibCrypto", "CZlib",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The commit a build came from: scripts/package sets ZTP_BUILD_COMMIT, and only this
        // one C file is compiled again when it changes.
        .target(name: "CBuildInfo", cSettings: buildCommit.map { [.define("ZTP_BUILD_COMMIT", to: "\"\($0)\"")] } ?? []),
        .executableTarget(
            name: "ztpc",
            dependencies: [
                "PolicyLang", "PolicyCompiler", "Edge", "SystemSupport", "Etcd", "Fleet",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // libsodium, from Debian's libsodium-dev.
        .systemLibrary(name: "CSodium", pkgConfig: "libsodium", providers: [.apt(["libsodium-dev"])]),
        // OpenSSL's libcrypto, from Debian's libssl-dev, for SHA-256 at the speed of the CPU's SHA
        // extensions (bundle checksums and content hashes over megabytes).
        .systemLibrary(name: "CLibCrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        // zlib, from Debian's zlib1g-dev: fleet bundles are stored deflated in etcd.
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        // Zeroing storage for secrets and the key files that hold them: shared by the tunnel's
        // private keys and the policy signing keys, so that neither pulls in the other.
        .target(name: "SecureMemory", dependencies: ["CSodium"]),
        // WireGuard in userspace: primitives, Noise_IKpsk2, transport.
        // recvmmsg/sendmmsg for the tunnel's batched UDP I/O (Glibc does not export them).
        .target(name: "CTunnelShim"),
        .target(name: "Tunnel", dependencies: ["NetPrimitives", "CSodium", "CTunnelShim", "SecureMemory"]),
        // The userspace WireGuard daemon: TUN + UDP + the Tunnel runtime, wg-style config.
        .executableTarget(
            name: "ztpd",
            dependencies: [
                "Tunnel", "Edge", "Enforcer", "XDP", "PolicyCompiler", "SystemSupport", "Etcd", "Fleet",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),

        // libbpf (and the XDP program's shared header bpf/ztp_xdp.h), from Debian's libbpf-dev.
        .systemLibrary(name: "CLibBPF", pkgConfig: "libbpf", providers: [.apt(["libbpf-dev"])]),
        // The XDP guard of the tunnel port: loads bpf/ztp_xdp.o, attaches it, drives its maps.
        .target(name: "XDP", dependencies: ["NetPrimitives", "CLibBPF"]),

        .testTarget(name: "NetPrimitivesTests", dependencies: ["NetPrimitives"]),
        // Fuzz targets: the checks in one library, one thin executable per target (scripts/fuzz,
        // FUZZING.md). Built normally they replay files; with -DFUZZING they run libFuzzer.
        .target(
            name: "FuzzTargets",
            dependencies: ["PolicyLang", "PolicyCompiler", "Enforcer", "NetPrimitives", "Tunnel", "Edge", "CSodium"]
        ),
        .executableTarget(name: "FuzzPolicy", dependencies: ["FuzzTargets"]),
        .executableTarget(name: "FuzzPolicyParse", dependencies: ["FuzzTargets"]),
        .executableTarget(name: "FuzzBundle", dependencies: ["FuzzTargets"]),
        .executableTarget(name: "FuzzWireGuard", dependencies: ["FuzzTargets"]),
        .executableTarget(name: "FuzzPacket", dependencies: ["FuzzTargets"]),
        .executableTarget(name: "FuzzDaemonConfig", dependencies: ["FuzzTargets"]),
        .executableTarget(name: "FuzzUAPI", dependencies: ["FuzzTargets"]),
        .executableTarget(name: "FuzzOffload", dependencies: ["FuzzTargets"]),
        .testTarget(name: "FuzzTargetsTests", dependencies: ["FuzzTargets", "PolicyCompiler", "Tunnel"]),

        .testTarget(name: "PolicyLangTests", dependencies: ["PolicyLang"]),
        .testTarget(name: "PolicyCompilerTests", dependencies: ["PolicyCompiler", "PolicyLang", "SecureMemory"]),
        .testTarget(name: "ztpcTests", dependencies: ["ztpc", "Etcd", "Fleet", "EtcdTestSupport"]),
        .testTarget(name: "SystemSupportTests", dependencies: ["SystemSupport"]),
        .testTarget(name: "EnforcerTests", dependencies: ["Enforcer", "PolicyCompiler", "PolicyLang"]),
        // Shared helpers for tests that build network namespaces, veth links and processes in them.
        .target(name: "NetTestSupport", dependencies: [], path: "Tests/NetTestSupport"),
        .testTarget(
            name: "EdgeTests",
            dependencies: [
                "Edge", "Enforcer", "PolicyCompiler", "PolicyLang", "Tunnel", "NetTestSupport", "EtcdTestSupport", "ztpd", "ztpc",
                "SystemSupport",
            ]
        ),
        .testTarget(name: "TunnelTests", dependencies: ["Tunnel", "ztpd", "NetTestSupport"]),
        // A real etcd cluster on loopback ports of its own, for the etcd and fleet tests.
        .target(name: "EtcdTestSupport", dependencies: [], path: "Tests/EtcdTestSupport"),
        .testTarget(name: "EtcdTests", dependencies: ["Etcd", "EtcdTestSupport"]),
        .testTarget(name: "FleetTests", dependencies: ["Fleet", "Etcd", "EtcdTestSupport"]),
        // ztpd edges (processes without a tunnel) following a real etcd cluster: issue 10's tests.
        .testTarget(name: "FleetEdgeTests", dependencies: ["Fleet", "Etcd", "EtcdTestSupport", "NetTestSupport", "ztpd", "ztpc"]),
        .testTarget(name: "XDPTests", dependencies: ["XDP", "CLibBPF", "NetTestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
