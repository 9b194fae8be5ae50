import XCTest
@testable import Tunnel

final class TransportTests: XCTestCase {
    private func keypairs() throws -> (Keypair, Keypair) {
        var alice = Device(privateKey: PrivateKey())
        var bob = Device(privateKey: PrivateKey())
        try alice.addPeer(bob.publicKey)
        try bob.addPeer(alice.publicKey)
        _ = try bob.consumeInitiation(alice.createInitiation(to: bob.publicKey))
        _ = try alice.consumeResponse(bob.createResponse(to: alice.publicKey))
        return (try alice.beginSession(with: bob.publicKey), try bob.beginSession(with: alice.publicKey))
    }

    func testMessageLayoutHasHeaderPaddedPayloadAndTag() throws {
        var (sender, _) = try keypairs()
        for (payload, expected) in [(0, 32), (1, 48), (16, 48), (17, 64), (1420, 1456)] {
            XCTAssertEqual(Keypair.messageCount(for: payload), expected)
        }
        var message: [UInt8] = []
        try sender.seal([1, 2, 3], into: &message)
        let header = try message.withUnsafeBytes { try TransportHeader(packet: $0) }
        XCTAssertEqual(header, TransportHeader(receiverIndex: sender.remoteIndex, counter: 0))
        XCTAssertEqual(Array(message.prefix(4)), [4, 0, 0, 0])
        try sender.seal([], into: &message)
        XCTAssertEqual(try message.withUnsafeBytes { try TransportHeader(packet: $0) }.counter, 1)
    }

    func testSealWritesIntoCallerBufferAndOpenReadsIt() throws {
        var (sender, receiver) = try keypairs()
        let payload = [UInt8]((0..<100).map { UInt8($0) })
        var message = [UInt8](repeating: 0xEE, count: 2048)
        var plain = [UInt8](repeating: 0, count: 2048)
        let written = try payload.withUnsafeBytes { p in try message.withUnsafeMutableBytes { try sender.seal(payload: p, into: $0) } }
        XCTAssertEqual(written, 16 + 112 + 16)
        let read = try message.withUnsafeBytes { m in
            try plain.withUnsafeMutableBytes { try receiver.open(packet: UnsafeRawBufferPointer(rebasing: m[..<written]), into: $0) }
        }
        XCTAssertEqual(read, 112)
        XCTAssertEqual(Array(plain.prefix(100)), payload)
        XCTAssertEqual(Array(plain[100..<112]), [UInt8](repeating: 0, count: 12))
        // Too small an output buffer is reported, not overrun.
        var tiny = [UInt8](repeating: 0, count: 10)
        XCTAssertThrowsError(try payload.withUnsafeBytes { p in try tiny.withUnsafeMutableBytes { try sender.seal(payload: p, into: $0) } })
    }

    func testReplayedAndTamperedTransportMessagesAreRejected() throws {
        var (sender, receiver) = try keypairs()
        var first: [UInt8] = [], second: [UInt8] = []
        try sender.seal(Array("one".utf8), into: &first)
        try sender.seal(Array("two".utf8), into: &second)
        // Out of order is fine, replay is not.
        XCTAssertNoThrow(try receiver.open(second))
        XCTAssertNoThrow(try receiver.open(first))
        XCTAssertThrowsError(try receiver.open(first)) { XCTAssertEqual($0 as? TransportError, .replayed(counter: 0)) }

        var third: [UInt8] = []
        try sender.seal(Array("three".utf8), into: &third)
        var tampered = third
        tampered[20] ^= 1
        XCTAssertThrowsError(try receiver.open(tampered)) { XCTAssertEqual($0 as? TransportError, .authenticationFailed) }
        // A forged message must not have consumed the counter.
        XCTAssertNoThrow(try receiver.open(third))

        var keepalive: [UInt8] = []
        try sender.seal([], into: &keepalive)
        XCTAssertEqual(try receiver.open(keepalive), [])
        XCTAssertThrowsError(try receiver.open(keepalive))
    }

    func testMessageForAnotherKeypairOrTooShortIsRejected() throws {
        var (sender, receiver) = try keypairs()
        var message: [UInt8] = []
        try sender.seal([9], into: &message)
        var wrongIndex = message
        wrongIndex[4] ^= 0xFF
        XCTAssertThrowsError(try receiver.open(wrongIndex))
        XCTAssertThrowsError(try receiver.open(Array(message.prefix(31))))
        // A keypair cannot open its own messages: directions use different keys.
        XCTAssertThrowsError(try sender.open(message))
    }

    func testExpiredKeypairRefusesToSealOrOpen() throws {
        var (sender, receiver) = try keypairs()
        let late = sender.createdAt + WG.REJECT_AFTER_TIME
        var message: [UInt8] = []
        XCTAssertThrowsError(try sender.seal([1], into: &message, now: late)) {
            XCTAssertEqual($0 as? TransportError, .keypairExpired)
        }
        try sender.seal([1], into: &message)
        XCTAssertThrowsError(try receiver.open(message, now: receiver.createdAt + WG.REJECT_AFTER_TIME))
    }

    func testExhaustedCounterRefusesToSeal() throws {
        var (sender, _) = try keypairs()
        sender.sendCounter = WG.REJECT_AFTER_MESSAGES
        var message: [UInt8] = []
        XCTAssertThrowsError(try sender.seal([1], into: &message)) {
            XCTAssertEqual($0 as? TransportError, .counterExhausted)
        }
    }
}
