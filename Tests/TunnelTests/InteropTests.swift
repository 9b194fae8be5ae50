import Foundation
import NetTestSupport
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
    static func ztpdPath() throws -> String { try NetEnvironment.builtProduct("ztpd") }

    private struct Setup {
        let testbed: NetTestbed
        let ours: PrivateKey
        let theirs: PrivateKey
        let ztpd: Process
        let ourInterface: String
        let theirInterface: String
    }

    /// Starts wireguard-go in `right` and ztpd in `left`, configured for each other.
    /// With `xdpGuard`, ztpd guards its veth with the XDP program of this checkout (built by
    /// `bpf/build.sh` into the testbed's directory); skips loudly without clang.
    private func startPeers(weInitiate: Bool, presharedKey: SymmetricKey? = nil, ipv6Underlay: Bool = false,
                            ztpdArguments: [String] = [], xdpGuard: Bool = false) throws -> Setup {
        let tools = try NetTestbed.requireEnvironment(tools: ["ip", "wireguard-go", "wg", "ping"])
        let ztpd = try Self.ztpdPath()
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
        var arguments = [ztpd, ourInterface, "--foreground", "--config", configPath, "--log-level", "debug"] + ztpdArguments
        var environment: [String: String]?
        if xdpGuard {
            environment = ["ZTP_XDP_OBJECT": try Self.buildXDPObject(into: testbed)]
            arguments += ["--xdp-interface", "vzL-\(testbed.suffix)"]
        }
        let process = try testbed.spawn(testbed.left, arguments, log: "ztpd.log", environment: environment)
        let ourSocket = "/var/run/wireguard/\(ourInterface).sock"
        XCTAssertTrue(NetTestbed.eventually(10) { FileManager.default.fileExists(atPath: ourSocket) || !process.isRunning },
                      "ztpd did not start")
        guard process.isRunning else { throw NetLabError("ztpd exited: \(testbed.log("ztpd.log"))") }
        try testbed.ip(["-n", testbed.left, "addr", "add", "\(Self.ourTunnelAddress)/24", "dev", ourInterface])
        try testbed.ip(["-n", testbed.left, "addr", "add", "\(Self.ourTunnelAddress6)/64", "dev", ourInterface, "nodad"])
        return Setup(testbed: testbed, ours: ours, theirs: theirs, ztpd: process,
                     ourInterface: ourInterface, theirInterface: theirInterface)
    }

    /// Compiles `bpf/ztp_xdp.c` of this checkout into the testbed's directory.
    private static func buildXDPObject(into testbed: NetTestbed) throws -> String {
        guard NetTestbed.which("clang") != nil else {
            throw XCTSkip("INTEROP TEST SKIPPED: clang is not installed (needed to build the XDP guard; apt-get install clang llvm libbpf-dev)")
        }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let output = testbed.directory.appendingPathComponent("ztp_xdp.o").path
        let build = try NetTestbed.run("/bin/bash", [root.appendingPathComponent("bpf/build.sh").path, output], timeout: 120)
        guard build.status == 0 else { throw NetLabError("bpf/build.sh failed: \(build.output)") }
        return output
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
        // ZTPD_OFFLOAD (inherited by ztpd) picks the data path the whole class runs on.
        if DataPathOffloads.fromTestEnvironment == .plain {
            XCTAssertTrue(log.contains("plain data path"), "ZTPD_OFFLOAD=off did not reach ztpd: \(log)")
        } else {
            XCTAssertTrue(log.contains("TUN offloads on") || log.contains("TUN offloads refused"), log)
        }
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

    /// wireguard-go pads a packet to 16 bytes only up to its MTU, so a full-MTU inner packet
    /// (1420 bytes at MTU 1420) is sealed unpadded: 1,436 bytes of ciphertext, not 16 plus a
    /// multiple of 16. Such a packet, and the largest IPv6 one, must cross the XDP guard
    /// on ztpd's underlay, in both directions, with don't-fragment set.
    func testFullMTUPacketsFromWireGuardGoPassTheXDPGuard() throws {
        let setup = try startPeers(weInitiate: false, xdpGuard: true)
        let testbed = setup.testbed
        XCTAssertTrue(NetTestbed.eventually(5) { testbed.log("ztpd.log").contains("XDP guard on vzL-\(testbed.suffix)") },
                      "the XDP guard was not attached\(diagnostics(setup))")
        // 1,392 + 8 + 20 = 1,420 (IPv4) and 1,372 + 8 + 40 = 1,420 (IPv6); 1,373 + 28 = 1,401 pads to 1,408.
        for (family, address, size) in [("-4", Self.ourTunnelAddress, 1392), ("-4", Self.ourTunnelAddress, 1373),
                                        ("-6", Self.ourTunnelAddress6, 1372)] {
            let ping = try testbed.exec(testbed.right, ["ping", family, "-c", "3", "-i", "0.2", "-W", "2", "-M", "do",
                                                        "-s", "\(size)", address])
            XCTAssertEqual(ping.status, 0, "ping \(family) -s \(size) from wireguard-go's side failed: \(ping.output)\(diagnostics(setup))")
        }
        let back = try testbed.exec(testbed.left, ["ping", "-c", "3", "-i", "0.2", "-W", "2", "-M", "do", "-s", "1392",
                                                   Self.theirTunnelAddress])
        XCTAssertEqual(back.status, 0, "ping -s 1392 from ztpd's side failed: \(back.output)\(diagnostics(setup))")
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

    // MARK: Rekey, roaming, replay, wg tooling, garbage, DoS (issue 3, tests 3-7 and the flood)

    /// Our interface's counters, from ztpd's `ztp-stats=1` UAPI request: the global ones,
    /// and the peer's (keys prefixed `peer.`).
    private func ztpStatistics(_ setup: Setup) throws -> [String: String] {
        try Self.ztpStatistics(interface: setup.ourInterface)
    }

    /// ztpd's counters from its UAPI socket (`ztp-stats=1`), per-peer ones prefixed `peer.`.
    static func ztpStatistics(interface: String) throws -> [String: String] {
        let reply = try NetTestbed.uapiRequest("/var/run/wireguard/\(interface).sock", "ztp-stats=1\n\n")
        var result: [String: String] = [:]
        var prefix = ""
        for line in reply.split(separator: "\n") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            let key = String(line[..<equals]), value = String(line[line.index(after: equals)...])
            if key == "peer" { prefix = "peer."; continue }
            result[prefix + key] = value
        }
        guard result["errno"] == "0" || result["peer.errno"] == "0" else { throw NetLabError("ztp-stats failed: \(reply)") }
        return result
    }

    private func counter(_ stats: [String: String], _ key: String) -> UInt64 { UInt64(stats[key] ?? "") ?? 0 }

    private func python() throws -> String {
        guard let python = NetTestbed.which("python3") else {
            throw XCTSkip("INTEROP TEST SKIPPED: python3 is not installed (needed for transfers and crafted packets)")
        }
        return python
    }

    /// Test 3: with the timers scaled to 1/40 (REKEY_AFTER_TIME 3 s, REJECT_AFTER_TIME 4.5 s)
    /// keys rotate several times during a 12-second stream that arrives intact.
    func testKeysRotateDuringAContinuousTransferThatLosesNothing() throws {
        let python = try python()
        let setup = try startPeers(weInitiate: true, ztpdArguments: ["--test-timers-scale", "0.025"])
        let script = try setup.testbed.writeSecret("stream.py", Self.streamScript)
        _ = try setup.testbed.spawn(setup.testbed.right, [python, script, "server", Self.theirTunnelAddress, "5556"], log: "server.log")
        // 12 s at about 1.5 MB/s; the total is bounded by the script as well.
        let client = try setup.testbed.exec(setup.testbed.left,
                                            [python, script, "client", Self.theirTunnelAddress, "5556", "12", "1500000"], timeout: 60)
        XCTAssertEqual(client.status, 0, "stream failed: \(client.output)\n--- server ---\n\(setup.testbed.log("server.log"))\(diagnostics(setup))")
        XCTAssertTrue(client.output.contains("stream sha256 ok"), client.output)
        let stats = try ztpStatistics(setup)
        XCTAssertGreaterThanOrEqual(counter(stats, "handshakes"), 4, "keys did not rotate several times: \(stats)")
        XCTAssertGreaterThanOrEqual(counter(stats, "handshake_initiations_sent"), 4, "\(stats)")
        XCTAssertLessThanOrEqual(counter(stats, "handshakes"), 12, "far more handshakes than 12 s / 3 s: \(stats)")
        XCTAssertTrue(client.output.contains("bytes="), client.output)
        stopAndCheck(setup)
    }

    /// Test 4, roaming: mid-transfer, our (the client's) underlay address changes; our
    /// datagrams leave from the new address at once, wireguard-go follows them without a
    /// new handshake, and the transfer completes intact. (Our side following a peer that
    /// moves is ``RuntimeSessionTests/testEndpointFollowsAPeerWhoseSourceChanges``:
    /// wireguard-go itself, moved, keeps sending from its old source address until its
    /// 15-second handshake retry, which makes it a poor subject.)
    func testTrafficResumesWhenUnderlayAddressesChangeMidTransfer() throws {
        let python = try python()
        let setup = try startPeers(weInitiate: true)
        let testbed = setup.testbed
        let script = try testbed.writeSecret("stream.py", Self.streamScript)
        // The new address must survive deleting the old primary one.
        _ = try testbed.exec(testbed.left, ["sysctl", "-qw", "net.ipv4.conf.vzL-\(testbed.suffix).promote_secondaries=1"])
        _ = try testbed.spawn(testbed.right, [python, script, "server", Self.theirTunnelAddress, "5557"], log: "server.log")
        let client = try testbed.spawn(testbed.left, [python, script, "client", Self.theirTunnelAddress, "5557", "10", "1000000"],
                                       log: "client.log")
        func sent() -> UInt64 { (try? ztpStatistics(setup)).map { counter($0, "tx_bytes") } ?? 0 }
        XCTAssertTrue(NetTestbed.eventually(10) { sent() > 1_000_000 },
                      "transfer did not get going: \(testbed.log("client.log"))\(diagnostics(setup))")

        // Our address moves: 10.201.0.1 -> 10.201.0.3.
        let moved = "10.201.0.3"
        try testbed.ip(["-n", testbed.left, "addr", "add", "\(moved)/24", "dev", "vzL-\(testbed.suffix)"])
        try testbed.ip(["-n", testbed.left, "addr", "del", "\(NetTestbed.leftUnderlay)/24", "dev", "vzL-\(testbed.suffix)"])
        let mark = sent()
        XCTAssertTrue(NetTestbed.eventually(5) {
            ((try? testbed.exec(testbed.right, ["wg", "show", setup.theirInterface, "endpoints"]).output) ?? "")
                .contains("\(moved):\(Self.ourPort)")
        }, "wireguard-go did not follow our move\(diagnostics(setup))")
        XCTAssertTrue(NetTestbed.eventually(5) { sent() > mark + 500_000 }, "no traffic after our move")
        XCTAssertEqual(counter(try ztpStatistics(setup), "handshakes"), 1, "our move needed no new handshake")

        XCTAssertTrue(NetTestbed.wait(client, seconds: 40), "client did not finish")
        XCTAssertEqual(client.terminationStatus, 0, testbed.log("client.log") + diagnostics(setup))
        XCTAssertTrue(testbed.log("client.log").contains("stream sha256 ok"), testbed.log("client.log"))
        stopAndCheck(setup)
    }

    /// Test 5: a transport message captured on the wire and sent again is dropped, counted
    /// as replayed, and moves neither the session nor the endpoint.
    func testReplayedTransportPacketIsDroppedAndCounted() throws {
        let python = try python()
        guard let tcpdump = NetTestbed.which("tcpdump") else {
            throw XCTSkip("INTEROP TEST SKIPPED: tcpdump is not installed (needed to capture a packet)")
        }
        let setup = try startPeers(weInitiate: true)
        let testbed = setup.testbed
        let capture = testbed.directory.appendingPathComponent("capture.pcap").path
        let dump = try testbed.spawn(testbed.left, [tcpdump, "-i", "vzL-\(testbed.suffix)", "-U", "-n", "-c", "8", "-w", capture,
                                                    "udp and src port \(Self.theirPort) and greater 100"], log: "tcpdump.log")
        XCTAssertTrue(NetTestbed.eventually(10) { testbed.log("tcpdump.log").contains("listening on") }, testbed.log("tcpdump.log"))
        let ping = try testbed.exec(testbed.left, ["ping", "-c", "5", "-i", "0.2", "-W", "2", Self.theirTunnelAddress])
        XCTAssertEqual(ping.status, 0, ping.output + diagnostics(setup))
        XCTAssertTrue(NetTestbed.wait(dump, seconds: 5) || { dump.terminate(); return NetTestbed.wait(dump, seconds: 3) }())
        let before = try ztpStatistics(setup)
        XCTAssertEqual(counter(before, "drop_replayed"), 0, "\(before)")
        let script = try testbed.writeSecret("replay.py", Self.replayScript)
        let replay = try testbed.exec(testbed.right, [python, script, capture, NetTestbed.leftUnderlay, "\(Self.ourPort)", "3"])
        XCTAssertEqual(replay.status, 0, replay.output)
        XCTAssertTrue(replay.output.contains("replayed 3"), replay.output)
        XCTAssertTrue(NetTestbed.eventually(3) { ((try? self.ztpStatistics(setup)).map { self.counter($0, "drop_replayed") } ?? 0) == 3 },
                      "replays not counted: \((try? ztpStatistics(setup)) ?? [:])")
        let after = try ztpStatistics(setup)
        XCTAssertEqual(counter(after, "peer.drop_replayed"), 3, "\(after)")
        XCTAssertEqual(counter(after, "handshakes"), counter(before, "handshakes"))
        let show = try testbed.exec(testbed.left, ["wg", "show", setup.ourInterface, "endpoints"])
        XCTAssertTrue(show.output.contains("\(NetTestbed.rightUnderlay):\(Self.theirPort)"), "a replay moved the endpoint: \(show.output)")
        let again = try testbed.exec(testbed.left, ["ping", "-c", "2", "-W", "2", Self.theirTunnelAddress])
        XCTAssertEqual(again.status, 0, again.output + diagnostics(setup))
        stopAndCheck(setup)
    }

    /// Test 6: `wg show` reports endpoint, latest handshake and transfer; `wg set` adds and
    /// removes a peer live; `wg showconf` output goes back in through `wg setconf`.
    func testWgShowSetShowconfAndSetconfOnOurInterface() throws {
        let setup = try startPeers(weInitiate: true)
        let testbed = setup.testbed, interface = setup.ourInterface
        let ping = try testbed.exec(testbed.left, ["ping", "-c", "3", "-W", "2", Self.theirTunnelAddress])
        XCTAssertEqual(ping.status, 0, ping.output + diagnostics(setup))

        let dump = try testbed.exec(testbed.left, ["wg", "show", interface, "dump"])
        XCTAssertEqual(dump.status, 0, dump.output)
        let lines = dump.output.split(separator: "\n").map { $0.split(separator: "\t").map(String.init) }
        XCTAssertEqual(lines.first?[1], setup.ours.publicKey.base64, dump.output)
        XCTAssertEqual(lines.first?[2], "\(Self.ourPort)", dump.output)
        guard lines.count == 2, lines[1].count == 8 else { return XCTFail("unexpected dump: \(dump.output)") }
        let peer = lines[1]
        XCTAssertEqual(peer[0], setup.theirs.publicKey.base64)
        XCTAssertEqual(peer[2], "\(NetTestbed.rightUnderlay):\(Self.theirPort)")
        XCTAssertEqual(peer[3], "\(Self.theirTunnelAddress)/32,\(Self.theirTunnelAddress6)/128")
        let handshake = Int(peer[4]) ?? 0, now = Int(Date().timeIntervalSince1970)
        XCTAssertTrue((now - 60)...(now + 1) ~= handshake, "latest handshake \(handshake) is not recent (now \(now))")
        let rx = UInt64(peer[5]) ?? 0, tx = UInt64(peer[6]) ?? 0
        // Three echo requests and replies of 84-byte IP packets: 128-byte transport messages.
        XCTAssertGreaterThanOrEqual(rx, 3 * 128, dump.output)
        XCTAssertGreaterThanOrEqual(tx, 3 * 128, dump.output)
        XCTAssertLessThan(rx + tx, 100_000, dump.output)
        // Our counters agree with wireguard-go's view of the same session (keepalives aside).
        let theirs = try testbed.exec(testbed.right, ["wg", "show", setup.theirInterface, "transfer"])
        let theirFields = theirs.output.split(whereSeparator: { $0 == "\t" || $0 == "\n" }).map(String.init)
        XCTAssertEqual(theirFields.count, 3, theirs.output)
        if theirFields.count == 3, let theirRx = UInt64(theirFields[1]), let theirTx = UInt64(theirFields[2]) {
            XCTAssertLessThanOrEqual(max(theirRx, tx) - min(theirRx, tx), 2 * 128, "our tx \(tx) vs their rx \(theirRx)")
            XCTAssertLessThanOrEqual(max(theirTx, rx) - min(theirTx, rx), 2 * 128, "our rx \(rx) vs their tx \(theirTx)")
        }

        let extra = PrivateKey().publicKey.base64
        let add = try testbed.exec(testbed.left, ["wg", "set", interface, "peer", extra, "allowed-ips", "10.99.0.50/32",
                                                  "endpoint", "10.201.0.9:4444", "persistent-keepalive", "0"])
        XCTAssertEqual(add.status, 0, add.output)
        var peers = try testbed.exec(testbed.left, ["wg", "show", interface, "peers"])
        XCTAssertEqual(Set(peers.output.split(separator: "\n").map(String.init)), [setup.theirs.publicKey.base64, extra])
        let allowed = try testbed.exec(testbed.left, ["wg", "show", interface, "allowed-ips"])
        XCTAssertTrue(allowed.output.contains("\(extra)\t10.99.0.50/32"), allowed.output)
        let remove = try testbed.exec(testbed.left, ["wg", "set", interface, "peer", extra, "remove"])
        XCTAssertEqual(remove.status, 0, remove.output)
        peers = try testbed.exec(testbed.left, ["wg", "show", interface, "peers"])
        XCTAssertEqual(peers.output.split(separator: "\n").map(String.init), [setup.theirs.publicKey.base64])
        // The live session survived the neighbour's coming and going.
        let still = try testbed.exec(testbed.left, ["ping", "-c", "1", "-W", "2", Self.theirTunnelAddress])
        XCTAssertEqual(still.status, 0, still.output + diagnostics(setup))

        let showconf = try testbed.exec(testbed.left, ["wg", "showconf", interface])
        XCTAssertEqual(showconf.status, 0, showconf.output)
        XCTAssertTrue(showconf.output.contains("ListenPort = \(Self.ourPort)"), showconf.output)
        XCTAssertTrue(showconf.output.contains("PrivateKey = \(setup.ours.base64)"), "showconf lacks the key")
        XCTAssertTrue(showconf.output.contains("PublicKey = \(setup.theirs.publicKey.base64)"), showconf.output)
        XCTAssertTrue(showconf.output.contains("Endpoint = \(NetTestbed.rightUnderlay):\(Self.theirPort)"), showconf.output)
        // setconf with that configuration plus one more peer replaces the peer set.
        let newConf = try testbed.writeSecret("setconf.conf", showconf.output + "\n[Peer]\nPublicKey = \(extra)\nAllowedIPs = 10.99.0.51/32\n")
        let setconf = try testbed.exec(testbed.left, ["wg", "setconf", interface, newConf])
        XCTAssertEqual(setconf.status, 0, setconf.output)
        let after = try testbed.exec(testbed.left, ["wg", "show", interface, "allowed-ips"])
        XCTAssertTrue(after.output.contains("\(extra)\t10.99.0.51/32"), after.output)
        XCTAssertTrue(after.output.contains("\(setup.theirs.publicKey.base64)\t\(Self.theirTunnelAddress)/32"), after.output)
        // The replaced peer handshakes again and traffic flows.
        let back = try testbed.exec(testbed.left, ["ping", "-c", "2", "-W", "3", Self.theirTunnelAddress])
        XCTAssertEqual(back.status, 0, back.output + diagnostics(setup))
        stopAndCheck(setup)
    }

    /// Test 7: garbage, truncated, oversized and wrong-type datagrams on our port: ztpd
    /// neither crashes nor loses the session (no new handshake, same endpoint, pings flow).
    func testGarbageDatagramsNeitherCrashNorDisturbTheSession() throws {
        let python = try python()
        let setup = try startPeers(weInitiate: true)
        let testbed = setup.testbed
        let ping = try testbed.exec(testbed.left, ["ping", "-c", "2", "-W", "2", Self.theirTunnelAddress])
        XCTAssertEqual(ping.status, 0, ping.output + diagnostics(setup))
        let before = try ztpStatistics(setup)
        // A ping running through the barrage.
        let during = try testbed.spawn(testbed.left, ["ping", "-c", "20", "-i", "0.1", "-W", "2", Self.theirTunnelAddress],
                                       log: "ping.log")
        let script = try testbed.writeSecret("garbage.py", Self.garbageScript)
        let garbage = try testbed.exec(testbed.right, [python, script, NetTestbed.leftUnderlay, NetTestbed.leftUnderlay6,
                                                       "\(Self.ourPort)", setup.ours.publicKey.base64], timeout: 60)
        XCTAssertEqual(garbage.status, 0, garbage.output)
        XCTAssertTrue(garbage.output.contains("sent "), garbage.output)
        XCTAssertTrue(NetTestbed.wait(during, seconds: 15))
        XCTAssertTrue(setup.ztpd.isRunning, "ztpd died: \(diagnostics(setup))")
        XCTAssertEqual(during.terminationStatus, 0, testbed.log("ping.log"))
        XCTAssertTrue(testbed.log("ping.log").contains(" 0% packet loss"), testbed.log("ping.log"))
        let after = try ztpStatistics(setup)
        XCTAssertEqual(counter(after, "handshakes"), counter(before, "handshakes"), "the session was disturbed: \(after)")
        XCTAssertGreaterThan(counter(after, "drop_malformed_message"), 100, "\(after)")
        XCTAssertGreaterThan(counter(after, "drop_unknown_receiver"), 10, "\(after)")
        XCTAssertGreaterThan(counter(after, "drop_invalid_mac1"), 10, "\(after)")
        XCTAssertGreaterThan(counter(after, "drop_handshake_rejected"), 10, "\(after)")
        let show = try testbed.exec(testbed.left, ["wg", "show", setup.ourInterface, "endpoints"])
        XCTAssertTrue(show.output.contains("\(NetTestbed.rightUnderlay):\(Self.theirPort)"), show.output)
        stopAndCheck(setup)
    }

    /// DoS: a flood of initiations with valid MAC1 (from another address) puts ztpd under
    /// load; it answers with cookie replies instead of doing DH, and wireguard-go, which
    /// gets a cookie too, retries with MAC2 and completes its handshake during the flood.
    func testRealPeerCompletesItsHandshakeDuringAnInitiationFlood() throws {
        let python = try python()
        let setup = try startPeers(weInitiate: false, ztpdArguments: ["--under-load-threshold", "20"])
        let testbed = setup.testbed
        try testbed.ip(["-n", testbed.right, "addr", "add", "10.201.0.9/24", "dev", "vzR-\(testbed.suffix)"])
        let script = try testbed.writeSecret("flood.py", Self.floodScript)
        // 300 initiations a second for 12 s: bounded at 3600 datagrams.
        let flood = try testbed.spawn(testbed.right, [python, script, "10.201.0.9", NetTestbed.leftUnderlay, "\(Self.ourPort)",
                                                      setup.ours.publicKey.base64, "300", "12"], log: "flood.log")
        XCTAssertTrue(NetTestbed.eventually(5) {
            ((try? self.ztpStatistics(setup)).map { $0["under_load"] == "true" }) ?? false
        }, "flood did not put ztpd under load: \(testbed.log("flood.log"))")
        let ping = try testbed.exec(testbed.right, ["ping", "-c", "1", "-W", "1", "-w", "25", Self.ourTunnelAddress], timeout: 30)
        let stats = try ztpStatistics(setup)
        XCTAssertTrue(flood.isRunning, "the handshake should complete while the flood still runs: \(testbed.log("flood.log"))")
        XCTAssertEqual(ping.status, 0, "the real peer was starved: \(ping.output)\n\(stats)\(diagnostics(setup))")
        XCTAssertEqual(counter(stats, "handshakes"), 1, "\(stats)")
        XCTAssertGreaterThan(counter(stats, "cookie_replies_sent"), 100, "\(stats)")
        XCTAssertGreaterThan(counter(stats, "drop_cookie_required"), 100, "\(stats)")
        // Only what arrived before the load was noticed cost a DH.
        XCTAssertLessThan(counter(stats, "drop_handshake_rejected"), 200, "\(stats)")
        XCTAssertTrue(NetTestbed.wait(flood, seconds: 15))
        XCTAssertTrue(testbed.log("flood.log").contains("sent "), testbed.log("flood.log"))
        stopAndCheck(setup)
    }

    /// `client HOST PORT SECONDS RATE`: sends a seeded stream at about RATE bytes/s for
    /// SECONDS (at most 64 MB), then its SHA-256; the server hashes what arrives and
    /// answers ok or MISMATCH.
    private static let streamScript = #"""
        import hashlib, random, socket, sys, time
        mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
        CHUNK = 16384
        if mode == "server":
            l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            l.bind((host, port)); l.listen(1); l.settimeout(60)
            c, _ = l.accept(); c.settimeout(30)
            h, total, buf = hashlib.sha256(), 0, b""
            while True:
                d = c.recv(65536)
                if not d: break
                buf += d
                if len(buf) > 32:
                    h.update(buf[:-32]); total += len(buf) - 32; buf = buf[-32:]
            ok = buf == h.digest()
            c.sendall(b"ok" if ok else b"MISMATCH"); c.close()
            print("server bytes=%d %s" % (total, "ok" if ok else "MISMATCH"))
        else:
            seconds, rate = float(sys.argv[4]), float(sys.argv[5])
            deadline = time.time() + 10
            while True:
                try:
                    s = socket.create_connection((host, port), timeout=5); break
                except OSError:
                    if time.time() > deadline: raise
                    time.sleep(0.2)
            s.settimeout(30)
            rng, h, total, start = random.Random(3), hashlib.sha256(), 0, time.time()
            while time.time() - start < seconds and total < 64 * 1024 * 1024:
                chunk = rng.randbytes(CHUNK)
                s.sendall(chunk); h.update(chunk); total += len(chunk)
                ahead = total / rate - (time.time() - start)
                if ahead > 0: time.sleep(ahead)
            s.sendall(h.digest()); s.shutdown(socket.SHUT_WR)
            answer = s.recv(16)
            print("client bytes=%d seconds=%.1f" % (total, time.time() - start))
            if answer != b"ok": raise SystemExit("stream sha256 MISMATCH: %r" % answer)
            print("stream sha256 ok")
        """#

    /// `replay.py PCAP HOST PORT N`: sends the first WireGuard transport data message
    /// (type 4, longer than a keepalive) found in the capture N times to HOST:PORT.
    private static let replayScript = #"""
        import socket, struct, sys
        path, host, port, times = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
        data = open(path, "rb").read()
        magic = struct.unpack("<I", data[:4])[0]
        endian = "<" if magic in (0xa1b2c3d4, 0xa1b23c4d) else ">"
        linktype = struct.unpack(endian + "I", data[20:24])[0]
        offset, payload = 24, None
        while offset + 16 <= len(data) and payload is None:
            incl = struct.unpack(endian + "I", data[offset + 8:offset + 12])[0]
            frame = data[offset + 16:offset + 16 + incl]; offset += 16 + incl
            l2 = 14 if linktype == 1 else 16
            ip = frame[l2:]
            if not ip or ip[0] >> 4 != 4 or ip[9] != 17: continue
            udp = ip[(ip[0] & 15) * 4:]
            body = udp[8:struct.unpack(">H", udp[4:6])[0]]
            if len(body) > 32 and body[0] == 4 and body[1:4] == b"\0\0\0": payload = body
        if payload is None: raise SystemExit("no transport message in capture")
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for _ in range(times): s.sendto(payload, (host, port))
        print("replayed %d copies of a %d-byte message, counter %d" % (times, len(payload), struct.unpack("<Q", payload[8:16])[0]))
        """#

    /// `garbage.py HOST4 HOST6 PORT PUBKEY`: a bounded barrage (about 3000 datagrams) of
    /// random, truncated, oversized and wrong-type messages, some with a valid MAC1.
    private static let garbageScript = #"""
        import base64, hashlib, os, random, socket, struct, sys, time
        host4, host6, port, pub = sys.argv[1], sys.argv[2], int(sys.argv[3]), base64.b64decode(sys.argv[4])
        rng = random.Random(7)
        mac1key = hashlib.blake2s(b"mac1----" + pub).digest()
        def mac1(msg, off): return msg[:off] + hashlib.blake2s(msg[:off], key=mac1key, digest_size=16).digest() + msg[off + 16:]
        def rnd(n): return bytes(rng.getrandbits(8) for _ in range(n))
        sizes = {1: 148, 2: 92, 3: 64, 4: 32}
        packets = [b"", b"\x01", b"\x04\x00\x00", b"\x04\x00\x00\x00"]
        for t, n in sizes.items():
            head = struct.pack("<I", t)
            for cut in range(0, n + 1, 4): packets.append((head + rnd(n))[:cut])     # truncated
            packets.append(head + rnd(n + 1)); packets.append(head + rnd(2000))     # oversized
        packets.append(b"\x04\x00\x00\x00" + rnd(65000))                            # huge transport
        for _ in range(1000): packets.append(rnd(rng.randrange(1, 1500)))         # random
        for _ in range(300): packets.append(struct.pack("<I", rng.randrange(5, 1 << 32)) + rnd(rng.randrange(0, 200)))  # wrong type
        for _ in range(300): packets.append(struct.pack("<I", 4) + rnd(rng.randrange(28, 1500)))  # unknown index
        for _ in range(100): packets.append(mac1(b"\x01\x00\x00\x00" + rnd(144), 116))  # valid MAC1, bogus content
        for _ in range(100): packets.append(mac1(b"\x02\x00\x00\x00" + rnd(88), 60))    # response for no handshake
        for _ in range(100): packets.append(b"\x01\x00\x00\x00" + rnd(144))             # bad MAC1
        for _ in range(50): packets.append(b"\x03\x00\x00\x00" + rnd(60))               # stray cookie replies
        s4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        sent = 0
        for i, p in enumerate(packets):
            try:
                (s6.sendto(p, (host6, port)) if i % 5 == 0 else s4.sendto(p, (host4, port))); sent += 1
            except OSError as e:
                print("send failed:", e)
            if i % 200 == 0: time.sleep(0.05)
        print("sent %d datagrams" % sent)
        """#

    /// `flood.py SRC HOST PORT PUBKEY RATE SECONDS`: initiations with a valid MAC1 and random
    /// content from SRC, RATE a second for SECONDS.
    private static let floodScript = #"""
        import base64, hashlib, os, socket, sys, time
        src, host, port, pub = sys.argv[1], sys.argv[2], int(sys.argv[3]), base64.b64decode(sys.argv[4])
        rate, seconds = int(sys.argv[5]), float(sys.argv[6])
        mac1key = hashlib.blake2s(b"mac1----" + pub).digest()
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind((src, 0))
        s.setblocking(False)
        start, sent = time.time(), 0
        while time.time() - start < seconds and sent < rate * seconds:
            body = b"\x01\x00\x00\x00" + os.urandom(112)
            msg = body + hashlib.blake2s(body, key=mac1key, digest_size=16).digest() + bytes(16)
            try: s.sendto(msg, (host, port)); sent += 1
            except BlockingIOError: pass
            ahead = sent / rate - (time.time() - start)
            if ahead > 0: time.sleep(ahead)
            try:
                while s.recv(256): pass
            except BlockingIOError: pass
        print("sent %d initiations in %.1f s" % (sent, time.time() - start))
        """#
}
