import XCTest
@testable import Tunnel

/// Two in-process peers running the complete Noise_IKpsk2 exchange.
final class HandshakeTests: XCTestCase {
    struct Pair {
        var alice: Device
        var bob: Device
    }

    private func makePair(psk: SymmetricKey? = nil) throws -> Pair {
        var alice = Device(privateKey: PrivateKey())
        var bob = Device(privateKey: PrivateKey())
        try alice.addPeer(bob.publicKey, presharedKey: psk)
        try bob.addPeer(alice.publicKey, presharedKey: psk)
        return Pair(alice: alice, bob: bob)
    }

    /// Runs initiation → response over encoded bytes and returns both keypairs.
    private func handshake(_ pair: inout Pair) throws -> (initiator: Keypair, responder: Keypair) {
        let initiation = try pair.alice.createInitiation(to: pair.bob.publicKey)
        guard case .initiation(let received) = try Message.decode(initiation.bytes) else { throw XCTSkip("decode") }
        XCTAssertEqual(try pair.bob.consumeInitiation(received), pair.alice.publicKey)
        let response = try pair.bob.createResponse(to: pair.alice.publicKey)
        let responderKeys = try pair.bob.beginSession(with: pair.alice.publicKey)
        guard case .response(let receivedResponse) = try Message.decode(response.bytes) else { throw XCTSkip("decode") }
        XCTAssertEqual(try pair.alice.consumeResponse(receivedResponse), pair.bob.publicKey)
        let initiatorKeys = try pair.alice.beginSession(with: pair.bob.publicKey)
        return (initiatorKeys, responderKeys)
    }

    private func assertTransportWorks(_ keys: inout (initiator: Keypair, responder: Keypair),
                                      file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertEqual(keys.initiator.remoteIndex, keys.responder.localIndex, file: file, line: line)
        XCTAssertEqual(keys.responder.remoteIndex, keys.initiator.localIndex, file: file, line: line)
        XCTAssertTrue(keys.initiator.isInitiator)
        XCTAssertFalse(keys.responder.isInitiator)

        let ping = Array("ping from the initiator".utf8)
        var message: [UInt8] = []
        try keys.initiator.seal(ping, into: &message)
        XCTAssertEqual(message.count, 16 + 32 + 16)
        let opened = try keys.responder.open(message)
        XCTAssertEqual(Array(opened.prefix(ping.count)), ping, file: file, line: line)
        XCTAssertEqual(opened.count, 32)
        XCTAssertTrue(opened.dropFirst(ping.count).allSatisfy { $0 == 0 }, "padding is zeros")

        let pong = Array("pong".utf8)
        try keys.responder.seal(pong, into: &message)
        XCTAssertEqual(Array(try keys.initiator.open(message).prefix(pong.count)), pong, file: file, line: line)
    }

    /// The paper's four DHs per side: the initiator does DH(E_i, S_r) for its initiation
    /// and two for the response; the responder one to read the initiation and two to answer
    /// (static-static is precomputed per peer and not counted). Indices live while used.
    func testHandshakeCountsItsDiffieHellmanOperationsAndIndices() throws {
        var pair = try makePair()
        XCTAssertEqual(pair.alice.liveIndices, [])
        let initiation = try pair.alice.createInitiation(to: pair.bob.publicKey)
        XCTAssertEqual(pair.alice.dhOperations, 1)
        XCTAssertEqual(pair.alice.liveIndices, [initiation.senderIndex], "the initiation's index is live at once")
        _ = try pair.bob.consumeInitiation(initiation)
        XCTAssertEqual(pair.bob.dhOperations, 1)
        let response = try pair.bob.createResponse(to: pair.alice.publicKey)
        XCTAssertEqual(pair.bob.dhOperations, 3)
        XCTAssertEqual(pair.bob.liveIndices, [response.senderIndex])
        let generation = pair.bob.indexGeneration
        let keys = try pair.bob.beginSession(with: pair.alice.publicKey)
        XCTAssertEqual(pair.bob.indexGeneration, generation, "the index moves to the keypair unchanged")
        _ = try pair.alice.consumeResponse(response)
        XCTAssertEqual(pair.alice.dhOperations, 3)
        pair.bob.releaseIndex(keys.localIndex)
        XCTAssertEqual(pair.bob.liveIndices, [])
        XCTAssertNotEqual(pair.bob.indexGeneration, generation)
    }

