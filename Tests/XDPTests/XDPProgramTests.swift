import CLibBPF
import XCTest
@testable import XDP

/// The XDP program on crafted frames through BPF_PROG_TEST_RUN: each verdict, each malformed
/// shape, IPv4 (with options), IPv6 (with extension headers), VLAN tags, and the counters.
final class XDPProgramTests: XCTestCase {
    private var xdp: XDPGuard!

    override func setUpWithError() throws {
        xdp = try XDPTestSupport.loadedGuard()
    }

    override func tearDown() {
        xdp = nil
    }

    /// Runs `frame` and checks the action and that exactly the counter of `reason` moved, by one.
    private func expect(_ frame: [UInt8], _ action: XDPAction, _ reason: Reason,
                        file: StaticString = #filePath, line: UInt = #line) throws {
        let before = try xdp.statistics()
        XCTAssertEqual(try xdp.run(frame: frame), action, "\(reason)", file: file, line: line)
        let after = try xdp.statistics()
        for r in Reason.allCases {
            XCTAssertEqual(after[r]! - before[r]!, r == reason ? 1 : 0, "counter \(r) for expected \(reason)",
                           file: file, line: line)
        }
    }

    func testReasonsMatchTheProgramHeader() {
        XCTAssertEqual(Reason.allCases.count, Reason.programCount)
        XCTAssertEqual(Reason.passNotTunnel.rawValue, ZTP_PASS_NOT_TUNNEL.rawValue)
        XCTAssertEqual(Reason.passFragment.rawValue, ZTP_PASS_FRAGMENT.rawValue)
        XCTAssertEqual(Reason.passInitiation.rawValue, ZTP_PASS_INITIATION.rawValue)
        XCTAssertEqual(Reason.passResponse.rawValue, ZTP_PASS_RESPONSE.rawValue)
        XCTAssertEqual(Reason.passCookieReply.rawValue, ZTP_PASS_COOKIE_REPLY.rawValue)
        XCTAssertEqual(Reason.passTransport.rawValue, ZTP_PASS_TRANSPORT.rawValue)
        XCTAssertEqual(Reason.dropBlocked.rawValue, ZTP_DROP_BLOCKED.rawValue)
        XCTAssertEqual(Reason.dropTruncated.rawValue, ZTP_DROP_TRUNCATED.rawValue)
        XCTAssertEqual(Reason.dropUnknownType.rawValue, ZTP_DROP_UNKNOWN_TYPE.rawValue)
        XCTAssertEqual(Reason.dropReserved.rawValue, ZTP_DROP_RESERVED.rawValue)
        XCTAssertEqual(Reason.dropBadLength.rawValue, ZTP_DROP_BAD_LENGTH.rawValue)
        XCTAssertEqual(Reason.dropUnknownSession.rawValue, ZTP_DROP_UNKNOWN_SESSION.rawValue)
        XCTAssertEqual(Reason.dropRateLimited.rawValue, ZTP_DROP_RATE_LIMITED.rawValue)
    }

    // MARK: Not for the tunnel: untouched

    func testTrafficNotForTheTunnelPasses() throws {
        try expect(Frames.udp4(Frames.message(type: 9, length: 3), port: 53), .pass, .passNotTunnel)
        try expect(Frames.udp6(Frames.message(type: 9, length: 3), port: 443), .pass, .passNotTunnel)
        let icmp = Frames.ethernet(type: Frames.etherIPv4)
            + Frames.ipv4(payloadLength: 8, protocolNumber: 1) + [8, 0, 0, 0, 0, 1, 0, 1]
        try expect(icmp, .pass, .passNotTunnel)
        try expect(Frames.ethernet(type: Frames.etherARP) + [UInt8](repeating: 0, count: 28), .pass, .passNotTunnel)
        // An IPv4 header cut short is the stack's to drop, not ours.
        try expect(Frames.ethernet(type: Frames.etherIPv4) + [0x45, 0, 0], .pass, .passNotTunnel)
    }

    func testWithNoPortConfiguredEverythingPasses() throws {
        try xdp.setTunnelPort(0)
        try expect(Frames.udp4(Frames.message(type: 9, length: 3)), .pass, .passNotTunnel)
    }

    // MARK: WireGuard message shapes

    func testWellFormedHandshakeMessagesPass() throws {
        try expect(Frames.udp4(Frames.initiation()), .pass, .passInitiation)
        try expect(Frames.udp4(Frames.response()), .pass, .passResponse)
        try expect(Frames.udp4(Frames.cookieReply()), .pass, .passCookieReply)
        try expect(Frames.udp6(Frames.initiation()), .pass, .passInitiation)
        try expect(Frames.udp6(Frames.response()), .pass, .passResponse)
        try expect(Frames.udp6(Frames.cookieReply()), .pass, .passCookieReply)
    }

