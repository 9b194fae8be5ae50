import Foundation
import NetTestSupport
import XCTest
import Edge
@testable import Tunnel

final class AllowedIPsTests: XCTestCase {
    func testLongestPrefixMatchV4AndV6AreSeparate() throws {
        var table = AllowedIPs<String>()
        table.insert(IPPrefix("10.0.0.0/8")!, "wide")
        table.insert(IPPrefix("10.1.0.0/16")!, "narrow")
        table.insert(IPPrefix("10.1.2.3")!, "host")
        table.insert(IPPrefix("::/0")!, "v6default")
        table.insert(IPPrefix("fd00::/64")!, "v6net")
        XCTAssertEqual(table.lookup(IPAddress("10.9.9.9")!), "wide")
        XCTAssertEqual(table.lookup(IPAddress("10.1.9.9")!), "narrow")
        XCTAssertEqual(table.lookup(IPAddress("10.1.2.3")!), "host")
        XCTAssertNil(table.lookup(IPAddress("11.0.0.1")!), "::/0 must not route IPv4")
        XCTAssertEqual(table.lookup(IPAddress("fd00::5")!), "v6net")
        XCTAssertEqual(table.lookup(IPAddress("2001:db8::1")!), "v6default")
        // Re-inserting a prefix moves it to the new owner; removal drops all of a value's.
        table.insert(IPPrefix("10.1.0.0/16")!, "wide")
        XCTAssertEqual(table.lookup(IPAddress("10.1.9.9")!), "wide")
        table.removeAll("wide")
        XCTAssertNil(table.lookup(IPAddress("10.1.9.9")!))
        XCTAssertEqual(table.prefixes(of: "host").map(\.description), ["10.1.2.3/32"])
    }

    func testPrefixParsingClearsHostBitsAndRejectsGarbage() {
        XCTAssertEqual(IPPrefix("10.1.2.3/24")?.description, "10.1.2.0/24")
        XCTAssertEqual(IPPrefix("fd00::1:2/112")?.description, "fd00::1:0/112")
        XCTAssertEqual(IPPrefix("0.0.0.0/0")?.description, "0.0.0.0/0")
        XCTAssertNil(IPPrefix("10.0.0.0/33"))
        XCTAssertNil(IPPrefix("fd00::/129"))
        XCTAssertNil(IPPrefix("hello/8"))
    }

    func testPacketHeaderParsing() {
        var v4 = [UInt8](repeating: 0, count: 28)
        v4[0] = 0x45; v4[3] = 28
        v4[12...15] = [10, 0, 0, 1]; v4[16...19] = [10, 0, 0, 2]
        v4.withUnsafeBytes { p in
            XCTAssertEqual(IPPacket.source(of: p), IPAddress("10.0.0.1"))
            XCTAssertEqual(IPPacket.destination(of: p), IPAddress("10.0.0.2"))
            XCTAssertEqual(IPPacket.declaredLength(of: p), 28)
        }
        v4[3] = 200  // claims more than there is
        v4.withUnsafeBytes { XCTAssertNil(IPPacket.declaredLength(of: $0)) }
        var v6 = [UInt8](repeating: 0, count: 48)
        v6[0] = 0x60; v6[5] = 8; v6[8] = 0xfd; v6[23] = 1; v6[24] = 0xfd; v6[39] = 2
        v6.withUnsafeBytes { p in
            XCTAssertEqual(IPPacket.source(of: p), IPAddress("fd00::1"))
            XCTAssertEqual(IPPacket.destination(of: p), IPAddress("fd00::2"))
            XCTAssertEqual(IPPacket.declaredLength(of: p), 48)
        }
        [UInt8]([0x10, 0, 0]).withUnsafeBytes { XCTAssertNil(IPPacket.destination(of: $0)) }
    }
}

