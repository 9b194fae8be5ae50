import XCTest
@testable import Tunnel

/// GSO super-packets as an offloading TUN reads them, split into MTU-sized packets.
final class OffloadSegmentationTests: XCTestCase {
    private let flags = (fin: UInt8(0x01), syn: UInt8(0x02), psh: UInt8(0x08), ack: UInt8(0x10), urg: UInt8(0x20), cwr: UInt8(0x80))

    func testIPv4TCPSuperPacketSplitsIntoSegmentsWithFreshHeadersAndChecksums() throws {
        var flow = TestFlow()
        flow.options = TestFlow.timestamps()
        let payload = TestPackets.payload(5000)
        let mss = 1448
        let read = TestPackets.tcpSuperPacket(flow, sequence: 0xFFFF_F000, flags: flags.ack | flags.psh | flags.fin | flags.cwr,
                                              payload: payload, gsoSize: mss, identification: 0xFFFE)
        let segments = try TestSlots(count: 8).segment(read)

        XCTAssertEqual(segments.count, 4)
        for (i, segment) in segments.enumerated() {
            let dataLength = min(mss, payload.count - i * mss)
            XCTAssertEqual(segment.count, 20 + 32 + dataLength)
            XCTAssertEqual(Int(readBigEndian16(segment, 2)), segment.count, "IPv4 total length")
            XCTAssertEqual(readBigEndian16(segment, 4), 0xFFFE &+ UInt16(i), "identification advances per segment")
            XCTAssertTrue(Reference.ipv4HeaderChecksumIsValid(segment), "IPv4 header checksum of segment \(i)")
            XCTAssertTrue(Reference.transportChecksumIsValid(segment), "TCP checksum of segment \(i)")
            XCTAssertEqual(readBigEndian32(segment, 24), 0xFFFF_F000 &+ UInt32(i * mss), "sequence number wraps and advances")
            XCTAssertEqual(Array(segment[40..<52]), TestFlow.timestamps(), "options copied")
            XCTAssertEqual(Array(segment[52...]), Array(payload[(i * mss)..<(i * mss + dataLength)]))
        }
        XCTAssertEqual(segments[0][33], flags.ack | flags.cwr, "CWR on the first segment only, no FIN/PSH")
        XCTAssertEqual(segments[1][33], flags.ack)
        XCTAssertEqual(segments[2][33], flags.ack)
        XCTAssertEqual(segments[3][33], flags.ack | flags.psh | flags.fin, "FIN and PSH on the last segment")
    }

    func testIPv6TCPSuperPacketWithPayloadAMultipleOfTheSegmentSize() throws {
        let flow = TestFlow.v6(options: TestFlow.timestamps())
        let payload = TestPackets.payload(3 * 1208)
        let read = TestPackets.tcpSuperPacket(flow, sequence: 77, payload: payload, gsoSize: 1208)
        let segments = try TestSlots(count: 8).segment(read)

        XCTAssertEqual(segments.count, 3)
        for (i, segment) in segments.enumerated() {
            XCTAssertEqual(segment.count, 40 + 32 + 1208)
            XCTAssertEqual(Int(readBigEndian16(segment, 4)), segment.count - 40, "IPv6 payload length")
            XCTAssertTrue(Reference.transportChecksumIsValid(segment), "TCP checksum of segment \(i)")
            XCTAssertEqual(readBigEndian32(segment, 44), 77 + UInt32(i * 1208))
            XCTAssertEqual(Array(segment[72...]), Array(payload[(i * 1208)..<((i + 1) * 1208)]))
        }
        XCTAssertEqual(segments.map { $0[53] }, [flags.ack, flags.ack, flags.ack | flags.psh])
    }

    func testOneByteLastSegmentIsItsOwnValidPacket() throws {
        for flow in [TestFlow(), TestFlow.v6()] {
            let payload = TestPackets.payload(2 * 1000 + 1)
            let segments = try TestSlots(count: 4).segment(TestPackets.tcpSuperPacket(flow, sequence: 1, payload: payload, gsoSize: 1000))
            let headers = (flow.isIPv6 ? 40 : 20) + 20
            XCTAssertEqual(segments.map { $0.count - headers }, [1000, 1000, 1])
            XCTAssertEqual(segments.last?.last, payload.last)
            XCTAssertTrue(segments.allSatisfy(Reference.transportChecksumIsValid))
        }
    }

    func testPayloadShorterThanTheSegmentSizeGivesOnePacket() throws {
        let payload = TestPackets.payload(333)
        let segments = try TestSlots(count: 4).segment(TestPackets.tcpSuperPacket(TestFlow(), sequence: 5, payload: payload, gsoSize: 1400))
        XCTAssertEqual(segments.count, 1)
        XCTAssertEqual(segments[0].count, 40 + 333)
        XCTAssertTrue(Reference.transportChecksumIsValid(segments[0]))
        XCTAssertTrue(Reference.ipv4HeaderChecksumIsValid(segments[0]))
    }

