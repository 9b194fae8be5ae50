import Foundation
import NetTestSupport
import XCTest
@testable import Tunnel

/// Handshake coalescing in ztpd, in network namespaces (see ``NetTestbed``): ztpd in
/// `left` (10.201.0.1, tunnel 10.99.0.1), a roaming client in `right` hopping between the
/// underlay addresses 10.201.0.2, .3 and .4 (a ``HoppingClient`` whose sockets live in
/// `right`). Skips loudly when not root or when TUN / ip is missing.
final class CoalescingInteropTests: XCTestCase {
    private static let edgePort: UInt16 = 51830
    private static let clientAddresses: [[UInt8]] = [[10, 201, 0, 2], [10, 201, 0, 3], [10, 201, 0, 4]]
    private var testbed: NetTestbed?

    override func tearDown() {
        testbed?.tearDown()
        testbed = nil
        super.tearDown()
    }

    /// Three rounds of initiation bursts from three addresses, each round pinging ztpd
    /// through the tunnel from another address: with coalescing (the default) and with
    /// `--no-coalescing`, one ztpd after the other. Both keep the tunnel working; with
    /// coalescing ztpd does fewer DHs and answers the newest initiation on every address.
    func testHoppingClientKeepsItsTunnelToZtpdWithFewerDHsWhenCoalescing() throws {
        _ = try NetTestbed.requireEnvironment(tools: ["ip"])
        let ztpd = try InteropTests.ztpdPath()
        let testbed = try NetTestbed()
        self.testbed = testbed
        for address in Self.clientAddresses.dropFirst() {
            try testbed.ip(["-n", testbed.right, "addr", "add", "\(address.map(String.init).joined(separator: "."))/24",
                            "dev", "vzR-\(testbed.suffix)"])
        }
        let coalesced = try run(ztpd, in: testbed, name: "c", arguments: ["--coalesce-window-ms", "500",
                                                                          "--max-coalesced-handshakes", "8"])
        let plain = try run(ztpd, in: testbed, name: "p", arguments: ["--no-coalescing"])
        XCTAssertLessThan(coalesced.dh, plain.dh, "ztpd's DH operations with coalescing, without")
        XCTAssertEqual(coalesced.dh, 3 * 2 * 3)
        XCTAssertEqual(plain.dh, 3 * (2 * 3 + 7))
        XCTAssertEqual(coalesced.coalescedDrops, 3 * 3)
        XCTAssertEqual(plain.coalescedDrops, 0)
        XCTAssertEqual(coalesced.newestAnswers, 3 * 3)
        XCTAssertEqual(plain.newestAnswers, 3)
    }

    private struct Outcome {
        var dh: UInt64
        var coalescedDrops: UInt64
        var newestAnswers: Int
    }

    /// Starts ztpd (interface `ztc<name>-<suffix>`) with the client as its only peer, runs
    /// the client, reads ztpd's counters and stops it.
    private func run(_ ztpd: String, in testbed: NetTestbed, name: String, arguments: [String]) throws -> Outcome {
        let edgeKey = PrivateKey(), clientKey = PrivateKey()
        let interface = "ztc\(name)-\(testbed.suffix)"
        let config = try testbed.writeSecret("ztpd-\(name).conf", """
            [Interface]
            PrivateKey = \(edgeKey.base64)
            ListenPort = \(Self.edgePort)

            [Peer]
            PublicKey = \(clientKey.publicKey.base64)
            AllowedIPs = 10.99.0.2/32

            """)
        let process = try testbed.spawn(testbed.left, [ztpd, interface, "--foreground", "--config", config, "--log-level", "debug",
                                                       "--metrics", "off"] + arguments, log: "ztpd-\(name).log")
        defer {
            process.terminate()
            XCTAssertTrue(NetTestbed.wait(process, seconds: 5), "ztpd did not exit on SIGTERM")
        }
        let uapi = "/var/run/wireguard/\(interface).sock"
        XCTAssertTrue(NetTestbed.eventually(10) { FileManager.default.fileExists(atPath: uapi) || !process.isRunning })
        guard process.isRunning else { throw NetLabError("ztpd exited: \(testbed.log("ztpd-\(name).log"))") }
        try testbed.ip(["-n", testbed.left, "addr", "add", "10.99.0.1/24", "dev", interface])

        let sockets = try Self.clientAddresses.map { try BoundUDPSocket(address: $0, namespace: testbed.right) }
        var client = try HoppingClient(key: clientKey, edge: edgeKey.publicKey,
                                       server: Endpoint(address: [10, 201, 0, 1], port: Self.edgePort), sockets: sockets)
        for round in 0..<3 {
            var keys = try client.handshakeBurst()
            let hop = sockets[round]
            var message: [UInt8] = []
            try keys.seal(Self.echoRequest(sequence: UInt16(round)), into: &message)
            try hop.send(message, to: client.server)
            let reply = BoundUDPSocket.receiveAll([hop], idleMilliseconds: 2000, until: { $0.first == 4 && $0.count > 32 }).last
            let packet = try keys.open(try XCTUnwrap(reply, "round \(round): no reply at the client's new address\n"
                                                      + testbed.log("ztpd-\(name).log")))
            XCTAssertEqual(Array(packet.prefix(20)[12..<16]), [10, 99, 0, 1], "round \(round): not from ztpd's side")
            XCTAssertEqual(packet.count > 20 ? packet[20] : 0xFF, 0, "round \(round): not an ICMP echo reply")
            usleep(550_000)  // the next round in a new coalescing window
        }
        let stats = try InteropTests.ztpStatistics(interface: interface)
        func counter(_ key: String) -> UInt64 { UInt64(stats[key] ?? "") ?? 0 }
        XCTAssertEqual(counter("handshakes"), 6, "\(stats)")
        XCTAssertEqual(counter("peer.dh_operations"), counter("dh_operations"), "\(stats)")
        return Outcome(dh: counter("dh_operations"), coalescedDrops: counter("drop_handshake_coalesced"),
                       newestAnswers: client.newestAnswers)
    }

    /// An ICMP echo request from 10.99.0.2 to 10.99.0.1, checksums included.
    private static func echoRequest(sequence: UInt16) -> [UInt8] {
        var packet: [UInt8] = [0x45, 0, 0, 36, 0, 0, 0x40, 0, 64, 1, 0, 0, 10, 99, 0, 2, 10, 99, 0, 1]
        packet += [8, 0, 0, 0, 0x7a, 0x70, UInt8(sequence >> 8), UInt8(sequence & 0xFF)] + Array("hopping!".utf8)
        func checksum(_ bytes: ArraySlice<UInt8>) -> UInt16 {
            var sum: UInt32 = 0
            var i = bytes.startIndex
            while i < bytes.endIndex {
                sum += UInt32(bytes[i]) << 8 | UInt32(i + 1 < bytes.endIndex ? bytes[i + 1] : 0)
                i += 2
            }
            while sum > 0xFFFF { sum = (sum & 0xFFFF) + (sum >> 16) }
            return ~UInt16(sum)
        }
        let ip = checksum(packet[0..<20])
        packet[10] = UInt8(ip >> 8); packet[11] = UInt8(ip & 0xFF)
        let icmp = checksum(packet[20...])
        packet[22] = UInt8(icmp >> 8); packet[23] = UInt8(icmp & 0xFF)
        return packet
    }
}
