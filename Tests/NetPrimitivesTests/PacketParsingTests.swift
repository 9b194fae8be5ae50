import XCTest
import NetPrimitives

final class PacketParsingTests: XCTestCase {
    private func summary(_ p: [UInt8]) -> PacketSummary? { p.withUnsafeBytes { PacketSummary.parse($0) } }

    func testRoutingFieldsOfIPv4AndIPv6Headers() {
        var v4 = [UInt8](repeating: 0, count: 28)
        v4[0] = 0x45; v4[3] = 28
        v4[12...15] = [10, 0, 0, 1]; v4[16...19] = [10, 0, 0, 2]
        v4.withUnsafeBytes { p in
            XCTAssertEqual(IPPacket.family(of: p), .v4)
            XCTAssertEqual(IPPacket.source(of: p), IPAddress("10.0.0.1"))
            XCTAssertEqual(IPPacket.destination(of: p), IPAddress("10.0.0.2"))
            XCTAssertEqual(IPPacket.declaredLength(of: p), 28)
        }
        v4[3] = 200  // claims more than there is
        v4.withUnsafeBytes { XCTAssertNil(IPPacket.declaredLength(of: $0)) }
        v4[3] = 19  // less than a header
        v4.withUnsafeBytes { XCTAssertNil(IPPacket.declaredLength(of: $0)) }
        var v6 = [UInt8](repeating: 0, count: 48)
        v6[0] = 0x60; v6[5] = 8; v6[8] = 0xfd; v6[23] = 1; v6[24] = 0xfd; v6[39] = 2
        v6.withUnsafeBytes { p in
            XCTAssertEqual(IPPacket.source(of: p), IPAddress("fd00::1"))
            XCTAssertEqual(IPPacket.destination(of: p), IPAddress("fd00::2"))
            XCTAssertEqual(IPPacket.declaredLength(of: p), 48)
        }
        for short: [UInt8] in [[], [0x10, 0, 0], [0x45] + [UInt8](repeating: 0, count: 18), [0x60] + [UInt8](repeating: 0, count: 38)] {
            short.withUnsafeBytes {
                XCTAssertNil(IPPacket.destination(of: $0))
                XCTAssertNil(IPPacket.source(of: $0))
                XCTAssertNil(IPPacket.declaredLength(of: $0))
            }
        }
    }

    func testIPv4OptionsAndIPv6AreParsed() throws {
        let p = PacketBuilder.v4("10.0.0.1", "10.0.0.2", proto: 6, payload: PacketBuilder.ports(1234, 443), ihlWords: 8)
        let s = try XCTUnwrap(summary(p))
        XCTAssertEqual(s.sourcePort, 1234)
        XCTAssertEqual(s.destinationPort, 443)
        let s6 = try XCTUnwrap(summary(PacketBuilder.tcp("fd00::2", 1234, "fd00:30::1", 80)))
        XCTAssertEqual(s6.family, .v6)
        XCTAssertEqual(s6.destinationAddress, IPAddress("fd00:30::1"))
        XCTAssertEqual(s6.sourceAddress, IPAddress("fd00::2"))
        XCTAssertEqual(s6.destinationPort, 80)
    }

    func testIPv6ExtensionHeadersAreWalkedToTheTransportHeader() throws {
        let p = PacketBuilder.v6(
            "fd00::2", "fd00::1", proto: 17, payload: PacketBuilder.ports(53, 5353, length: 8),
            extensions: [(0, [1, 4, 0, 0, 0, 0]), (43, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), (51, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), (60, [])])
        let s = try XCTUnwrap(summary(p))
        XCTAssertEqual(s.ipProtocol, 17)
        XCTAssertEqual(s.sourcePort, 53)
        XCTAssertEqual(s.destinationPort, 5353)
        // Cut inside the chain: the packet is malformed, not portless.
        for cut in [41, 47, 60] {
            var short = Array(p.prefix(cut))
            short[4] = 0; short[5] = UInt8(cut - 40)
            XCTAssertNil(summary(short), "cut at \(cut)")
        }
        // An extension header whose length runs past the packet.
        var long = p
        long[41] = 200
        XCTAssertNil(summary(long))
    }

