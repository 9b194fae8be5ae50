import XCTest
@testable import Tunnel

final class CookieTests: XCTestCase {
    private let aliceAddress: [UInt8] = [192, 0, 2, 1, 0xCA, 0x6C]   // 192.0.2.1:51820

    func testCookieReplyRoundTripMakesMAC2Valid() throws {
        let start = ContinuousClock.now
        var alice = Device(privateKey: PrivateKey(), now: start)
        var bob = Device(privateKey: PrivateKey(), now: start)
        try alice.addPeer(bob.publicKey)
        try bob.addPeer(alice.publicKey)

        // Without a cookie MAC2 is zero and, under load, Bob refuses to do DH work.
        let first = try alice.createInitiation(to: bob.publicKey, timestamp: TAI64N(unixSeconds: 1_900_000_000, nanoseconds: 0), now: start)
        XCTAssertEqual(first.mac2, [UInt8](repeating: 0, count: 16))
        XCTAssertTrue(bob.verifyMAC1(of: first.bytes))
        XCTAssertFalse(bob.verifyMAC2(of: first.bytes, source: aliceAddress, now: start))

        let reply = try bob.makeCookieReply(to: first.bytes, source: aliceAddress, now: start)
        XCTAssertEqual(reply.bytes.count, 64)
        XCTAssertEqual(reply.receiverIndex, first.senderIndex)
        guard case .cookieReply(let received) = try Message.decode(reply.bytes) else { return XCTFail("decode") }
        try alice.consumeCookieReply(received, now: start)
        // A reply is good for one use only.
        XCTAssertThrowsError(try alice.consumeCookieReply(received, now: start))

        let second = try alice.createInitiation(
            to: bob.publicKey, timestamp: TAI64N(unixSeconds: 1_900_000_001, nanoseconds: 0), now: start + .seconds(1))
        XCTAssertNotEqual(second.mac2, [UInt8](repeating: 0, count: 16))
        XCTAssertTrue(bob.verifyMAC2(of: second.bytes, source: aliceAddress, now: start + .seconds(1)))
        // The cookie is bound to Alice's address...
        XCTAssertFalse(bob.verifyMAC2(of: second.bytes, source: [198, 51, 100, 7, 0xCA, 0x6C], now: start + .seconds(1)))
        // ...and to the message: flipping a byte before MAC2 breaks it.
        var tampered = second.bytes
        tampered[MessageInitiation.mac1Offset + 3] ^= 1
        XCTAssertFalse(bob.verifyMAC2(of: tampered, source: aliceAddress, now: start + .seconds(1)))
        XCTAssertNoThrow(try bob.consumeInitiation(second))
    }

    func testCookieExpiresWithTheSecretAfterTwoMinutes() throws {
        let start = ContinuousClock.now
        var alice = Device(privateKey: PrivateKey(), now: start)
        var bob = Device(privateKey: PrivateKey(), now: start)
        try alice.addPeer(bob.publicKey)
        try bob.addPeer(alice.publicKey)
        let first = try alice.createInitiation(to: bob.publicKey, now: start)
        try alice.consumeCookieReply(bob.makeCookieReply(to: first.bytes, source: aliceAddress, now: start), now: start)

        let late = start + WG.COOKIE_REFRESH_TIME + .seconds(1)
        // Bob's secret has rotated out: even a correctly computed old cookie is refused.
        let stale = try alice.createInitiation(to: bob.publicKey, now: start + .seconds(10))
        XCTAssertFalse(bob.verifyMAC2(of: stale.bytes, source: aliceAddress, now: late))
        // Alice's stored cookie is too old to use: she sends a zero MAC2.
        let afterExpiry = try alice.createInitiation(to: bob.publicKey, now: late)
        XCTAssertEqual(afterExpiry.mac2, [UInt8](repeating: 0, count: 16))
        // A new reply, under the rotated secret, works again.
        try alice.consumeCookieReply(bob.makeCookieReply(to: afterExpiry.bytes, source: aliceAddress, now: late), now: late)
        let renewed = try alice.createInitiation(to: bob.publicKey, now: late)
        XCTAssertTrue(bob.verifyMAC2(of: renewed.bytes, source: aliceAddress, now: late))
    }

    func testCookieReplyForAnotherMessageIsRejected() throws {
        var alice = Device(privateKey: PrivateKey())
        var bob = Device(privateKey: PrivateKey())
        try alice.addPeer(bob.publicKey)
        try bob.addPeer(alice.publicKey)
        let initiation = try alice.createInitiation(to: bob.publicKey)
        var reply = try bob.makeCookieReply(to: initiation.bytes, source: aliceAddress)
        reply.encryptedCookie[0] ^= 1
        XCTAssertThrowsError(try alice.consumeCookieReply(reply)) {
            XCTAssertEqual($0 as? HandshakeError, .invalidCookieReply)
        }
    }
}
