import Foundation
import NetTestSupport
import XCTest

/// ztpd as systemd runs it, with the manager played by the test: `$NOTIFY_SOCKET` names a
/// datagram socket the test listens on, `$WATCHDOG_USEC` asks for the watchdog. And its log as a
/// collector reads it: `--log-format json`, every line an object, with no key in any of them.
///
/// systemd itself does not run here: the machine's PID 1 is not systemd, and starting one as
/// PID 1 in a namespace would take over the cgroup hierarchy that the other jobs on this
/// shared machine run in. SystemdUnitTests checks the unit with `systemd-analyze verify`.
final class ServiceModeTests: XCTestCase {
    /// An edge with a policy (so that SIGHUP reloads) and a peer with a preshared key from a
    /// wg-style file, and a client that holds the same keys; both log JSON.
    private struct Pair {
        let lab: NetworkLab
        let edge: Process
        let client: Process
        let edgeKeys: WireGuardKeyPair
        let clientKeys: WireGuardKeyPair
        let presharedKey: String
        let edgeInterface: String
    }

    private func startPair(environment: [String: String]) throws -> Pair {
        _ = try NetEnvironment.require(tools: ["ip", "wg", "ping"], for: "SERVICE MODE TEST")
        let ztpd = try NetEnvironment.builtProduct("ztpd")
        let lab = try NetworkLab(roles: ["edge", "client"])
        do {
            try lab.link("client", "172.31.9.1/24", "edge", "172.31.9.2/24")
            let edgeKeys = try WireGuardKeyPair.generate(), clientKeys = try WireGuardKeyPair.generate()
            let psk = try Command.run("wg", ["genpsk"]).output.trimmingCharacters(in: .whitespacesAndNewlines)
            XCTAssertEqual(psk.count, 44)
            try lab.write("policies/svc.yaml", """
                policy: svc
                identities:
                  client: { key: "\(clientKeys.publicKey)", user: c@example.com }
                rules:
                  - name: ping-edge
                    rule: allow user:c@example.com -> 10.99.9.1:*/icmp

                """)
            let edgeConfig = try lab.write("edge.conf", """
                [Interface]
                PrivateKey = \(edgeKeys.privateKey)
                ListenPort = 51820

                [Peer]
                PublicKey = \(clientKeys.publicKey)
                PresharedKey = \(psk)
                AllowedIPs = 10.99.9.2/32

                """)
            let clientConfig = try lab.write("client.conf", """
                [Interface]
                PrivateKey = \(clientKeys.privateKey)

                [Peer]
                PublicKey = \(edgeKeys.publicKey)
                PresharedKey = \(psk)
                Endpoint = 172.31.9.2:51820
                AllowedIPs = 10.99.9.1/32

                """)
            let edgeInterface = "ztps\(lab.suffix)"
            let edge = try lab.spawn("edge", [
                ztpd, edgeInterface, "--foreground", "--config", edgeConfig, "--policies", lab.path("policies"),
                "--address", "10.99.9.1/24", "--metrics", "off", "--control-socket", lab.path("edge.sock"),
                "--decision-log", "off", "--log-level", "debug", "--log-format", "json",
            ], log: "edge.log", environment: environment)
            let client = try lab.spawn("client", [
                ztpd, "ztpc\(lab.suffix)", "--foreground", "--config", clientConfig, "--address", "10.99.9.2/24", "--log-level", "debug",
                "--log-format", "json",
            ], log: "client.log")
            return Pair(lab: lab, edge: edge, client: client, edgeKeys: edgeKeys, clientKeys: clientKeys, presharedKey: psk,
                        edgeInterface: edgeInterface)
        } catch {
            lab.tearDown()
            throw error
        }
    }