    func testFragmentsCarryPortsOnlyWhenInitial() throws {
        let ports = PacketBuilder.ports(1000, 22)
        let first = try XCTUnwrap(summary(PacketBuilder.v6("fd00::2", "fd00::1", proto: 6, payload: ports, extensions: [(44, [0, 1, 0, 0, 0, 7])])))
        XCTAssertEqual(first.destinationPort, 22, "offset 0 with more-fragments set is the initial fragment")
        let later = try XCTUnwrap(summary(PacketBuilder.v6("fd00::2", "fd00::1", proto: 6, payload: ports, extensions: [(44, [0, 0x10, 0, 0, 0, 7])])))
        XCTAssertEqual(later.ipProtocol, 6)
        XCTAssertEqual(later.destinationPort, 0)
        let v4Later = try XCTUnwrap(summary(PacketBuilder.v4("10.0.0.1", "10.0.0.2", proto: 6, payload: ports, fragmentOffset: 0x2000 | 3)))
        XCTAssertEqual(v4Later.destinationPort, 0)
        let v4First = try XCTUnwrap(summary(PacketBuilder.v4("10.0.0.1", "10.0.0.2", proto: 6, payload: ports, fragmentOffset: 0x2000)))
        XCTAssertEqual(v4First.destinationPort, 22)
    }

    func testICMPEchoAndErrorsWithTheirQuotedFlow() throws {
        let echo = try XCTUnwrap(summary(PacketBuilder.echo("10.99.0.2", "10.10.0.1", id: 7)))
        XCTAssertEqual(echo.icmp, .echoRequest)
        XCTAssertEqual(echo.sourcePort, 7)
        XCTAssertTrue(echo.isICMP)
        XCTAssertEqual(summary(PacketBuilder.echo("fd00::1", "fd00::99", id: 9, reply: true))?.icmp, .echoReply)

        let query = PacketBuilder.v4("10.99.0.2", "10.10.0.1", proto: 17, payload: PacketBuilder.ports(4444, 53, length: 8))
        let error = try XCTUnwrap(summary(PacketBuilder.unreachable(from: "10.10.0.1", to: "10.99.0.2", quoting: query)))
        XCTAssertEqual(error.icmp, .error)
        XCTAssertEqual(
            error.embedded,
            .init(ipProtocol: 17, source: IPAddress("10.99.0.2")!.value, destination: IPAddress("10.10.0.1")!.value, sourcePort: 4444, destinationPort: 53))

        let query6 = PacketBuilder.tcp("fd00::99", 5555, "fd00:30::1", 443)
        let error6 = try XCTUnwrap(summary(PacketBuilder.unreachable(from: "fd00:30::1", to: "fd00::99", quoting: query6)))
        XCTAssertEqual(error6.icmp, .error)
        XCTAssertEqual(error6.embedded?.destinationPort, 443)
        XCTAssertEqual(error6.embedded?.source, IPAddress("fd00::99")!.value)

        // An error quoting too little to read is still an error, with no flow to belong to.
        let stub = try XCTUnwrap(summary(PacketBuilder.unreachable(from: "10.10.0.1", to: "10.99.0.2", quoting: Array(query.prefix(12)))))
        XCTAssertEqual(stub.icmp, .error)
        XCTAssertNil(stub.embedded)
        // An error quoting an error is not followed further.
        let nested = try XCTUnwrap(summary(PacketBuilder.unreachable(from: "10.10.0.1", to: "10.99.0.2", quoting: PacketBuilder.unreachable(from: "10.10.0.1", to: "10.99.0.2", quoting: query))))
        XCTAssertEqual(nested.embedded?.ipProtocol, 1)
        XCTAssertEqual(nested.embedded?.sourcePort, 0)
    }