    func testHandshakeWithoutPresharedKeyLetsBothSidesExchangeTransportPackets() throws {
        var pair = try makePair()
        var keys = try handshake(&pair)
        try assertTransportWorks(&keys)
        XCTAssertEqual(keys.initiator.sendKey, keys.responder.receiveKey)
        XCTAssertEqual(keys.initiator.receiveKey, keys.responder.sendKey)
        XCTAssertNotEqual(keys.initiator.sendKey, keys.initiator.receiveKey)
    }

    func testHandshakeWithPresharedKeyLetsBothSidesExchangeTransportPackets() throws {
        var pair = try makePair(psk: SymmetricKey())
        var keys = try handshake(&pair)
        try assertTransportWorks(&keys)
    }

    func testMismatchedPresharedKeysFailTheResponse() throws {
        var alice = Device(privateKey: PrivateKey())
        var bob = Device(privateKey: PrivateKey())
        try alice.addPeer(bob.publicKey, presharedKey: SymmetricKey())
        try bob.addPeer(alice.publicKey, presharedKey: SymmetricKey())
        let initiation = try alice.createInitiation(to: bob.publicKey)
        _ = try bob.consumeInitiation(initiation)
        let response = try bob.createResponse(to: alice.publicKey)
        XCTAssertThrowsError(try alice.consumeResponse(response)) {
            XCTAssertEqual($0 as? HandshakeError, .decryptionFailed)
        }
    }

    func testTamperedMAC1IsRejected() throws {
        var pair = try makePair()
        let initiation = try pair.alice.createInitiation(to: pair.bob.publicKey)
        var bytes = initiation.bytes
        bytes[MessageInitiation.mac1Offset] ^= 0x01
        XCTAssertFalse(pair.bob.verifyMAC1(of: bytes))
        XCTAssertThrowsError(try pair.bob.consumeInitiation(MessageInitiation(bytes: bytes))) {
            XCTAssertEqual($0 as? HandshakeError, .invalidMAC1)
        }
        // Any change to the covered bytes breaks MAC1 as well.
        var body = initiation.bytes
        body[20] ^= 0x80
        XCTAssertThrowsError(try pair.bob.consumeInitiation(MessageInitiation(bytes: body))) {
            XCTAssertEqual($0 as? HandshakeError, .invalidMAC1)
        }
        // The untouched original is still fine.
        XCTAssertTrue(pair.bob.verifyMAC1(of: initiation.bytes))
        XCTAssertNoThrow(try pair.bob.consumeInitiation(initiation))
    }

    func testReplayedInitiationWithSameTimestampIsRejected() throws {
        var pair = try makePair()
        let stamp = TAI64N(unixSeconds: 1_800_000_000, nanoseconds: 0)
        let initiation = try pair.alice.createInitiation(to: pair.bob.publicKey, timestamp: stamp)
        XCTAssertNoThrow(try pair.bob.consumeInitiation(initiation))
        XCTAssertThrowsError(try pair.bob.consumeInitiation(initiation)) {
            XCTAssertEqual($0 as? HandshakeError, .replayedTimestamp)
        }
        // A fresh initiation with the same (or an older) timestamp is refused too...
        let sameTime = try pair.alice.createInitiation(to: pair.bob.publicKey, timestamp: stamp)
        XCTAssertThrowsError(try pair.bob.consumeInitiation(sameTime))
        // ...and a newer one is accepted.
        let later = try pair.alice.createInitiation(
            to: pair.bob.publicKey, timestamp: TAI64N(unixSeconds: 1_800_000_000, nanoseconds: 1 << 24))
        XCTAssertNoThrow(try pair.bob.consumeInitiation(later, now: .now + .seconds(1)))
    }