    func testNotifiesReadyWatchdogReloadAndStoppingOnTheNotifySocket() throws {
        let socketDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("ztp-notify-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: socketDirectory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: socketDirectory) }
        let socketPath = socketDirectory.appendingPathComponent("notify").path
        let listener = try NotifyListener(path: socketPath)
        defer { listener.close() }
        // WATCHDOG_USEC=1 s: a ping every 500 ms.
        let pair = try startPair(environment: ["NOTIFY_SOCKET": socketPath, "WATCHDOG_USEC": "1000000"])
        defer { pair.lab.tearDown() }

        let ready = try XCTUnwrap(listener.next(timeout: 15), "no datagram: \(pair.lab.log("edge.log"))")
        XCTAssertTrue(ready.hasPrefix("READY=1\nSTATUS=\(pair.edgeInterface) up on UDP port 51820; policy generation 1 in force"), ready)
        // Readiness means the interface answers: the UAPI socket exists and has the key.
        let show = try pair.lab.exec("edge", ["wg", "show", pair.edgeInterface, "public-key"])
        XCTAssertEqual(show.output.trimmingCharacters(in: .whitespacesAndNewlines), pair.edgeKeys.publicKey)

        let pings = listener.collect(for: 2.2)
        XCTAssertGreaterThanOrEqual(pings.filter { $0 == "WATCHDOG=1" }.count, 3, "\(pings)")

        kill(pair.edge.processIdentifier, SIGHUP)
        let reload = try XCTUnwrap(waitFor(listener, prefix: "RELOADING=1"), pair.lab.log("edge.log"))
        XCTAssertTrue(reload.contains("\nMONOTONIC_USEC="), reload)
        XCTAssertTrue(reload.contains("STATUS=reloading the policy (SIGHUP)"), reload)
        let reloaded = try XCTUnwrap(waitFor(listener, prefix: "READY=1"), pair.lab.log("edge.log"))
        XCTAssertEqual(reloaded, "READY=1\nSTATUS=policy generation 2 in force")

        XCTAssertTrue(pair.lab.stop(pair.edge, grace: 10), "ztpd did not stop on SIGTERM")
        XCTAssertNotNil(waitFor(listener, prefix: "STOPPING=1"), pair.lab.log("edge.log"))
    }

    func testJSONLogOfAWholeRunParsesLineByLineAndHoldsNoKey() throws {
        let pair = try startPair(environment: [:])
        defer { pair.lab.tearDown() }
        // A session (handshake with the preshared key), traffic, a UAPI read, a reload, a stop.
        XCTAssertTrue(
            eventually(15) { (try? pair.lab.exec("client", ["ping", "-c", "1", "-W", "1", "10.99.9.1"]).succeeded) == true },
            "no ping through the tunnel:\n\(pair.lab.log("edge.log"))\n\(pair.lab.log("client.log"))")
        XCTAssertTrue(try pair.lab.exec("edge", ["wg", "show", pair.edgeInterface]).succeeded)
        kill(pair.edge.processIdentifier, SIGHUP)
        XCTAssertTrue(eventually(10) { pair.lab.log("edge.log").contains("policy generation 2 loaded") }, pair.lab.log("edge.log"))
        XCTAssertTrue(pair.lab.stop(pair.edge, grace: 10))
        XCTAssertTrue(pair.lab.stop(pair.client, grace: 10))

        for name in ["edge.log", "client.log"] {
            let log = pair.lab.log(name)
            let lines = log.split(separator: "\n", omittingEmptySubsequences: true)
            XCTAssertGreaterThan(lines.count, 5, "\(name) is nearly empty: \(log)")
            var messages: [String] = []
            for line in lines {
                guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                    XCTFail("\(name): not a JSON object: \(line)")
                    continue
                }
                for key in ["time", "level", "label", "message"] {
                    XCTAssertNotNil(object[key] as? String, "\(name): no \(key) in \(line)")
                }
                messages.append(object["message"] as? String ?? "")
            }
            XCTAssertTrue(messages.contains("interface up"), "\(name): \(messages)")
            XCTAssertTrue(messages.contains("stopped"), "\(name): \(messages)")
            for (what, secret) in [("edge private key", pair.edgeKeys.privateKey), ("client private key", pair.clientKeys.privateKey),
                                   ("preshared key", pair.presharedKey)] {
                XCTAssertFalse(log.contains(secret), "\(name) holds the \(what)")
                XCTAssertFalse(log.contains(Self.hex(secret)), "\(name) holds the \(what) in hex")
            }
        }
        XCTAssertTrue(pair.lab.log("edge.log").contains("policy generation 2 loaded"))
        XCTAssertTrue(pair.lab.log("edge.log").contains("\"session established: client ("), "the run had no session")
        XCTAssertTrue(pair.lab.log("edge.log").contains(pair.clientKeys.publicKey), "the log names peers by public key")
    }

    /// Reads datagrams until one starts with `prefix` (10 s at most).
    private func waitFor(_ listener: NotifyListener, prefix: String) -> String? {
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            guard let m = listener.next(timeout: max(0.01, deadline.timeIntervalSinceNow)) else { return nil }
            if m.hasPrefix(prefix) { return m }
        }
        return nil
    }

    /// A base64 key as the UAPI writes it (lowercase hex).
    private static func hex(_ base64: String) -> String {
        (Data(base64Encoded: base64) ?? Data()).map { String(format: "%02x", $0) }.joined()
    }
}
