import Foundation
import XCTest
@testable import Tunnel

/// Our ztpd against Debian's wireguard-go, each in its own network namespace joined by
/// a veth pair (see ``NetTestbed``). Tunnel addresses: ztpd 10.99.0.1, wireguard-go
/// 10.99.0.2. Skips loudly when not root or when TUN / ip / wireguard-go / wg is missing.
final class InteropTests: XCTestCase {
    private static let ourTunnelAddress = "10.99.0.1"
    private static let theirTunnelAddress = "10.99.0.2"
    private static let ourTunnelAddress6 = "fd00:99::1"
    private static let theirTunnelAddress6 = "fd00:99::2"
    private static let ourPort = 51821
    private static let theirPort = 51820

    private var testbed: NetTestbed?

    override func tearDown() {
        testbed?.tearDown()
        testbed = nil
        super.tearDown()
    }

    /// The ztpd binary built next to the test bundle.
    private func ztpdPath() throws -> String {
        let bundle = Bundle.main.bundleURL
        let candidates = [
            bundle.appendingPathComponent("ztpd"),
            bundle.deletingLastPathComponent().appendingPathComponent("ztpd"),
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("ztpd"),
        ] + Bundle.allBundles.map { $0.bundleURL.deletingLastPathComponent().appendingPathComponent("ztpd") }
        guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0.path) }) else {
            throw TestbedError("ztpd binary not found next to the test bundle (looked in \(candidates.map(\.path)))")
        }
        return found.path
    }

    private struct Setup {
        let testbed: NetTestbed
        let ours: PrivateKey
        let theirs: PrivateKey
        let ztpd: Process
        let ourInterface: String
        let theirInterface: String
    }

    /// Starts wireguard-go in `right` and ztpd in `left`, configured for each other.
    private func startPeers(weInitiate: Bool, presharedKey: SymmetricKey? = nil, ipv6Underlay: Bool = false) throws -> Setup {
        let tools = try NetTestbed.requireEnvironment(tools: ["ip", "wireguard-go", "wg", "ping"])
        let ztpd = try ztpdPath()
        let testbed = try NetTestbed()
        self.testbed = testbed
        let ours = PrivateKey(), theirs = PrivateKey()
        let theirInterface = "wgg-\(testbed.suffix)", ourInterface = "ztp-\(testbed.suffix)"

        // wireguard-go on the right.
        _ = try testbed.spawn(testbed.right, [tools["wireguard-go"]!, theirInterface], log: "wireguard-go.log",
                              environment: ["WG_PROCESS_FOREGROUND": "1", "LOG_LEVEL": "debug"])
        let theirSocket = "/var/run/wireguard/\(theirInterface).sock"
        XCTAssertTrue(NetTestbed.eventually(10) { FileManager.default.fileExists(atPath: theirSocket) },
                      "wireguard-go did not create \(theirSocket): \(testbed.log("wireguard-go.log"))")
        let theirKeyFile = try testbed.writeSecret("theirs.key", theirs.base64 + "\n")
        var wgSet = [tools["wg"]!, "set", theirInterface, "private-key", theirKeyFile, "listen-port", "\(Self.theirPort)",
                     "peer", ours.publicKey.base64, "allowed-ips", "\(Self.ourTunnelAddress)/32,\(Self.ourTunnelAddress6)/128"]
        if let presharedKey { wgSet += ["preshared-key", try testbed.writeSecret("psk", presharedKey.base64 + "\n")] }
        if !weInitiate {
            wgSet += ["endpoint", ipv6Underlay ? "[\(NetTestbed.leftUnderlay6)]:\(Self.ourPort)" : "\(NetTestbed.leftUnderlay):\(Self.ourPort)"]
        }
        let set = try testbed.exec(testbed.right, wgSet)
        XCTAssertEqual(set.status, 0, "wg set failed: \(set.output)")
        try testbed.ip(["-n", testbed.right, "addr", "add", "\(Self.theirTunnelAddress)/24", "dev", theirInterface])
        try testbed.ip(["-n", testbed.right, "addr", "add", "\(Self.theirTunnelAddress6)/64", "dev", theirInterface, "nodad"])
        try testbed.ip(["-n", testbed.right, "link", "set", theirInterface, "up"])

        // ztpd on the left.
        var config = """
            [Interface]
            PrivateKey = \(ours.base64)
            ListenPort = \(Self.ourPort)

            [Peer]
            PublicKey = \(theirs.publicKey.base64)
            AllowedIPs = \(Self.theirTunnelAddress)/32, \(Self.theirTunnelAddress6)/128

            """
        if let presharedKey { config += "PresharedKey = \(presharedKey.base64)\n" }
        if weInitiate {
            let endpoint = ipv6Underlay ? "[\(NetTestbed.rightUnderlay6)]:\(Self.theirPort)" : "\(NetTestbed.rightUnderlay):\(Self.theirPort)"
            config += "Endpoint = \(endpoint)\n"
        }
        let configPath = try testbed.writeSecret("ztpd.conf", config)
        let process = try testbed.spawn(testbed.left, [ztpd, ourInterface, "--config", configPath, "--log-level", "debug"],
                                        log: "ztpd.log")
        let ourSocket = "/var/run/wireguard/\(ourInterface).sock"
        XCTAssertTrue(NetTestbed.eventually(10) { FileManager.default.fileExists(atPath: ourSocket) || !process.isRunning },
                      "ztpd did not start")
        guard process.isRunning else { throw TestbedError("ztpd exited: \(testbed.log("ztpd.log"))") }
        try testbed.ip(["-n", testbed.left, "addr", "add", "\(Self.ourTunnelAddress)/24", "dev", ourInterface])
        try testbed.ip(["-n", testbed.left, "addr", "add", "\(Self.ourTunnelAddress6)/64", "dev", ourInterface, "nodad"])
        return Setup(testbed: testbed, ours: ours, theirs: theirs, ztpd: process,
                     ourInterface: ourInterface, theirInterface: theirInterface)
    }

    /// Stops ztpd with SIGTERM and checks it shut down cleanly and never logged its key.
    private func stopAndCheck(_ setup: Setup) {
        setup.ztpd.terminate()
        XCTAssertTrue(NetTestbed.wait(setup.ztpd, seconds: 5), "ztpd did not exit on SIGTERM")
        if !setup.ztpd.isRunning {
            XCTAssertEqual(setup.ztpd.terminationStatus, 0, "ztpd exit status; log:\n\(setup.testbed.log("ztpd.log"))")
        }
        let log = setup.testbed.log("ztpd.log")
        XCTAssertFalse(log.contains(setup.ours.base64), "ztpd logged its private key")
        XCTAssertTrue(log.contains("session established"), log)
        XCTAssertFalse(FileManager.default.fileExists(atPath: "/var/run/wireguard/\(setup.ourInterface).sock"),
                       "UAPI socket left behind")
    }

    private func diagnostics(_ setup: Setup) -> String {
        "\n--- ztpd.log ---\n\(setup.testbed.log("ztpd.log"))\n--- wireguard-go.log ---\n\(setup.testbed.log("wireguard-go.log"))"
    }

    func testPingWhenWeInitiate() throws {
        let setup = try startPeers(weInitiate: true)
        let ping = try setup.testbed.exec(setup.testbed.left, ["ping", "-c", "3", "-W", "2", Self.theirTunnelAddress])
        XCTAssertEqual(ping.status, 0, "ping from ztpd's side failed: \(ping.output)\(diagnostics(setup))")
        XCTAssertTrue(ping.output.contains("3 received"), ping.output)
        // wireguard-go saw our handshake and data.
        let show = try setup.testbed.exec(setup.testbed.right, ["wg", "show", setup.theirInterface, "latest-handshakes"])
        XCTAssertTrue(show.output.contains(setup.ours.publicKey.base64), show.output)
        XCTAssertFalse(show.output.contains("\t0\n"), "wireguard-go reports no handshake: \(show.output)")

        // Cryptokey routing, inbound: a packet from wireguard-go whose inner source is not
        // in the peer's allowed IPs (10.99.0.2/32) authenticates but must be dropped.
        try setup.testbed.ip(["-n", setup.testbed.right, "addr", "add", "10.99.0.77/32", "dev", setup.theirInterface])
        let spoofed = try setup.testbed.exec(setup.testbed.right, ["ping", "-c", "2", "-W", "1", "-I", "10.99.0.77",
                                                                   Self.ourTunnelAddress])
        XCTAssertNotEqual(spoofed.status, 0, "a packet from a disallowed source got through: \(spoofed.output)")
        XCTAssertTrue(NetTestbed.eventually(3) { setup.testbed.log("ztpd.log").contains("disallowed source 10.99.0.77") },
                      diagnostics(setup))
        stopAndCheck(setup)
    }

    func testPingWhenWireGuardGoInitiates() throws {
        let setup = try startPeers(weInitiate: false)
        let ping = try setup.testbed.exec(setup.testbed.right, ["ping", "-c", "3", "-W", "2", Self.ourTunnelAddress])
        XCTAssertEqual(ping.status, 0, "ping from wireguard-go's side failed: \(ping.output)\(diagnostics(setup))")
        XCTAssertTrue(ping.output.contains("3 received"), ping.output)
        // Our side learned wireguard-go's endpoint from its authenticated packets (roaming),
        // and `wg show` works on our interface through the UAPI socket.
        let show = try setup.testbed.exec(setup.testbed.left, ["wg", "show", setup.ourInterface, "endpoints"])
        XCTAssertEqual(show.status, 0, show.output)
        XCTAssertTrue(show.output.contains("\(NetTestbed.rightUnderlay):\(Self.theirPort)"), show.output)
        // `wg set` through our UAPI changes the peer without dropping the session.
        let set = try setup.testbed.exec(setup.testbed.left, ["wg", "set", setup.ourInterface, "peer",
                                                              setup.theirs.publicKey.base64, "persistent-keepalive", "7"])
        XCTAssertEqual(set.status, 0, set.output)
        let keepalive = try setup.testbed.exec(setup.testbed.left, ["wg", "show", setup.ourInterface, "persistent-keepalive"])
        XCTAssertTrue(keepalive.output.contains("\t7"), keepalive.output)
        // And we can ping back over the session wireguard-go started.
        let back = try setup.testbed.exec(setup.testbed.left, ["ping", "-c", "2", "-W", "2", Self.theirTunnelAddress])
        XCTAssertEqual(back.status, 0, "ping back failed: \(back.output)\(diagnostics(setup))")
        stopAndCheck(setup)
    }

    /// IPv6 inside and outside: the dual-stack socket with an IPv6 endpoint, IPv6 routing.
    func testIPv6OverIPv6BothDirections() throws {
        let setup = try startPeers(weInitiate: true, ipv6Underlay: true)
        let ping = try setup.testbed.exec(setup.testbed.left, ["ping", "-6", "-c", "3", "-W", "2", Self.theirTunnelAddress6])
        XCTAssertEqual(ping.status, 0, "ping -6 from ztpd's side failed: \(ping.output)\(diagnostics(setup))")
        let back = try setup.testbed.exec(setup.testbed.right, ["ping", "-6", "-c", "2", "-W", "2", Self.ourTunnelAddress6])
        XCTAssertEqual(back.status, 0, "ping -6 from wireguard-go's side failed: \(back.output)\(diagnostics(setup))")
        // IPv4 inside the same IPv6-carried session.
        let v4 = try setup.testbed.exec(setup.testbed.left, ["ping", "-c", "2", "-W", "2", Self.theirTunnelAddress])
        XCTAssertEqual(v4.status, 0, v4.output)
        let show = try setup.testbed.exec(setup.testbed.right, ["wg", "show", setup.theirInterface, "endpoints"])
        XCTAssertTrue(show.output.contains("[\(NetTestbed.leftUnderlay6)]:\(Self.ourPort)"), show.output)
        stopAndCheck(setup)
    }

    /// A few MB each way over TCP with a preshared key, checked by SHA-256.
    func testBoundedTCPTransferBothWaysWithPresharedKey() throws {
        guard let python = NetTestbed.which("python3") else {
            throw XCTSkip("INTEROP TEST SKIPPED: python3 is not installed (needed for the TCP transfer)")
        }
        let setup = try startPeers(weInitiate: true, presharedKey: SymmetricKey())
        let script = try setup.testbed.writeSecret("xfer.py", Self.transferScript)
        let size = 4 * 1024 * 1024
        _ = try setup.testbed.spawn(setup.testbed.right, [python, script, "server", Self.theirTunnelAddress, "5555", "\(size)"],
                                    log: "server.log")
        let client = try setup.testbed.exec(setup.testbed.left,
                                            [python, script, "client", Self.theirTunnelAddress, "5555", "\(size)"], timeout: 60)
        XCTAssertEqual(client.status, 0, "transfer failed: \(client.output)\n--- server ---\n\(setup.testbed.log("server.log"))\(diagnostics(setup))")
        XCTAssertTrue(client.output.contains("upload sha256 ok"), client.output)
        XCTAssertTrue(client.output.contains("download sha256 ok"), client.output)
        stopAndCheck(setup)
    }

    /// Client sends `size` seeded bytes; the server answers with their SHA-256, then sends
    /// `size` bytes of its own seeded stream, which the client hashes and compares.
    private static let transferScript = #"""
        import hashlib, random, socket, sys, time
        mode, host, port, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
        up = random.Random(1).randbytes(size)
        down = random.Random(2).randbytes(size)
        def recv_exact(s, n):
            chunks, got = [], 0
            while got < n:
                c = s.recv(min(65536, n - got))
                if not c: raise SystemExit("connection closed after %d of %d bytes" % (got, n))
                chunks.append(c); got += len(c)
            return b"".join(chunks)
        if mode == "server":
            l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            l.bind((host, port)); l.listen(1); l.settimeout(60)
            c, _ = l.accept(); c.settimeout(30)
            data = recv_exact(c, size)
            c.sendall(hashlib.sha256(data).digest())
            c.sendall(down)
            c.shutdown(socket.SHUT_WR); c.recv(1); c.close()
            print("server done")
        else:
            deadline = time.time() + 10
            while True:
                try:
                    s = socket.create_connection((host, port), timeout=5); break
                except OSError:
                    if time.time() > deadline: raise
                    time.sleep(0.2)
            s.settimeout(30)
            s.sendall(up)
            digest = recv_exact(s, 32)
            if digest != hashlib.sha256(up).digest(): raise SystemExit("upload sha256 MISMATCH")
            print("upload sha256 ok")
            got = recv_exact(s, size)
            if hashlib.sha256(got).digest() != hashlib.sha256(down).digest(): raise SystemExit("download sha256 MISMATCH")
            print("download sha256 ok")
            s.close()
        """#
}