    func testUDPSuperPacketSplitsIntoDatagramsForBothFamilies() throws {
        for flow in [TestFlow(), TestFlow.v6()] {
            let payload = TestPackets.payload(4000)
            let segments = try TestSlots(count: 4).segment(TestPackets.udpSuperPacket(flow, payload: payload, gsoSize: 1300))
            XCTAssertEqual(segments.count, 4)
            let ip = flow.isIPv6 ? 40 : 20
            var reassembled: [UInt8] = []
            for segment in segments {
                XCTAssertEqual(Int(readBigEndian16(segment, ip + 4)), segment.count - ip, "UDP length")
                XCTAssertTrue(Reference.transportChecksumIsValid(segment))
                XCTAssertNotEqual(readBigEndian16(segment, ip + 6), 0, "0 would mean no checksum")
                reassembled += segment[(ip + 8)...]
            }
            XCTAssertEqual(reassembled, payload)
            XCTAssertEqual(segments.last.map { $0.count - ip - 8 }, 4000 - 3 * 1300)
        }
    }

    func testPartialChecksumOfAPlainPacketIsCompleted() throws {
        for flow in [TestFlow(), TestFlow.v6()] {
            let ip = flow.isIPv6 ? 40 : 20
            let tcp = TestPackets.tcp(flow, sequence: 9, payload: TestPackets.payload(777), partialChecksum: true)
            let udp = TestPackets.udp(flow, payload: TestPackets.payload(51), partialChecksum: true)
            for (packet, offset) in [(tcp, 16), (udp, 6)] {
                XCTAssertFalse(Reference.transportChecksumIsValid(packet), "the input is partial")
                let header = VirtioNetHeader(flags: VirtioNetHeader.VIRTIO_NET_HDR_F_NEEDS_CSUM,
                                             checksumStart: UInt16(ip), checksumOffset: UInt16(offset))
                let out = try TestSlots(count: 1).segment(TestPackets.encode(header) + packet)
                XCTAssertEqual(out.count, 1)
                XCTAssertTrue(Reference.transportChecksumIsValid(out[0]))
                XCTAssertEqual(Array(out[0][..<(ip + offset)]), Array(packet[..<(ip + offset)]), "nothing else changes")
            }
        }
    }

    func testPlainPacketWithoutChecksumWorkIsCopiedUnchanged() throws {
        let packet = TestPackets.tcp(TestFlow(), sequence: 1, payload: TestPackets.payload(100))
        let out = try TestSlots(count: 1).segment(TestPackets.encode(VirtioNetHeader()) + packet)
        XCTAssertEqual(out, [packet])
    }

    func testSegmentsLandAfterTheHeadroomOfEachSlot() throws {
        let slots = TestSlots(count: 3, stride: 1600, headroom: 16)
        let read = TestPackets.tcpSuperPacket(TestFlow(), sequence: 1, payload: TestPackets.payload(2500), gsoSize: 1400)
        let count = try read.withUnsafeBytes { bytes throws(OffloadError) in try GSOSegmenter.segment(bytes, into: slots.slots) }
        XCTAssertEqual(count, 2)
        XCTAssertEqual(slots.storage[0], 0xEE, "headroom untouched")
        XCTAssertEqual(slots.storage[16], 0x45)
        XCTAssertEqual(slots.storage[1600 + 16], 0x45)
        XCTAssertEqual(slots.storage[3200], 0xEE, "unused slot untouched")
    }

