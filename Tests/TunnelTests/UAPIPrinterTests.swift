import Foundation
import XCTest
@testable import Tunnel

/// The `get=1` reply body: wireguard-go's keys in wireguard-go's order.
final class UAPIPrinterTests: XCTestCase {
    // Fixed keys, so the expected text can be written out.
    let privateKey = try! PrivateKey(rawBytes: [UInt8](repeating: 0x11, count: 32))
    let first = try! PublicKey(rawBytes: [UInt8](repeating: 0xA0, count: 32))
    let second = try! PublicKey(rawBytes: [UInt8](repeating: 0x0B, count: 32))
    let psk = try! SymmetricKey(rawBytes: [UInt8](repeating: 0x5C, count: 32))

    func testAGetReplyForASnapshotIsExactlyWireguardGosLayout() throws {
        let snapshot = InterfaceSnapshot(privateKey: privateKey, listenPort: 51820, fwmark: 3, peers: [
            PeerSnapshot(publicKey: first, presharedKey: psk, endpoint: try Endpoint(parsing: "192.0.2.7:4444"),
                         lastHandshakeSeconds: 1_700_000_000, lastHandshakeNanoseconds: 123_456_789,
                         transmittedBytes: 1184, receivedBytes: 2368, persistentKeepaliveInterval: 25,
                         allowedIPs: [IPPrefix("10.99.0.2/32")!, IPPrefix("fd00::2/128")!]),
            PeerSnapshot(publicKey: second, endpoint: try Endpoint(parsing: "[fd00::9]:51821")),
        ])
        let expected = """
            private_key=\(String(repeating: "11", count: 32))
            listen_port=51820
            fwmark=3
            public_key=\(String(repeating: "a0", count: 32))
            preshared_key=\(String(repeating: "5c", count: 32))
            protocol_version=1
            endpoint=192.0.2.7:4444
            last_handshake_time_sec=1700000000
            last_handshake_time_nsec=123456789
            tx_bytes=1184
            rx_bytes=2368
            persistent_keepalive_interval=25
            allowed_ip=10.99.0.2/32
            allowed_ip=fd00::2/128
            public_key=\(String(repeating: "0b", count: 32))
            preshared_key=\(String(repeating: "00", count: 32))
            protocol_version=1
            endpoint=[fd00::9]:51821
            last_handshake_time_sec=0
            last_handshake_time_nsec=0
            tx_bytes=0
            rx_bytes=0
            persistent_keepalive_interval=0

            """
        XCTAssertEqual(UAPIPrinter.getResponse(snapshot), expected)
    }

    func testAnUnsetPortFwmarkAndEndpointAreLeftOut() {
        let text = UAPIPrinter.getResponse(InterfaceSnapshot(privateKey: nil, listenPort: 0, fwmark: 0, peers: [
            PeerSnapshot(publicKey: first),
        ]))
        XCTAssertFalse(text.contains("private_key="))
        XCTAssertFalse(text.contains("listen_port="))
        XCTAssertFalse(text.contains("fwmark="))
        XCTAssertFalse(text.contains("endpoint="))
        XCTAssertTrue(text.hasPrefix("public_key="), text)
    }

    /// The configuration keys of a get reply are set keys: without the counters it is a
    /// set request that rebuilds the same peers (as `wg showconf | wg setconf` relies on).
    func testAGetReplyWithoutItsCountersParsesAsASetRequestForTheSamePeers() throws {
        let snapshot = InterfaceSnapshot(privateKey: privateKey, listenPort: 51820, peers: [
            PeerSnapshot(publicKey: first, presharedKey: psk, endpoint: try Endpoint(parsing: "192.0.2.7:4444"),
                         lastHandshakeSeconds: 5, transmittedBytes: 9, persistentKeepaliveInterval: 25,
                         allowedIPs: [IPPrefix("10.99.0.0/24")!, IPPrefix("::/0")!]),
            PeerSnapshot(publicKey: second, allowedIPs: [IPPrefix("10.98.0.1/32")!]),
        ])
        let counters = ["last_handshake_time_sec=", "last_handshake_time_nsec=", "tx_bytes=", "rx_bytes="]
        let body = UAPIPrinter.getResponse(snapshot).split(separator: "\n")
            .filter { line in !counters.contains { line.hasPrefix($0) } }.joined(separator: "\n")
        let change = try UAPISetParser.parse(body + "\n\n")
        XCTAssertEqual(change.privateKey, privateKey)
        XCTAssertEqual(change.listenPort, 51820)
        XCTAssertEqual(change.peers.count, 2)
        for (peer, original) in zip(change.peers, snapshot.peers) {
            XCTAssertEqual(peer.publicKey, original.publicKey)
            XCTAssertEqual(peer.presharedKey, original.presharedKey ?? .zero)
            XCTAssertEqual(peer.endpoint, original.endpoint)
            XCTAssertEqual(peer.persistentKeepaliveInterval, original.persistentKeepaliveInterval)
            XCTAssertEqual(peer.allowedIPs, original.allowedIPs)
            XCTAssertEqual(peer.protocolVersion, 1)
        }
    }
}