final class ConfigurationTests: XCTestCase {
    func testParsesWgStyleConfig() throws {
        let ours = PrivateKey(), theirs = PrivateKey().publicKey, psk = SymmetricKey()
        let text = """
            # comment
            [Interface]
            PrivateKey = \(ours.base64)
            ListenPort = 51820
            Address = 10.0.0.1/24

            [Peer]
            PublicKey = \(theirs.base64)
            PresharedKey = \(psk.base64)
            AllowedIPs = 10.0.0.2/32, fd00::2/128
            Endpoint = [fd00::1]:51821
            PersistentKeepalive = 25
            [Peer]
            PublicKey = \(PrivateKey().publicKey.base64)
            Endpoint = 192.0.2.7:1234
            """
        let config = try TunnelConfiguration(parsing: text)
        XCTAssertEqual(config.privateKey, ours)
        XCTAssertEqual(config.listenPort, 51820)
        XCTAssertEqual(config.ignoredKeys, ["Address"])
        XCTAssertEqual(config.peers.count, 2)
        XCTAssertEqual(config.peers[0].publicKey, theirs)
        XCTAssertEqual(config.peers[0].presharedKey, psk)
        XCTAssertEqual(config.peers[0].allowedIPs.map(\.description), ["10.0.0.2/32", "fd00::2/128"])
        XCTAssertEqual(config.peers[0].endpoint?.description, "[fd00::1]:51821")
        XCTAssertEqual(config.peers[0].persistentKeepalive, 25)
        XCTAssertEqual(config.peers[1].endpoint?.description, "192.0.2.7:1234")
        XCTAssertTrue(config.peers[1].endpoint!.isIPv4)
    }

    /// An explicit PersistentKeepalive of 0 or off is kept as 0, so that it overrides the
    /// interface's default keepalive; a peer without the key gets the default.
    func testExplicitKeepaliveOffIsKeptApartFromUnset() throws {
        let text = """
            [Interface]
            PrivateKey = \(PrivateKey().base64)
            [Peer]
            PublicKey = \(PrivateKey().publicKey.base64)
            PersistentKeepalive = off
            [Peer]
            PublicKey = \(PrivateKey().publicKey.base64)
            PersistentKeepalive = 0
            [Peer]
            PublicKey = \(PrivateKey().publicKey.base64)
            """
        let config = try TunnelConfiguration(parsing: text)
        XCTAssertEqual(config.peers.map(\.persistentKeepalive), [0, 0, nil])
        XCTAssertEqual(config.handshakeCoalescing, .default)
        XCTAssertNil(config.defaultPersistentKeepalive)
    }

    /// As for `wg setconf`: the key may come later (through the UAPI).
    func testAConfigurationWithoutAPrivateKeyParsesWithNone() throws {
        let config = try TunnelConfiguration(parsing: "[Interface]\nListenPort = 1\n")
        XCTAssertNil(config.privateKey)
        XCTAssertEqual(config.listenPort, 1)
    }

    func testErrorsNameTheLineAndNeverTheKey() {
        let secret = PrivateKey().base64
        XCTAssertThrowsError(try TunnelConfiguration(parsing: "[Interface]\nPrivateKey = \(secret)x\n")) { error in
            let e = error as! TunnelConfiguration.ParseError
            XCTAssertEqual(e.line, 2)
            XCTAssertFalse(e.description.contains(secret))
        }
        XCTAssertThrowsError(try TunnelConfiguration(parsing: "[Interface]\nPrivateKey = \(secret)\n[Peer]\nAllowedIPs = 1.2.3.4/32\n"))
        XCTAssertThrowsError(try TunnelConfiguration(parsing: "[Interface]\nPrivateKey = \(secret)\nBogus = 1\n"))
    }
}