    func testMalformedReadsAreRejectedWithTypedErrors() throws {
        let good = TestPackets.tcpSuperPacket(TestFlow(), sequence: 1, payload: TestPackets.payload(3000), gsoSize: 1000)
        let goodV6 = TestPackets.tcpSuperPacket(TestFlow.v6(), sequence: 1, payload: TestPackets.payload(3000), gsoSize: 1000)
        func changed(_ bytes: [UInt8], _ edit: (inout [UInt8]) -> Void) -> [UInt8] {
            var copy = bytes
            edit(&copy)
            return copy
        }
        func header(_ bytes: [UInt8], _ edit: (inout VirtioNetHeader) -> Void) -> [UInt8] {
            var decoded = try! decodeHeader(bytes)
            edit(&decoded)
            return TestPackets.encode(decoded) + bytes[10...]
        }
        let cases: [(String, [UInt8], OffloadError)] = [
            ("empty read", [], .truncatedVirtioHeader(0)),
            ("short virtio header", Array(good[..<7]), .truncatedVirtioHeader(7)),
            ("UFO", header(good) { $0.gsoType = VirtioNetHeader.VIRTIO_NET_HDR_GSO_UDP }, .unsupportedSegmentation(3)),
            ("unknown GSO type", header(good) { $0.gsoType = 9 }, .unsupportedSegmentation(9)),
            ("no IP packet", Array(good[..<10]), .malformedIPHeader),
            ("IPv6 packet as TCPV4", header(goodV6) { $0.gsoType = VirtioNetHeader.VIRTIO_NET_HDR_GSO_TCPV4 },
             .ipVersionMismatch(version: 6, gsoType: 1)),
            ("IPv4 packet as TCPV6", header(good) { $0.gsoType = VirtioNetHeader.VIRTIO_NET_HDR_GSO_TCPV6 },
             .ipVersionMismatch(version: 4, gsoType: 4)),
            ("IP version 5", changed(good) { $0[10] = 0x55 }, .ipVersionMismatch(version: 5, gsoType: 1)),
            ("IHL below 5", changed(good) { $0[10] = 0x44 }, .malformedIPHeader),
            ("IP header cut short", Array(good[..<25]), .malformedIPHeader),
            ("UDP packet as TCPV4", changed(good) { $0[10 + 9] = 17 }, .transportMismatch(17)),
            ("csum_start not the transport header", header(good) { $0.checksumStart = 24 }, .checksumStartMismatch(24)),
            ("csum_offset not the TCP checksum", header(good) { $0.checksumOffset = 6 },
             .checksumOffsetOutOfRange(start: 20, offset: 6)),
            ("TCP data offset below 5", changed(good) { $0[10 + 32] = 0x40 }, .malformedTransportHeader),
            ("TCP header cut short", Array(good[..<(10 + 30)]), .malformedTransportHeader),
            ("TCP options beyond the packet", changed(Array(good[..<(10 + 45)])) { $0[10 + 32] = 0xF0 }, .malformedTransportHeader),
            ("hdr_len beyond the packet", header(good) { $0.headerLength = 9000 },
             .headerLengthBeyondPacket(headerLength: 9000, packetLength: 3040)),
            ("gso_size 0", header(good) { $0.gsoSize = 0 }, .zeroSegmentSize),
            ("partial checksum beyond a plain packet",
             header(good) { $0.gsoType = 0; $0.checksumStart = 20; $0.checksumOffset = 3019 },
             .checksumOffsetOutOfRange(start: 20, offset: 3019)),
        ]
        for (name, read, expected) in cases {
            XCTAssertThrowsError(try TestSlots(count: 8, stride: 4096).segment(read), name) { error in
                XCTAssertEqual(error as? OffloadError, expected, name)
            }
        }
    }

    func testSegmentsThatDoNotFitTheSlotsAreRejected() throws {
        let read = TestPackets.tcpSuperPacket(TestFlow(), sequence: 1, payload: TestPackets.payload(5000), gsoSize: 1000)
        XCTAssertThrowsError(try TestSlots(count: 4).segment(read)) {
            XCTAssertEqual($0 as? OffloadError, .tooManySegments(needed: 5, available: 4))
        }
        XCTAssertThrowsError(try TestSlots(count: 8, stride: 1000, headroom: 16).segment(read)) {
            XCTAssertEqual($0 as? OffloadError, .packetTooLarge(1040))
        }
        let plain = TestPackets.encode(VirtioNetHeader()) + TestPackets.payload(1500)
        XCTAssertThrowsError(try TestSlots(count: 1, stride: 1000, headroom: 16).segment(plain)) {
            XCTAssertEqual($0 as? OffloadError, .packetTooLarge(1500))
        }
        XCTAssertThrowsError(try TestSlots(count: 0).segment(plain)) {
            XCTAssertEqual($0 as? OffloadError, .tooManySegments(needed: 1, available: 0))
        }
    }

    /// Random damage to valid super-packets (fixed seed): each read either fails with an
    /// ``OffloadError`` or yields packets that fit their slots; nothing traps.
    func testDamagedReadsNeverCrashAndNeverOverrunTheSlots() throws {
        var random = OffloadRandom(seed: 0x0FF1_0AD5)
        let slots = TestSlots(count: 64, stride: 1600, headroom: 16)
        let originals = [
            TestPackets.tcpSuperPacket(TestFlow(), sequence: 1, payload: TestPackets.payload(9000), gsoSize: 1448),
            TestPackets.tcpSuperPacket(TestFlow.v6(options: TestFlow.timestamps()), sequence: 1, payload: TestPackets.payload(7000), gsoSize: 1200),
            TestPackets.udpSuperPacket(TestFlow(), payload: TestPackets.payload(6000), gsoSize: 1000),
        ]
        var accepted = 0, rejected = 0
        for round in 0..<3000 {
            var read = originals[round % originals.count]
            for _ in 0..<(1 + Int(random.next() % 4)) {
                let at = Int(random.next() % UInt64(min(read.count, 80)))
                read[at] = UInt8(truncatingIfNeeded: random.next())
            }
            if random.next() % 3 == 0 { read = Array(read[..<Int(random.next() % UInt64(read.count + 1))]) }
            do {
                let packets = try slots.segment(read)
                accepted += 1
                XCTAssertTrue(packets.allSatisfy { $0.count <= slots.slots.packetCapacity })
            } catch is OffloadError {
                rejected += 1
            }
        }
        XCTAssertGreaterThan(accepted, 100, "damage outside the checked fields still segments")
        XCTAssertGreaterThan(rejected, 100)
    }
}
