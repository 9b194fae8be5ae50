import XCTest
@testable import Tunnel

/// Decrypted UDP datagrams merged into `GSO_UDP_L4` super-packets where the TUN took USO,
/// and back.
final class OffloadUDPCoalescingTests: XCTestCase {
    private func coalescer(_ offloads: TunOffloads = .tcpAndUDP, capacity: Int = 128) -> TunCoalescer {
        TunCoalescer(packetCapacity: capacity, maximumPacketSize: 1600, offloads: offloads)
    }

    /// Datagrams of `flow` carrying `sizes` bytes each, consecutive IDs, the payloads one
    /// continuous pattern.
    private func datagrams(_ flow: TestFlow, sizes: [Int]) -> [[UInt8]] {
        var offset = 0
        return sizes.enumerated().map { i, size in
            defer { offset += size }
            return TestPackets.udp(flow, payload: TestPackets.payload(size, start: offset), identification: 100 &+ UInt16(i))
        }
    }

    private func gsoType(_ write: [UInt8]) throws -> UInt8 { try decodeHeader(write).gsoType }

    func testSegmentThenCoalesceGivesBackTheSuperPacketByteForByte() throws {
        for flow in [TestFlow(), TestFlow.v6()] {
            for payloadLength in [3 * 1000, 2 * 1000 + 1, 1001, 7777] {
                let superPacket = TestPackets.udpSuperPacket(flow, payload: TestPackets.payload(payloadLength), gsoSize: 1000)
                let pieces = try TestSlots(count: 16).segment(superPacket)
                XCTAssertEqual(pieces.count, (payloadLength + 999) / 1000)
                for piece in pieces { XCTAssertTrue(Reference.transportChecksumIsValid(piece)) }
                let writes = try coalescer().coalesce(pieces)
                XCTAssertEqual(writes.count, 1, "one flow, equal sizes: one write")
                XCTAssertEqual(writes.first, superPacket, "v6 \(flow.isIPv6), \(payloadLength) bytes")
                XCTAssertEqual(try TestSlots(count: 16).segment(writes[0]), pieces)
            }
        }
    }

    func testCoalescedHeadersAndChecksumsAreWhatTheKernelExpects() throws {
        for flow in [TestFlow(), TestFlow.v6()] {
            let ip = flow.isIPv6 ? 40 : 20
            // Odd sizes, and a shorter last datagram.
            let inputs = datagrams(flow, sizes: [1201, 1201, 1201, 333])
            let writes = try coalescer().coalesce(inputs)
            XCTAssertEqual(writes.count, 1)
            XCTAssertEqual(try decodeHeader(writes[0]), VirtioNetHeader(
                flags: VirtioNetHeader.VIRTIO_NET_HDR_F_NEEDS_CSUM, gsoType: VirtioNetHeader.VIRTIO_NET_HDR_GSO_UDP_L4,
                headerLength: UInt16(ip + 8), gsoSize: 1201, checksumStart: UInt16(ip), checksumOffset: 6))
            let packet = Array(writes[0][VirtioNetHeader.byteCount...])
            XCTAssertEqual(packet.count, ip + 8 + 3 * 1201 + 333)
            if flow.isIPv6 {
                XCTAssertEqual(Int(readBigEndian16(packet, 4)), packet.count - 40)
            } else {
                XCTAssertEqual(Int(readBigEndian16(packet, 2)), packet.count)
                XCTAssertTrue(Reference.ipv4HeaderChecksumIsValid(packet))
                XCTAssertEqual(readBigEndian16(packet, 4), 100, "the first datagram's identification")
            }
            XCTAssertEqual(Int(readBigEndian16(packet, ip + 4)), packet.count - ip, "UDP length of the whole")
            let pseudo = Reference.pseudoHeader(source: flow.source, destination: flow.destination, protocol: 17,
                                                length: packet.count - ip)
            XCTAssertEqual(readBigEndian16(packet, ip + 6), Reference.sum(pseudo), "checksum field holds the pseudo-header sum")
            XCTAssertEqual(Array(packet[(ip + 8)...]), TestPackets.payload(3 * 1201 + 333))
            // Cut as the kernel cuts it: the datagrams come back, checksums recomputed and valid.
            let pieces = try TestSlots(count: 8).segment(writes[0])
            XCTAssertEqual(pieces.count, 4)
            for (piece, input) in zip(pieces, inputs) {
                XCTAssertTrue(Reference.transportChecksumIsValid(piece))
                XCTAssertEqual(Array(piece[(ip + 8)...]), Array(input[(ip + 8)...]))
                XCTAssertEqual(readBigEndian16(piece, ip + 6), readBigEndian16(input, ip + 6), "the reference checksum")
            }
        }
    }

