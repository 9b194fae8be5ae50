import XCTest
@testable import Tunnel

final class HandshakeCoalescerTests: XCTestCase {
    private let peer = PrivateKey().publicKey
    private let start = ContinuousClock.now
    private let home = Endpoint(address: [192, 0, 2, 1], port: 40001)
    private let cellular = Endpoint(address: [198, 51, 100, 7], port: 50002)
    private let hotel = Endpoint(address: [203, 0, 113, 9], port: 60003)

    /// A distinct initiation identity (the 112 bytes before MAC1) and its timestamp.
    private func initiation(_ n: UInt8) -> (identity: [UInt8], timestamp: TAI64N) {
        ([UInt8](repeating: n, count: MessageInitiation.mac1Offset - 4),
         TAI64N(unixSeconds: 1_800_000_000, nanoseconds: UInt32(n) * 1_000_000))
    }

    private func at(_ milliseconds: Int) -> ContinuousClock.Instant { start + .milliseconds(milliseconds) }

    private func answer(_ c: inout HandshakeCoalescer, _ n: UInt8, from source: Endpoint, at ms: Int) {
        let i = initiation(n)
        c.answered(peer, timestamp: i.timestamp, identity: i.identity, response: [n, 0xAA], localIndex: UInt32(n),
                   to: source, now: at(ms))
    }

    func testFirstInitiationIsAnsweredAndItsCopyFromANewEndpointGetsTheSameResponse() {
        var c = HandshakeCoalescer(settings: .default)
        let first = initiation(1)
        XCTAssertEqual(c.checkRepeat(first.identity, from: home, now: at(0)), .unknown)
        XCTAssertTrue(c.admits(peer, timestamp: first.timestamp, now: at(0)))
        answer(&c, 1, from: home, at: 0)
        XCTAssertEqual(c.checkRepeat(first.identity, from: cellular, now: at(10)),
                       .resend(peer: peer, response: [1, 0xAA], localIndex: 1))
        XCTAssertEqual(c.checkRepeat(first.identity, from: hotel, now: at(20)),
                       .resend(peer: peer, response: [1, 0xAA], localIndex: 1))
    }

    func testCopyFromAnEndpointAlreadyAnsweredIsDropped() {
        var c = HandshakeCoalescer(settings: .default)
        answer(&c, 1, from: home, at: 0)
        XCTAssertEqual(c.checkRepeat(initiation(1).identity, from: home, now: at(5)), .drop(peer: peer))
        _ = c.checkRepeat(initiation(1).identity, from: cellular, now: at(6))
        XCTAssertEqual(c.checkRepeat(initiation(1).identity, from: cellular, now: at(7)), .drop(peer: peer))
    }

    func testNewerTimestampIsAnsweredAndOlderOrEqualIsNot() {
        var c = HandshakeCoalescer(settings: .default)
        answer(&c, 5, from: home, at: 0)
        XCTAssertFalse(c.admits(peer, timestamp: initiation(4).timestamp, now: at(30)), "older")
        XCTAssertFalse(c.admits(peer, timestamp: initiation(5).timestamp, now: at(30)), "same timestamp, other bytes")
        XCTAssertTrue(c.admits(peer, timestamp: initiation(6).timestamp, now: at(30)), "newer")
        answer(&c, 6, from: home, at: 30)
        // The superseded initiation's copies are dropped without decryption, from anywhere.
        XCTAssertEqual(c.checkRepeat(initiation(5).identity, from: hotel, now: at(40)), .drop(peer: peer))
        // The newest one's copies get the newest response.
        XCTAssertEqual(c.checkRepeat(initiation(6).identity, from: cellular, now: at(40)),
                       .resend(peer: peer, response: [6, 0xAA], localIndex: 6))
    }

    func testFurtherAnswersAreCappedPerWindowAndTheCapResetsWithTheWindow() {
        var c = HandshakeCoalescer(settings: HandshakeCoalescing(window: .milliseconds(500), maxCoalesced: 3))
        answer(&c, 1, from: home, at: 0)
        answer(&c, 2, from: home, at: 30)
        _ = c.checkRepeat(initiation(2).identity, from: cellular, now: at(40))  // resend: the third further answer
        answer(&c, 3, from: home, at: 60)
        XCTAssertFalse(c.admits(peer, timestamp: initiation(4).timestamp, now: at(90)), "over the allowance")
        XCTAssertEqual(c.checkRepeat(initiation(3).identity, from: hotel, now: at(90)), .drop(peer: peer))
        // A new window at 500 ms: newer initiations are answered again, copies of old ones
        // are no longer recognised (the runtime's replay check refuses them).
        XCTAssertTrue(c.admits(peer, timestamp: initiation(4).timestamp, now: at(500)))
        XCTAssertEqual(c.checkRepeat(initiation(3).identity, from: hotel, now: at(500)), .unknown)
        answer(&c, 4, from: hotel, at: 500)
        XCTAssertEqual(c.checkRepeat(initiation(4).identity, from: home, now: at(510)),
                       .resend(peer: peer, response: [4, 0xAA], localIndex: 4))
    }

    func testOffAnswersEverythingAndRemembersNothing() {
        for settings in [HandshakeCoalescing.off, HandshakeCoalescing(window: .milliseconds(500), maxCoalesced: 0),
                         HandshakeCoalescing(window: .zero, maxCoalesced: 8)] {
            XCTAssertFalse(settings.isEnabled)
            var c = HandshakeCoalescer(settings: settings)
            answer(&c, 2, from: home, at: 0)
            XCTAssertEqual(c.count, 0)
            XCTAssertEqual(c.checkRepeat(initiation(2).identity, from: home, now: at(1)), .unknown)
            XCTAssertTrue(c.admits(peer, timestamp: initiation(1).timestamp, now: at(1)))
        }
    }

    func testClosedWindowsAndForgottenPeersAreCollected() {
        var c = HandshakeCoalescer(settings: .default)
        let other = PrivateKey().publicKey
        answer(&c, 1, from: home, at: 0)
        c.answered(other, timestamp: initiation(9).timestamp, identity: initiation(9).identity, response: [9],
                   localIndex: 9, to: hotel, now: at(300))
        XCTAssertEqual(c.count, 2)
        c.expire(now: at(600))
        XCTAssertEqual(c.count, 1, "the first peer's window closed at 500 ms")
        c.forget(other)
        XCTAssertEqual(c.count, 0)
        XCTAssertEqual(c.checkRepeat(initiation(9).identity, from: home, now: at(610)), .unknown)
    }
}
