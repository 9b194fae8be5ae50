import Foundation
import NetTestSupport
import XCTest
@testable import Tunnel

/// The responder's handshake side of ``TunnelRuntime``: the receiver-index hook and
/// handshake coalescing, on two runtimes (or a runtime and a scripted client) over loopback.
extension RuntimeSessionTests {
    // MARK: Receiver indices

    /// Each side's new index reaches the hook before the handshake message carrying it
    /// leaves: with a hook that takes 100 ms, `a` reports its index before `b` sees the
    /// initiation, and `b` reports its index before `a` gets the response.
    func testReceiverIndicesArePublishedBeforeTheMessageThatCarriesThem() throws {
        let (a, b) = try makePair(slowIndexHook: true)
        inject(a, packet(from: a.address, to: b.address, marker: 1))
        XCTAssertTrue(receive(b, marker: 1), "first packet did not cross")
        let liveA = a.runtime.liveReceiverIndices(), liveB = b.runtime.liveReceiverIndices()
        XCTAssertEqual(liveA.count, 1, "a's initiation index became its keypair's")
        XCTAssertEqual(liveB.count, 1, "b's response index became its keypair's")
        XCTAssertTrue(NetTestbed.eventually(2) { ["a up", "b up"].allSatisfy(self.timeline.all.contains) }, "\(timeline.all)")
        let events = timeline.all
        func position(_ entry: String) throws -> Int {
            try XCTUnwrap(events.firstIndex(of: entry), "\(entry) missing from \(events)")
        }
        let aIndex = try position("a indices \(liveA.sorted())")
        let bIndex = try position("b indices \(liveB.sorted())")
        XCTAssertLessThan(aIndex, bIndex, "\(events)")
        XCTAssertLessThan(bIndex, try position("a up"), "the response left before b published its index: \(events)")
        XCTAssertLessThan(bIndex, try position("b up"), "\(events)")
        XCTAssertEqual(a.indexSets.all.last, liveA)
        XCTAssertEqual(b.indexSets.all.last, liveB)
    }

    /// Indices leave the set with their keypair: on closeSession, on expiry
    /// (REJECT_AFTER_TIME, by running the timers at a later instant) and on removePeer;
    /// publishReceiverIndices reports the set on demand.
    func testReceiverIndicesDisappearOnCloseSessionExpiryAndRemovePeer() throws {
        let (a, b) = try makePair()
        inject(a, packet(from: a.address, to: b.address, marker: 1))
        XCTAssertTrue(receive(b, marker: 1))
        let first = b.runtime.liveReceiverIndices()
        XCTAssertEqual(first.count, 1)
        XCTAssertTrue(NetTestbed.eventually(2) { b.indexSets.all.last == first })
        let reports = b.indexSets.all.count
        b.runtime.publishReceiverIndices()
        XCTAssertEqual(b.indexSets.all.count, reports + 1, "publishReceiverIndices reports even without a change")
        XCTAssertEqual(b.indexSets.all.last, first)

        b.runtime.closeSession(of: a.key.publicKey)
        XCTAssertEqual(b.runtime.liveReceiverIndices(), [])
        XCTAssertEqual(b.indexSets.all.last, [], "closeSession reports before returning")

        // b handshakes again, as initiator; a now holds its old keypair and the new one.
        inject(b, packet(from: b.address, to: a.address, marker: 2))
        XCTAssertTrue(receive(a, marker: 2))
        let second = b.runtime.liveReceiverIndices()
        XCTAssertEqual(second.count, 1)
        XCTAssertTrue(second.isDisjoint(with: first))
        let onA = a.runtime.liveReceiverIndices()
        XCTAssertEqual(onA.count, 2, "previous and current keypair")
        XCTAssertTrue(NetTestbed.eventually(2) { a.indexSets.all.last == onA })

        a.runtime.runTimers(now: .now + WG.REJECT_AFTER_TIME + .seconds(1))
        let afterExpiry = a.runtime.liveReceiverIndices()
        XCTAssertTrue(afterExpiry.isDisjoint(with: onA), "expired keypairs' indices are still live: \(afterExpiry)")
        XCTAssertEqual(a.indexSets.all.last, afterExpiry)

        b.runtime.removePeer(a.key.publicKey)
        XCTAssertEqual(b.runtime.liveReceiverIndices(), [])
        XCTAssertEqual(b.indexSets.all.last, [])
    }

