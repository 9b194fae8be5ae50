import Foundation
import XCTest
import PolicyCompiler
@testable import Edge

final class EdgeConfigTests: XCTestCase {
    func testAFullConfigurationParses() throws {
        let c = try EdgeConfig.parse(
            """
            interface: edge0
            listen_port: 51900
            private_key_file: /etc/ztp/key
            addresses: [10.99.0.1/24, "fd00:99::1/64"]
            policies: /etc/ztp/policies
            metrics: "[::1]:9586"
            control_socket: /run/ztp/edge0.sock
            log_level: debug
            cache_size: 4096
            decision_log: /var/log/ztp.jsonl
            allow_log_sample: 10
            """, path: "ztpd.yaml")
        XCTAssertEqual(c.interface, "edge0")
        XCTAssertEqual(c.listenPort, 51900)
        XCTAssertEqual(c.addresses, ["10.99.0.1/24", "fd00:99::1/64"])
        XCTAssertEqual(c.metrics, "[::1]:9586")
        XCTAssertEqual(c.cacheSize, 4096)
        XCTAssertEqual(c.controlSocketPath, "/run/ztp/edge0.sock")
    }

    func testTheEtcdSectionNamesEndpointsPrefixAndEdge() throws {
        let c = try EdgeConfig.parse(
            """
            etcd:
              endpoints: [http://10.0.0.1:2379, http://10.0.0.2:2379]
              prefix: /fleet
              name: edge-7
              reread_seconds: 12
            """, path: "ztpd.yaml")
        XCTAssertEqual(c.etcd?.endpoints, ["http://10.0.0.1:2379", "http://10.0.0.2:2379"])
        XCTAssertEqual(c.etcd?.rereadSeconds, 12)
        XCTAssertEqual(c.etcd?.prefix, "/fleet")
        XCTAssertEqual(c.etcd?.edgeName, "edge-7")
        let defaults = try EdgeConfig.parse("etcd: { endpoints: http://127.0.0.1:2379 }", path: "ztpd.yaml")
        XCTAssertEqual(defaults.etcd?.prefix, "/ztp")
        XCTAssertEqual(defaults.etcd?.edgeName, ProcessInfo.processInfo.hostName)
        XCTAssertEqual(defaults.etcd?.rereadSeconds, 30)
        let cases: [(String, String)] = [
            ("etcd: http://x:2379", "ztpd.yaml:1:7: etcd takes a mapping: { endpoints: [http://HOST:2379], prefix: /ztp, name: EDGE }"),
            ("etcd: { prefix: /ztp }", "ztpd.yaml:1:7: etcd needs endpoints: (at least one client URL)"),
            ("etcd: { endpoints: [a], prefix: ztp }", "ztpd.yaml:1:33: the etcd prefix is a key path such as /ztp"),
            ("etcd: { endpoints: [a], name: a/b }", "ztpd.yaml:1:31: the edge name is a word without '/', such as edge-1"),
            ("etcd: { endpoints: [a], nmae: x }", "ztpd.yaml:1:25: unknown etcd key 'nmae'; etcd has endpoints, prefix, name, reread_seconds"),
            ("etcd: { endpoints: [a], reread_seconds: 0 }", "ztpd.yaml:1:41: reread_seconds is a number of seconds from 1 to 86400"),
        ]
        for (text, message) in cases {
            XCTAssertThrowsError(try EdgeConfig.parse(text, path: "ztpd.yaml"), text) { error in
                XCTAssertEqual("\(error)", message)
            }
        }
    }

