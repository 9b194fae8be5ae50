import Foundation
import NetTestSupport
import XCTest
@testable import Tunnel

/// Interface settings changed on a running tunnel through ``TunnelRuntime/apply(_:)``, as
/// `wg set` / `wg syncconf` change them: a new private key, a new listen port, and running
/// with no key at all, on two runtimes over loopback.
extension RuntimeSessionTests {
    private func apply(_ side: Side, _ lines: String...) throws {
        try side.runtime.apply(UAPISetParser.parse(lines.joined(separator: "\n") + "\n\n"))
    }

    func testANewPrivateKeyDropsTheSessionsAndThePeersHandshakeAgainUnderIt() throws {
        let (a, b) = try makePair()
        inject(a, packet(from: a.address, to: b.address, marker: 1))
        XCTAssertTrue(receive(b, marker: 1), "first packet did not cross")
        let oldIndices = b.runtime.liveReceiverIndices()
        XCTAssertFalse(oldIndices.isEmpty)

        let newKey = PrivateKey()
        try apply(b, "private_key=\(uapiHex(newKey))")
        XCTAssertEqual(b.runtime.publicKey, newKey.publicKey)
        XCTAssertTrue(NetTestbed.eventually(2) { b.events.all.contains("down \(a.key.publicKey.base64)") }, "\(b.events.all)")
        XCTAssertTrue(b.runtime.liveReceiverIndices().isDisjoint(with: oldIndices), "old keypairs' indices must be gone")
        XCTAssertTrue(b.runtime.hasPeer(a.key.publicKey), "the peer stays")

        // a learns b's new key (what `wg set a peer NEW ... peer OLD remove` does); traffic then
        // needs a handshake under the new key, whose static-static b computed again.
        let port = b.runtime.listenPort
        try apply(a, "public_key=\(uapiHex(b.key.publicKey))", "remove=true",
                  "public_key=\(uapiHex(newKey.publicKey))", "endpoint=127.0.0.1:\(port)", "allowed_ip=\(b.address)/32")
        // b keeps the peer's last initiation timestamp (replay protection, as wireguard-go):
        // the new initiation must come later than the coarse TAI64N step of the first.
        usleep(100_000)
        inject(a, packet(from: a.address, to: b.address, marker: 2))
        XCTAssertTrue(receive(b, marker: 2), "no traffic under the new key")
        XCTAssertGreaterThanOrEqual(b.runtime.statistics().global.handshakes, 2)
        XCTAssertTrue(b.runtime.status()[0].hasSession)
    }

    func testWithoutAPrivateKeyNoHandshakeIsAnsweredUntilOneIsSet() throws {
        let a = Side(address: "10.77.0.1", name: "a"), b = Side(address: "10.77.0.2", name: "b")
        sides = [a, b]
        let socketA = try UDPSocket(port: 0), socketB = try UDPSocket(port: 0)
        try start(a, socket: socketA, peer: b.key.publicKey, peerAddress: b.address,
                  endpoint: Endpoint(address: [127, 0, 0, 1], port: socketB.port))
        try start(b, socket: socketB, peer: a.key.publicKey, peerAddress: a.address, endpoint: nil,
                  configure: { $0.privateKey = nil })
        XCTAssertNil(b.runtime.publicKey)

        inject(a, packet(from: a.address, to: b.address, marker: 1))
        XCTAssertTrue(NetTestbed.eventually(2) { b.runtime.statistics().global.drops[.handshakeRejected] >= 1 },
                      "b without a key must drop the initiation")
        XCTAssertEqual(b.runtime.statistics().global.handshakes, 0)
        XCTAssertFalse(receive(b, marker: 1), "a packet crossed to an interface without a key")

        // Given its key, b answers a's next attempt (the retransmission after REKEY_TIMEOUT).
        try apply(b, "private_key=\(uapiHex(b.key))")
        XCTAssertTrue(NetTestbed.eventually(10) { b.runtime.status().first?.hasSession == true }, "no session once the key is set")
        inject(a, packet(from: a.address, to: b.address, marker: 2))
        XCTAssertTrue(receive(b, marker: 2), "no traffic once the key is set")
    }

    func testAListenPortChangeMovesTheTunnelAndTellsTheHook() throws {
        let (a, b) = try makePair()
        inject(a, packet(from: a.address, to: b.address, marker: 1))
        XCTAssertTrue(receive(b, marker: 1), "first packet did not cross")

        let free = try UDPSocket(port: 0)
        let newPort = free.port
        free.close()
        try apply(b, "listen_port=\(newPort)")
        XCTAssertEqual(b.runtime.listenPort, newPort)
        XCTAssertTrue(timeline.all.contains("b port \(newPort)"), "\(timeline.all)")
        // b's next packet leaves from the new port, so a follows (roaming) and the session goes on.
        inject(b, packet(from: b.address, to: a.address, marker: 2))
        XCTAssertTrue(receive(a, marker: 2), "no traffic from the new port")
        XCTAssertEqual(a.runtime.status().first?.endpoint, Endpoint(address: [127, 0, 0, 1], port: newPort))
        inject(a, packet(from: a.address, to: b.address, marker: 3))
        XCTAssertTrue(receive(b, marker: 3), "no traffic to the new port")
        XCTAssertEqual(b.runtime.statistics().global.handshakes, 1, "a port change keeps the session")
    }
}
