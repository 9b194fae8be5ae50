import Foundation
import XCTest

/// What a network test needs from the machine, checked before anything is created.
public enum NetEnvironment {
    /// Throws XCTSkip, with a message that stands out in the log, unless the test runs as root
    /// with a TUN device and every tool in `tools`; returns the tools' full paths.
    public static func require(tools: [String], needsTUN: Bool = true, for what: String = "NETWORK TEST")
        throws -> [String: String]
    {
        guard getuid() == 0 else {
            throw XCTSkip("\(what) SKIPPED: not running as root (network namespaces and TUN need root / CAP_NET_ADMIN)")
        }
        if needsTUN && !FileManager.default.fileExists(atPath: "/dev/net/tun") {
            throw XCTSkip("\(what) SKIPPED: /dev/net/tun does not exist on this machine")
        }
        var found: [String: String] = [:]
        for tool in tools {
            guard let path = Command.which(tool) else {
                throw XCTSkip("\(what) SKIPPED: `\(tool)` is not installed (scripts/setup installs what the tests need)")
            }
            found[tool] = path
        }
        return found
    }

    /// The path of an executable product (`ztpd`, `ztpc`) built beside the test bundle.
    public static func builtProduct(_ name: String) throws -> String {
        let candidates =
            [
                Bundle.main.bundleURL.appendingPathComponent(name),
                Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent(name),
                URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(name),
            ] + Bundle.allBundles.map { $0.bundleURL.deletingLastPathComponent().appendingPathComponent(name) }
        guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0.path) }) else {
            throw NetLabError("\(name) binary not found next to the test bundle (looked in \(Set(candidates.map(\.path)).sorted()))")
        }
        return found.path
    }
}

/// A WireGuard key pair made by `wg genkey` and `wg pubkey`, both base64.
public struct WireGuardKeyPair: Sendable {
    public let privateKey: String
    public let publicKey: String

    /// Generates a fresh pair with the `wg` tool.
    public static func generate() throws -> WireGuardKeyPair {
        let genkey = try Command.run("wg", ["genkey"], timeout: 10)
        let privateKey = genkey.output.trimmingCharacters(in: .whitespacesAndNewlines)
        guard genkey.succeeded, privateKey.count == 44 else { throw NetLabError("wg genkey failed: \(genkey)") }
        let pubkey = try Command.run("wg", ["pubkey"], timeout: 10, input: privateKey + "\n")
        let publicKey = pubkey.output.trimmingCharacters(in: .whitespacesAndNewlines)
        guard pubkey.succeeded, publicKey.count == 44 else { throw NetLabError("wg pubkey failed: \(pubkey)") }
        return WireGuardKeyPair(privateKey: privateKey, publicKey: publicKey)
    }
}