    func testErrorsNameTheFileLineAndColumn() {
        let cases: [(String, String)] = [
            ("listen_port: 70000", "ztpd.yaml:1:14: 'listen_port' must be a whole number from 1 to 65535"),
            ("interface: ztp0\ncache_sise: 5", "ztpd.yaml:2:1: unknown key 'cache_sise'; did you mean 'cache_size'?"),
            ("metrics: localhost", "ztpd.yaml:1:10: metrics takes HOST:PORT, such as 127.0.0.1:9586, or off"),
            ("log_level: loud", "ztpd.yaml:1:12: log_level is one of trace, debug, info, notice, warning, error, critical"),
            ("policies: a\nbundle: b", "ztpd.yaml: give either policies or bundle, not both"),
            ("addresses: [10.99.0.1]", "ztpd.yaml:1:13: an address is written with its prefix length, such as 10.99.0.1/24"),
        ]
        for (text, message) in cases {
            XCTAssertThrowsError(try EdgeConfig.parse(text, path: "ztpd.yaml"), text) {
                XCTAssertEqual("\($0)", message)
            }
        }
    }

    func testTheReloadTimeoutIsConfigurableWithinItsRange() throws {
        XCTAssertEqual(EdgeConfig().reloadTimeoutSeconds, 30)
        XCTAssertEqual(try EdgeConfig.parse("reload_timeout_seconds: 5", path: "x").reloadTimeoutSeconds, 5)
        XCTAssertThrowsError(try EdgeConfig.parse("reload_timeout_seconds: 0", path: "ztpd.yaml")) {
            XCTAssertEqual("\($0)", "ztpd.yaml:1:25: 'reload_timeout_seconds' must be a whole number from 1 to 3600")
        }
    }

    func testMetricsCanBeTurnedOff() throws {
        XCTAssertNil(try EdgeConfig.parse("metrics: off", path: "x").metrics)
        XCTAssertEqual(EdgeConfig().metrics, "127.0.0.1:9586")
    }
}

/// `trusted_publishers:`: keys in base64 or as KEY.pub paths, refused with a policy directory.
final class TrustedPublishersConfigTests: XCTestCase {
    func testTrustedPublishersTakeBase64KeysAndPubFiles() throws {
        let first = SigningKey().publicKey, second = SigningKey().publicKey
        let pub = FileManager.default.temporaryDirectory.appendingPathComponent("ztp-\(UUID().uuidString).pub").path
        FileManager.default.createFile(atPath: pub, contents: Data((second.base64 + "\n").utf8))
        defer { try? FileManager.default.removeItem(atPath: pub) }
        let c = try EdgeConfig.parse("bundle: /etc/ztp/policy.ztpb\ntrusted_publishers: [\"\(first)\", \(pub)]", path: "x")
        XCTAssertEqual(c.trustedPublishers, [first, second])
        XCTAssertEqual(c.bundleTrust, .publishers([first, second]))
        XCTAssertEqual(try EdgeConfig.parse("trusted_publishers: \"\(first)\"", path: "x").trustedPublishers, [first])
        XCTAssertEqual(EdgeConfig().bundleTrust, .anyBundle, "without the key, signatures are not required")
    }

    func testTrustedPublishersWithAPolicyDirectoryIsRefused() {
        let key = SigningKey().publicKey
        XCTAssertThrowsError(try EdgeConfig.parse("policies: /etc/ztp/policies\ntrusted_publishers: [\"\(key)\"]", path: "ztpd.yaml")) {
            XCTAssertTrue("\($0)".hasPrefix("ztpd.yaml: trusted_publishers needs a signed bundle"), "\($0)")
            XCTAssertTrue("\($0)".contains("carries no signature"), "\($0)")
        }
    }

    func testAnEntryThatIsNoKeyNamesItsLine() {
        XCTAssertThrowsError(try EdgeConfig.parse("trusted_publishers:\n  - /nonexistent/publisher.pub", path: "ztpd.yaml")) {
            XCTAssertEqual(
                "\($0)", "ztpd.yaml:2:5: '/nonexistent/publisher.pub' is neither a base64 public key nor a readable .pub file")
        }
        XCTAssertThrowsError(try EdgeConfig.parse("trusted_publishers: []", path: "ztpd.yaml")) {
            XCTAssertTrue("\($0)".contains("needs at least one key"), "\($0)")
        }
    }
}