    func testTruncatedAndMalformedPacketsAreRefused() {
        let good = PacketBuilder.tcp("10.0.0.1", 1, "10.0.0.2", 2)
        for bad: [UInt8] in [[], [0x45], [0x45] + [UInt8](repeating: 0, count: 10), [0x70, 0, 0], Array(good.prefix(30)),
                             [0x44] + good.dropFirst(), [0x4f] + good.dropFirst()] {
            XCTAssertNil(summary(bad), "\(bad.prefix(4))")
        }
        // A declared length shorter than the bytes (link padding) is fine; ports stay readable.
        XCTAssertEqual(summary(good + [0, 0, 0, 0])?.destinationPort, 2)
    }

    /// Random packets of every shape, mutated and cut at random: the parser never traps, and it
    /// agrees with the plain reference reading, and with the routing fields, on every one.
    func testMutatedPacketsNeverCrashAndMatchTheReference() {
        var rng = SeededGenerator(seed: 0x1f2e_3d4c)
        let query = PacketBuilder.v4("10.99.0.2", "10.10.0.1", proto: 17, payload: PacketBuilder.ports(4444, 53, length: 8))
        let seeds: [[UInt8]] = [
            PacketBuilder.tcp("10.0.0.1", 1, "10.0.0.2", 2),
            PacketBuilder.tcp("fd00::2", 1234, "fd00:30::1", 80),
            PacketBuilder.v4("10.0.0.1", "10.0.0.2", proto: 6, payload: PacketBuilder.ports(1, 2), ihlWords: 7),
            PacketBuilder.echo("10.99.0.2", "10.10.0.1", id: 7),
            PacketBuilder.echo("fd00::1", "fd00::99", id: 9),
            PacketBuilder.unreachable(from: "10.10.0.1", to: "10.99.0.2", quoting: query),
            PacketBuilder.unreachable(from: "fd00:30::1", to: "fd00::99", quoting: PacketBuilder.tcp("fd00::99", 5555, "fd00:30::1", 443)),
            PacketBuilder.v6("fd00::2", "fd00::1", proto: 17, payload: PacketBuilder.ports(53, 53, length: 8),
                             extensions: [(0, []), (44, [0, 0, 0, 0, 0, 1]), (51, [0, 0, 0, 0, 0, 0, 0, 0]), (60, [0, 0, 0, 0, 0, 0, 0, 0])]),
        ]
        var parsed = 0
        for _ in 0..<20_000 {
            var p = seeds[Int(rng.next() % UInt64(seeds.count))]
            for _ in 0...(rng.next() % 4) {
                p[Int(rng.next() % UInt64(p.count))] = UInt8(truncatingIfNeeded: rng.next())
            }
            if rng.next() % 2 == 0 { p = Array(p.prefix(Int(rng.next() % UInt64(p.count + 1)))) }
            if rng.next() % 8 == 0 { p = (0..<(rng.next() % 80)).map { _ in UInt8(truncatingIfNeeded: rng.next()) } }
            let fast = summary(p)
            XCTAssertEqual(fast, ReferencePacketParser.summary(p), "\(p)")
            if fast != nil { parsed += 1 }
            p.withUnsafeBytes { raw in
                if let s = fast {
                    XCTAssertEqual(IPPacket.source(of: raw), s.sourceAddress)
                    XCTAssertEqual(IPPacket.destination(of: raw), s.destinationAddress)
                    XCTAssertNotNil(IPPacket.declaredLength(of: raw))
                }
                if let length = IPPacket.declaredLength(of: raw) { XCTAssertLessThanOrEqual(length, raw.count) }
            }
        }
        // The mutations must leave enough packets whole for the agreement to mean something.
        XCTAssertGreaterThan(parsed, 5000)
    }
}