    func testNothingJoinsARunAfterAShorterDatagramOrALongerOne() throws {
        let flow = TestFlow()
        let writes = try coalescer().coalesce(datagrams(flow, sizes: [1000, 1000, 400, 1000, 1000, 1200]))
        XCTAssertEqual(writes.count, 3)
        XCTAssertEqual(writes.map { $0.count - VirtioNetHeader.byteCount - 28 }, [2400, 2000, 1200])
        XCTAssertEqual(try writes.map(gsoType), [VirtioNetHeader.VIRTIO_NET_HDR_GSO_UDP_L4, VirtioNetHeader.VIRTIO_NET_HDR_GSO_UDP_L4,
                                                 VirtioNetHeader.VIRTIO_NET_HDR_GSO_NONE])
    }

    func testDifferingFlowsAreNotMergedAndEachFlowKeepsItsOrder() throws {
        let a = TestFlow()
        var b = TestFlow()
        b.destinationPort = 5202
        var c = TestFlow()
        c.source = [10, 1, 0, 7]
        let sa = datagrams(a, sizes: [500, 500, 500]), sb = datagrams(b, sizes: [500, 500]), sc = datagrams(c, sizes: [500])
        let writes = try coalescer().coalesce([sa[0], sb[0], sa[1], sc[0], sb[1], sa[2]])
        XCTAssertEqual(writes.count, 3)
        XCTAssertEqual(writes.map { readBigEndian16(Array($0[VirtioNetHeader.byteCount...]), 22) }, [5201, 5202, 5201])
        XCTAssertEqual(writes.map { $0.count - VirtioNetHeader.byteCount - 28 }, [1500, 1000, 500])
        XCTAssertEqual(Array(writes[2][VirtioNetHeader.byteCount...]), sc[0], "the lone datagram passes as it is")
        // A family change or a TTL change is another super-packet too.
        var ttl = a
        ttl.timeToLive = 63
        let mixed = [sa[0], datagrams(ttl, sizes: [500])[0], TestPackets.udp(TestFlow.v6(), payload: TestPackets.payload(500))]
        XCTAssertEqual(try coalescer().coalesce(mixed).count, 3)
    }

    func testWithoutUSOFromTheTunEveryDatagramPassesAlone() throws {
        let v4 = datagrams(TestFlow(), sizes: [700, 700, 700])
        let v6 = datagrams(TestFlow.v6(), sizes: [700, 700, 700])
        let plain = try coalescer(.tcp).coalesce(v4 + v6)
        XCTAssertEqual(plain.count, 6)
        XCTAssertEqual(Set(try plain.map(gsoType)), [VirtioNetHeader.VIRTIO_NET_HDR_GSO_NONE])
        XCTAssertEqual(plain.map { Array($0[VirtioNetHeader.byteCount...]) }, v4 + v6)
        // USO for IPv4 only: the IPv6 datagrams pass alone.
        let half = try coalescer([.tcp, .TUN_F_USO4]).coalesce(v4 + v6)
        XCTAssertEqual(half.count, 4)
    }

    func testDatagramsWithABadOrNoChecksumAreNotMerged() throws {
        var inputs = datagrams(TestFlow(), sizes: [600, 600, 600, 600, 600])
        inputs[2][40] ^= 0x01  // corrupt payload: the checksum no longer verifies
        inputs[4][26] = 0; inputs[4][27] = 0  // no checksum (IPv4)
        let writes = try coalescer().coalesce(inputs)
        // 0 and 1 merge; 2 fails its check and ends the run; 3 cannot join the failed 2; 4 has no checksum.
        XCTAssertEqual(writes.map { $0.count - VirtioNetHeader.byteCount - 28 }, [1200, 600, 600, 600])
        XCTAssertEqual(Array(writes[1][VirtioNetHeader.byteCount...]), inputs[2], "passed as it is, for the kernel to drop")
        XCTAssertEqual(Array(writes[3][VirtioNetHeader.byteCount...]), inputs[4])
    }

    func testARunStopsAtTheKernelsSegmentLimit() throws {
        let writes = try coalescer().coalesce(datagrams(TestFlow(), sizes: Array(repeating: 100, count: 70)))
        XCTAssertEqual(writes.map { $0.count - VirtioNetHeader.byteCount - 28 }, [64 * 100, 6 * 100])
    }

    func testFragmentsAndIPv4OptionsPassAlone() throws {
        var fragment = datagrams(TestFlow(), sizes: [300])[0]
        fragment[6] |= 0x20  // more fragments
        let other = datagrams(TestFlow(), sizes: [300, 300])
        let writes = try coalescer().coalesce([other[0], fragment, other[1]])
        // The fragment is not the flow's: the two whole datagrams still merge around it.
        XCTAssertEqual(writes.count, 2)
        XCTAssertEqual(Array(writes[1][VirtioNetHeader.byteCount...]), fragment)
    }
}