    /// The interface's default persistent keepalive goes to peers that set none, not to
    /// those that turned it off or chose their own.
    func testDefaultPersistentKeepaliveAppliesToPeersThatSetNone() throws {
        let side = Side(address: "10.77.0.2", name: "edge")
        sides = [side]
        let unset = PrivateKey().publicKey, off = PrivateKey().publicKey, own = PrivateKey().publicKey
        try start(side, socket: try UDPSocket(port: 0), peer: unset, peerAddress: "10.77.0.1", endpoint: nil,
                  configure: { $0.defaultPersistentKeepalive = 25 })
        try side.runtime.addPeer(.init(publicKey: off, persistentKeepalive: 0))
        try side.runtime.addPeer(.init(publicKey: own, persistentKeepalive: 7))
        let keepalives = Dictionary(uniqueKeysWithValues: side.runtime.status().map { ($0.publicKey, $0.persistentKeepalive) })
        XCTAssertEqual(keepalives[unset], .seconds(25))
        XCTAssertEqual(keepalives[off], .some(nil))
        XCTAssertEqual(keepalives[own], .seconds(7))
    }

    // MARK: Handshake coalescing

    /// A roaming client (a scripted ``Device``) sends bursts of initiations from three
    /// loopback addresses: each burst is one initiation from all three, a newer one from all
    /// three 30 ms later, and late copies of the first. Each round it uses the response to
    /// its newest initiation, sends data from the round's address and gets an answer there.
    /// Measured with coalescing on and off: the tunnel works both ways, and with coalescing
    /// the responder does fewer DHs (copies cost none) and answers the newest initiation
    /// on every address it came from.
    func testHoppingClientKeepsItsTunnelWithFewerResponderDHsWhenCoalescing() throws {
        let coalesced = try runHoppingClient(HandshakeCoalescing.default)
        let plain = try runHoppingClient(HandshakeCoalescing.off)
        XCTAssertLessThan(coalesced.dh, plain.dh, "responder DH operations with coalescing, without")
        // Exactly: per round, two answered initiations (3 DHs each) with coalescing; without,
        // also one DH for each of the 7 copies before the replay check refuses it.
        XCTAssertEqual(coalesced.dh, 3 * 2 * 3)
        XCTAssertEqual(plain.dh, 3 * (2 * 3 + 7))
        XCTAssertEqual(coalesced.coalescedDrops, 3 * 3, "the late copies of each round's first initiation")
        XCTAssertEqual(plain.coalescedDrops, 0)
        XCTAssertEqual(coalesced.newestAnswers, 3 * 3, "the newest initiation is answered on all three addresses")
        XCTAssertEqual(plain.newestAnswers, 3 * 1)
        XCTAssertEqual(coalesced.handshakes, 6)
        XCTAssertEqual(plain.handshakes, 6)
    }

    private struct HoppingResult {
        var dh: UInt64
        var coalescedDrops: UInt64
        var handshakes: UInt64
        var newestAnswers: Int
    }

    private func runHoppingClient(_ coalescing: HandshakeCoalescing) throws -> HoppingResult {
        let clientKey = PrivateKey(), clientAddress = "10.77.0.1"
        let edge = Side(address: "10.77.0.2", name: "edge")
        sides.append(edge)
        try start(edge, socket: try UDPSocket(port: 0), peer: clientKey.publicKey, peerAddress: clientAddress,
                  endpoint: nil, configure: { $0.handshakeCoalescing = coalescing })
        let sockets = try [[127, 0, 0, 1], [127, 0, 0, 2], [127, 0, 0, 3]].map { try BoundUDPSocket(address: $0) }
        var client = try HoppingClient(key: clientKey, edge: edge.key.publicKey,
                                       server: Endpoint(address: [127, 0, 0, 1], port: edge.runtime.socket.port),
                                       sockets: sockets)
        for round in 0..<3 {
            var keys = try client.handshakeBurst()
            let hop = sockets[round]
            var message: [UInt8] = []
            try keys.seal(packet(from: clientAddress, to: edge.address, marker: UInt8(10 + round)), into: &message)
            try hop.send(message, to: client.server)
            XCTAssertTrue(receive(edge, marker: UInt8(10 + round)), "round \(round): data did not reach the edge")
            inject(edge, packet(from: edge.address, to: clientAddress, marker: UInt8(20 + round)))
            let reply = BoundUDPSocket.receiveAll([hop], idleMilliseconds: 1000, until: { $0.first == 4 }).last
            let opened = try keys.open(try XCTUnwrap(reply, "round \(round): no reply at the client's new address"))
            XCTAssertEqual(opened.count >= 32 ? opened[31] : 0, UInt8(20 + round))
            usleep(550_000)  // the next round in a new coalescing window
        }
        let stats = edge.runtime.statistics()
        XCTAssertEqual(stats.peers[clientKey.publicKey]?.dhOperations, stats.global.dhOperations)
        edge.runtime.stop()
        return HoppingResult(dh: stats.global.dhOperations, coalescedDrops: stats.global.drops[.handshakeCoalesced],
                             handshakes: stats.global.handshakes, newestAnswers: client.newestAnswers)
    }
}