    func testHandshakeMessagesOfAnyOtherLengthAreDropped() throws {
        for length in [147, 149, 92, 180] { try expect(Frames.udp4(Frames.initiation(length: length)), .drop, .dropBadLength) }
        for length in [91, 93, 148, 64] { try expect(Frames.udp4(Frames.response(length: length)), .drop, .dropBadLength) }
        for length in [63, 65, 92, 32] { try expect(Frames.udp6(Frames.cookieReply(length: length)), .drop, .dropBadLength) }
    }

    /// Senders pad to 16 bytes only up to their MTU: wireguard-go seals a 1420-byte packet at
    /// MTU 1420 unpadded, 1,436 bytes in all, so no length from the keepalive's 32 up is wrong.
    func testTransportOfAnyLengthFromTheEmptyKeepaliveUpPasses() throws {
        for length in [32, 33, 47, 48, 1436, 1440, 1441] {
            try expect(Frames.udp4(Frames.transport(receiver: 1, length: length)), .pass, .passTransport)
        }
        for length in [4, 16, 31] { try expect(Frames.udp4(Frames.transport(receiver: 1, length: length)), .drop, .dropBadLength) }
    }

    func testUnknownTypesAndNonZeroReservedBytesAreDropped() throws {
        for type: UInt8 in [0, 5, 0x80, 0xFF] { try expect(Frames.udp4(Frames.message(type: type, length: 148)), .drop, .dropUnknownType) }
        for position in 1..<4 {
            var message = Frames.initiation()
            message[position] = 1
            try expect(Frames.udp4(message), .drop, .dropReserved)
        }
    }

    func testDatagramsTooShortForATypeAreDropped() throws {
        for length in 0..<4 { try expect(Frames.udp4(Frames.message(type: 1, length: length)), .drop, .dropBadLength) }
    }

    func testUDPLengthBeyondTheFrameOrBelowItsHeaderIsDropped() throws {
        let payload = Frames.initiation()
        for lengthField: UInt16 in [7, UInt16(8 + payload.count + 1), 0xFFFF] {
            let datagram = Frames.udp(payload: payload, lengthField: lengthField)
            let frame = Frames.ethernet(type: Frames.etherIPv4) + Frames.ipv4(payloadLength: datagram.count) + datagram
            try expect(frame, .drop, .dropTruncated)
        }
    }

    func testEthernetPaddingAfterTheDatagramIsIgnored() throws {
        // A 32-byte keepalive in a frame padded past the UDP length, as short frames are on the wire.
        try expect(Frames.udp4(Frames.transport(receiver: 1)) + [0, 0, 0, 0], .pass, .passTransport)
    }

    // MARK: Sessions

    func testTransportToAnUnknownSessionIsDroppedOnceSessionsArePublished() throws {
        try expect(Frames.udp4(Frames.transport(receiver: 0xDEAD_BEEF)), .pass, .passTransport)
        try xdp.updateSessions(receiverIndices: [0x0102_0304, 0xDEAD_BEEF])
        try expect(Frames.udp4(Frames.transport(receiver: 0xDEAD_BEEF, length: 64)), .pass, .passTransport)
        try expect(Frames.udp6(Frames.transport(receiver: 0x0102_0304)), .pass, .passTransport)
        try expect(Frames.udp4(Frames.transport(receiver: 0x0403_0201)), .drop, .dropUnknownSession)
        try xdp.updateSessions(receiverIndices: [0x0102_0304])
        try expect(Frames.udp4(Frames.transport(receiver: 0xDEAD_BEEF)), .drop, .dropUnknownSession)
        try xdp.insertSession(receiverIndex: 7)
        try expect(Frames.udp4(Frames.transport(receiver: 7)), .pass, .passTransport)
        try xdp.removeSession(receiverIndex: 7)
        try expect(Frames.udp4(Frames.transport(receiver: 7)), .drop, .dropUnknownSession)
        // Handshakes are not tied to sessions.
        try expect(Frames.udp4(Frames.response()), .pass, .passResponse)
    }

    // MARK: Rate limit