    /// As wireguard-go: even with fresh timestamps, a peer's initiations are accepted at
    /// most once per HANDSHAKE_INITIATION_RATE.
    func testInitiationsFasterThanTheHandshakeRateAreRefused() throws {
        var pair = try makePair()
        let start = ContinuousClock.now
        func initiation(_ second: UInt64) throws -> MessageInitiation {
            try pair.alice.createInitiation(to: pair.bob.publicKey, timestamp: TAI64N(unixSeconds: 1_800_000_000 + second, nanoseconds: 0))
        }
        XCTAssertNoThrow(try pair.bob.consumeInitiation(initiation(1), now: start))
        XCTAssertThrowsError(try pair.bob.consumeInitiation(initiation(2), now: start + .milliseconds(10))) {
            XCTAssertEqual($0 as? HandshakeError, .initiationFlood)
        }
        XCTAssertNoThrow(try pair.bob.consumeInitiation(initiation(3), now: start + WG.HANDSHAKE_INITIATION_RATE + .milliseconds(1)))
    }

    func testInitiationFromUnknownPeerIsRejected() throws {
        var alice = Device(privateKey: PrivateKey())
        var bob = Device(privateKey: PrivateKey())
        try alice.addPeer(bob.publicKey)
        let initiation = try alice.createInitiation(to: bob.publicKey)
        XCTAssertThrowsError(try bob.consumeInitiation(initiation)) {
            XCTAssertEqual($0 as? HandshakeError, .unknownPeer)
        }
    }

    func testResponseToAnotherHandshakeIsRejected() throws {
        var pair = try makePair()
        let initiation = try pair.alice.createInitiation(to: pair.bob.publicKey)
        _ = try pair.bob.consumeInitiation(initiation)
        var response = try pair.bob.createResponse(to: pair.alice.publicKey)
        // Alice starts over: the old response no longer matches any handshake of hers.
        _ = try pair.alice.createInitiation(to: pair.bob.publicKey, timestamp: TAI64N(unixSeconds: 2_000_000_000, nanoseconds: 0))
        XCTAssertThrowsError(try pair.alice.consumeResponse(response))
        // And a response cannot be consumed twice.
        var fresh = try makePair()
        let first = try fresh.alice.createInitiation(to: fresh.bob.publicKey)
        _ = try fresh.bob.consumeInitiation(first)
        response = try fresh.bob.createResponse(to: fresh.alice.publicKey)
        XCTAssertNoThrow(try fresh.alice.consumeResponse(response))
        XCTAssertThrowsError(try fresh.alice.consumeResponse(response)) {
            XCTAssertEqual($0 as? HandshakeError, .unexpectedState)
        }
    }

    func testSessionCannotBeginBeforeHandshakeCompletes() throws {
        var pair = try makePair()
        XCTAssertThrowsError(try pair.alice.beginSession(with: pair.bob.publicKey))
        let initiation = try pair.alice.createInitiation(to: pair.bob.publicKey)
        XCTAssertThrowsError(try pair.alice.beginSession(with: pair.bob.publicKey))
        _ = try pair.bob.consumeInitiation(initiation)
        XCTAssertThrowsError(try pair.bob.beginSession(with: pair.alice.publicKey))
    }

    func testLowOrderPeerKeyIsRefused() throws {
        var device = Device(privateKey: PrivateKey())
        XCTAssertThrowsError(try device.addPeer(PublicKey(rawBytes: [UInt8](repeating: 0, count: 32)))) {
            XCTAssertEqual($0 as? HandshakeError, .lowOrderPoint)
        }
    }

    func testIndicesAreTrackedAndReleased() throws {
        var pair = try makePair()
        let keys = try handshake(&pair)
        XCTAssertEqual(pair.alice.peer(forIndex: keys.initiator.localIndex), pair.bob.publicKey)
        XCTAssertEqual(pair.bob.peer(forIndex: keys.responder.localIndex), pair.alice.publicKey)
        pair.alice.releaseIndex(keys.initiator.localIndex)
        XCTAssertNil(pair.alice.peer(forIndex: keys.initiator.localIndex))
    }
}