final class ZtpdCommandTests: XCTestCase {
    /// The daemon config's handshake keys, and their errors, as the other keys'.
    func testDaemonConfigTakesCoalescingAndKeepaliveSettings() throws {
        let c = try EdgeConfig.parse("coalesce_window_ms: 250\nmax_coalesced_handshakes: 0\npersistent_keepalive_seconds: 25\n",
                                     path: "ztpd.yaml")
        XCTAssertEqual(c.coalesceWindowMilliseconds, 250)
        XCTAssertEqual(c.maxCoalescedHandshakes, 0)
        XCTAssertEqual(c.persistentKeepaliveSeconds, 25)
        let defaults = EdgeConfig()
        XCTAssertEqual(defaults.coalesceWindowMilliseconds, 500)
        XCTAssertEqual(defaults.maxCoalescedHandshakes, 8)
        XCTAssertEqual(defaults.persistentKeepaliveSeconds, 0)
        XCTAssertThrowsError(try EdgeConfig.parse("persistent_keepalive_seconds: 70000", path: "ztpd.yaml")) {
            XCTAssertEqual("\($0)", "ztpd.yaml:1:31: 'persistent_keepalive_seconds' must be a whole number from 0 to 65535")
        }
        XCTAssertThrowsError(try EdgeConfig.parse("coalesce_window: 5", path: "ztpd.yaml")) {
            XCTAssertEqual("\($0)", "ztpd.yaml:1:1: unknown key 'coalesce_window'; did you mean 'coalesce_window_ms'?")
        }
    }

    func testRefusesConfigReadableByOthers() throws {
        let binary = Bundle.main.bundleURL.appendingPathComponent("ztpd")
        let fallback = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("ztpd")
        guard let ztpd = [binary, fallback].first(where: { FileManager.default.isExecutableFile(atPath: $0.path) }) else {
            throw XCTSkip("ztpd binary not found next to the test bundle")
        }
        let key = PrivateKey()
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("ztpd-mode-\(UUID().uuidString).conf").path
        _ = FileManager.default.createFile(atPath: path, contents: Data("[Interface]\nPrivateKey = \(key.base64)\n".utf8),
                                       attributes: [.posixPermissions: 0o644])
        defer { try? FileManager.default.removeItem(atPath: path) }
        let result = try NetTestbed.run(ztpd.path, ["ztpnever0", "--foreground", "--config", path], timeout: 10)
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.output.contains("chmod 600"), result.output)
        XCTAssertFalse(result.output.contains(key.base64))
    }

    func testOffloadSettingNamesTheDataPathAndAnUnknownOneIsRefused() throws {
        XCTAssertEqual(["auto", "AUTO", "on", "all"].map(DataPathOffloads.init(setting:)), [.all, .all, .all, .all])
        XCTAssertEqual(["off", "plain"].map(DataPathOffloads.init(setting:)), [.plain, .plain])
        XCTAssertNil(DataPathOffloads(setting: "maybe"))
        XCTAssertTrue(DataPathOffloads.all.opensTunWithOffloads)
        XCTAssertFalse(DataPathOffloads.plain.opensTunWithOffloads)

        let ztpd = try NetEnvironment.builtProduct("ztpd")
        let config = FileManager.default.temporaryDirectory.appendingPathComponent("ztpd-offload-\(getpid()).yaml").path
        FileManager.default.createFile(atPath: config, contents: Data("offload: maybe\n".utf8))
        defer { try? FileManager.default.removeItem(atPath: config) }
        let cases: [([String], [String: String], String)] = [
            (["--offload", "maybe"], [:], "--offload is auto or off, not \"maybe\""),
            ([], ["ZTPD_OFFLOAD": "maybe"], "ZTPD_OFFLOAD is auto or off, not \"maybe\""),
            // An empty ZTPD_OFFLOAD counts as unset (the test may run under ZTPD_OFFLOAD=off).
            (["--daemon-config", config], ["ZTPD_OFFLOAD": ""], "\(config):1:10: offload is auto or off"),
        ]
        for (arguments, environment, message) in cases {
            let result = try NetTestbed.run(ztpd, ["ztpnever0", "--foreground"] + arguments, timeout: 10, environment: environment)
            XCTAssertNotEqual(result.status, 0, "\(arguments) \(environment)")
            XCTAssertTrue(result.output.contains(message), result.output)
        }
    }
}