    func testInitiationsBeyondTheBurstAreRateLimitedPerSource() throws {
        try xdp.setHandshakeRate(perSecond: 1, burst: 3)
        for _ in 0..<3 { try expect(Frames.udp4(Frames.initiation()), .pass, .passInitiation) }
        for _ in 0..<5 { try expect(Frames.udp4(Frames.initiation()), .drop, .dropRateLimited) }
        // Another source has its own bucket; other messages are not limited.
        try expect(Frames.udp4(Frames.initiation(), source: [198, 51, 100, 8]), .pass, .passInitiation)
        try expect(Frames.udp4(Frames.response()), .pass, .passResponse)
        try xdp.setHandshakeRate(perSecond: 0, burst: 1)
        try expect(Frames.udp4(Frames.initiation()), .pass, .passInitiation)
    }

    func testIPv6SourcesShareABucketPerSlash64() throws {
        try xdp.setHandshakeRate(perSecond: 1, burst: 2)
        var sameSlash64 = Frames.client6
        sameSlash64[15] = 0x99
        var otherSlash64 = Frames.client6
        otherSlash64[7] = 0x42
        try expect(Frames.udp6(Frames.initiation()), .pass, .passInitiation)
        try expect(Frames.udp6(Frames.initiation(), source: sameSlash64), .pass, .passInitiation)
        try expect(Frames.udp6(Frames.initiation(), source: sameSlash64), .drop, .dropRateLimited)
        try expect(Frames.udp6(Frames.initiation(), source: otherSlash64), .pass, .passInitiation)
    }

    func testTheBucketRefillsAtTheConfiguredRate() throws {
        try xdp.setHandshakeRate(perSecond: 20, burst: 1)
        try expect(Frames.udp4(Frames.initiation()), .pass, .passInitiation)
        try expect(Frames.udp4(Frames.initiation()), .drop, .dropRateLimited)
        Thread.sleep(forTimeInterval: 0.12) // > 1/20 s: one token back, at most two
        try expect(Frames.udp4(Frames.initiation()), .pass, .passInitiation)
    }

    // MARK: Deny list

    func testBlockedPrefixesAreDroppedWhateverTheyCarry() throws {
        try xdp.setBlocklist([IPPrefix(parsing: "198.51.100.0/28"), IPPrefix(parsing: "2001:db8:0:1::/64")])
        try expect(Frames.udp4(Frames.initiation()), .drop, .dropBlocked)
        try expect(Frames.udp4(Frames.message(type: 9, length: 5)), .drop, .dropBlocked)
        try expect(Frames.udp6(Frames.transport(receiver: 1)), .drop, .dropBlocked)
        try expect(Frames.udp4(Frames.initiation(), source: [198, 51, 100, 16]), .pass, .passInitiation)
        try expect(Frames.udp6(Frames.initiation(), source: Frames.edge6), .pass, .passInitiation)
        // The deny list guards the tunnel port only.
        try expect(Frames.udp4(Frames.initiation(), port: 22), .pass, .passNotTunnel)
        try xdp.setBlocklist([IPPrefix(parsing: "2001:db8:0:1::/64")])
        try expect(Frames.udp4(Frames.initiation()), .pass, .passInitiation)
        try expect(Frames.udp6(Frames.initiation()), .drop, .dropBlocked)
        try xdp.setBlocklist([])
        try expect(Frames.udp6(Frames.initiation()), .pass, .passInitiation)
    }

    // MARK: Parsing

    func testIPv4OptionsAreSkippedByHeaderLength() throws {
        for optionBytes in [4, 8, 20, 40] {
            let options = [UInt8](repeating: 1, count: optionBytes) // NOP options
            try expect(Frames.udp4(Frames.initiation(), options: options), .pass, .passInitiation)
            try expect(Frames.udp4(Frames.initiation(length: 147), options: options), .drop, .dropBadLength)
            try expect(Frames.udp4(Frames.initiation(), port: 53, options: options), .pass, .passNotTunnel)
        }
    }

    func testVLANTaggedFramesAreJudgedLikeUntaggedOnes() throws {
        for tags in [[Frames.tag8021Q], [Frames.tag8021AD], [Frames.tag8021AD, Frames.tag8021Q], [Frames.tag8021Q, Frames.tag8021Q]] {
            try expect(Frames.udp4(Frames.initiation(), vlanTags: tags), .pass, .passInitiation)
            try expect(Frames.udp4(Frames.initiation(length: 100), vlanTags: tags), .drop, .dropBadLength)
            try expect(Frames.udp6(Frames.message(type: 7, length: 148), vlanTags: tags), .drop, .dropUnknownType)
            try expect(Frames.udp6(Frames.initiation(), port: 80, vlanTags: tags), .pass, .passNotTunnel)
        }
        // A third tag is beyond what the program parses: untouched.
        let threeTags = [Frames.tag8021AD, Frames.tag8021Q, Frames.tag8021Q]
        try expect(Frames.udp4(Frames.message(type: 7, length: 3), vlanTags: threeTags), .pass, .passNotTunnel)
    }

    func testIPv6ExtensionHeadersAreWalked() throws {
        let hopByHop: (type: UInt8, body: [UInt8]) = (0, [1, 4, 0, 0, 0, 0]) // PadN
        let destination: (type: UInt8, body: [UInt8]) = (60, [1, 12] + [UInt8](repeating: 0, count: 12))
        let routing: (type: UInt8, body: [UInt8]) = (43, [0, 0, 0, 0, 0, 0])
        let atomicFragment: (type: UInt8, body: [UInt8]) = (44, [0, 0, 0, 0, 0, 1])
        let chain = [hopByHop, routing, destination, atomicFragment]
        try expect(Frames.udp6(Frames.initiation(), extensionHeaders: [hopByHop]), .pass, .passInitiation)
        try expect(Frames.udp6(Frames.initiation(), extensionHeaders: chain), .pass, .passInitiation)
        try expect(Frames.udp6(Frames.message(type: 1, length: 99), extensionHeaders: chain), .drop, .dropBadLength)
        // A fragment (offset or more-fragments set) passes: the stack reassembles it first.
        let firstFragment: (type: UInt8, body: [UInt8]) = (44, [0, 1, 0, 0, 0, 1])
        try expect(Frames.udp6(Frames.initiation(), extensionHeaders: [hopByHop, firstFragment]), .pass, .passFragment)
        // Longer chains than the program walks, and ESP, are not judged.
        try expect(Frames.udp6(Frames.message(type: 9, length: 1), extensionHeaders: chain + [destination]), .pass, .passNotTunnel)
        try expect(Frames.udp6(Frames.message(type: 9, length: 1), extensionHeaders: [(50, [0, 0, 0, 0, 0, 0])]), .pass, .passNotTunnel)
    }

    func testIPv4FragmentsPass() throws {
        let payload = Frames.message(type: 9, length: 3)
        for fragmentField: UInt16 in [0x2000, 0x0010, 0x2010] { // first (MF), last, middle
            let datagram = Frames.udp(payload: payload)
            let frame = Frames.ethernet(type: Frames.etherIPv4)
                + Frames.ipv4(payloadLength: datagram.count, fragmentField: fragmentField) + datagram
            try expect(frame, .pass, .passFragment)
        }
    }

    // MARK: Counters and upgrades

    func testCountersCountEveryVerdict() throws {
        try xdp.setHandshakeRate(perSecond: 1, burst: 1)
        let frames = [Frames.udp4(Frames.initiation()), Frames.udp4(Frames.initiation()), Frames.udp4(Frames.response()),
                      Frames.udp4(Frames.message(type: 6, length: 40)), Frames.udp6(Frames.transport(receiver: 3)),
                      Frames.udp6(Frames.transport(receiver: 3, length: 31)), Frames.udp4([], port: 9)]
        let before = try xdp.statistics()
        for frame in frames { _ = try xdp.run(frame: frame) }
        let after = try xdp.statistics()
        let delta = Dictionary(uniqueKeysWithValues: Reason.allCases.map { ($0, after[$0]! - before[$0]!) })
        XCTAssertEqual(delta.values.reduce(0, +), UInt64(frames.count))
        XCTAssertEqual(delta[.passInitiation], 1)
        XCTAssertEqual(delta[.dropRateLimited], 1)
        XCTAssertEqual(delta[.passResponse], 1)
        XCTAssertEqual(delta[.dropUnknownType], 1)
        XCTAssertEqual(delta[.passTransport], 1)
        XCTAssertEqual(delta[.dropBadLength], 1)
        XCTAssertEqual(delta[.passNotTunnel], 1)
    }

    func testAReplacementProgramKeepsMapsAndCounters() throws {
        try xdp.updateSessions(receiverIndices: [42])
        try xdp.setBlocklist([IPPrefix(parsing: "203.0.113.0/24")])
        try expect(Frames.udp4(Frames.transport(receiver: 42)), .pass, .passTransport)
        let before = try xdp.statistics()
        try xdp.replaceProgram(objectPath: XDPTestSupport.objectPath())
        XCTAssertEqual(try xdp.statistics(), before)
        try expect(Frames.udp4(Frames.transport(receiver: 42)), .pass, .passTransport)
        try expect(Frames.udp4(Frames.transport(receiver: 43)), .drop, .dropUnknownSession)
        try expect(Frames.udp4(Frames.initiation(), source: [203, 0, 113, 9]), .drop, .dropBlocked)
    }
}
