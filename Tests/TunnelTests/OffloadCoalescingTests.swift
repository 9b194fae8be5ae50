import XCTest
@testable import Tunnel

/// Decrypted TCP segments merged into super-packets for one write each, and back.
final class OffloadCoalescingTests: XCTestCase {
    private let ACK: UInt8 = 0x10, PSH: UInt8 = 0x08, FIN: UInt8 = 0x01, SYN: UInt8 = 0x02, RST: UInt8 = 0x04, URG: UInt8 = 0x20

    private func coalescer(verifying: Bool = true) -> TunCoalescer {
        TunCoalescer(packetCapacity: 64, maximumPacketSize: 1600, verifiesChecksums: verifying)
    }

    /// Segments of `flow` carrying `sizes` bytes each from `sequence` on, consecutive IDs.
    private func segments(_ flow: TestFlow, sizes: [Int], sequence: UInt32 = 1000, lastFlags: UInt8? = nil) -> [[UInt8]] {
        var offset = 0
        return sizes.enumerated().map { i, size in
            defer { offset += size }
            let flags = i == sizes.count - 1 ? (lastFlags ?? ACK) : ACK
            return TestPackets.tcp(flow, sequence: sequence &+ UInt32(offset), flags: flags,
                                   payload: TestPackets.payload(size, start: offset), identification: 100 &+ UInt16(i))
        }
    }

    func testSegmentThenCoalesceGivesBackTheSuperPacketByteForByte() throws {
        for flow in [TestFlow(options: TestFlow.timestamps()), TestFlow.v6(options: TestFlow.timestamps()), TestFlow(), TestFlow.v6()] {
            for payloadLength in [3 * 1000, 2 * 1000 + 1, 1001, 7777] {
                let superPacket = TestPackets.tcpSuperPacket(flow, sequence: 0xFFFF_FF00, payload: TestPackets.payload(payloadLength),
                                                             gsoSize: 1000, identification: 100)
                let pieces = try TestSlots(count: 16).segment(superPacket)
                XCTAssertGreaterThan(pieces.count, 1)
                let writes = try coalescer().coalesce(pieces)
                XCTAssertEqual(writes.count, 1, "one flow, consecutive: one write")
                XCTAssertEqual(writes.first, superPacket, "v6 \(flow.isIPv6), \(payloadLength) bytes")
                // And the write, read back as the kernel would hand it over, splits the same way.
                XCTAssertEqual(try TestSlots(count: 16).segment(writes[0]), pieces)
            }
        }
    }

    func testCoalescedHeaderIsWhatTheKernelExpects() throws {
        var flow = TestFlow()
        flow.options = TestFlow.timestamps()
        let writes = try coalescer().coalesce(segments(flow, sizes: [1448, 1448, 700], lastFlags: ACK | PSH))
        XCTAssertEqual(writes.count, 1)
        let header = try decodeHeader(writes[0])
        XCTAssertEqual(header, VirtioNetHeader(flags: VirtioNetHeader.VIRTIO_NET_HDR_F_NEEDS_CSUM,
                                               gsoType: VirtioNetHeader.VIRTIO_NET_HDR_GSO_TCPV4, headerLength: 52,
                                               gsoSize: 1448, checksumStart: 20, checksumOffset: 16))
        let packet = Array(writes[0][10...])
        XCTAssertEqual(packet.count, 52 + 1448 + 1448 + 700)
        XCTAssertEqual(Int(readBigEndian16(packet, 2)), packet.count)
        XCTAssertTrue(Reference.ipv4HeaderChecksumIsValid(packet))
        XCTAssertEqual(packet[33], ACK | PSH, "PSH of the last segment carried over")
        let pseudo = Reference.pseudoHeader(source: flow.source, destination: flow.destination, protocol: 6, length: packet.count - 20)
        XCTAssertEqual(readBigEndian16(packet, 36), Reference.sum(pseudo), "checksum field holds the pseudo-header sum")
        XCTAssertEqual(Array(packet[52...]), TestPackets.payload(1448 + 1448 + 700))
    }

    func testInterleavedFlowsCoalescePerFlowInOrder() throws {
        let a = segments(TestFlow(), sizes: [1000, 1000, 1000])
        var flowB = TestFlow()
        flowB.sourcePort = 40001
        let b = segments(flowB, sizes: [1000, 1000, 500])
        let v6 = segments(TestFlow.v6(), sizes: [900, 900])
        let writes = try coalescer().coalesce([a[0], b[0], v6[0], a[1], b[1], v6[1], a[2], b[2]])
        XCTAssertEqual(writes.count, 3)
        XCTAssertEqual(writes.map { Int(try! decodeHeader($0).gsoType) }, [1, 1, 4])
        XCTAssertEqual(try TestSlots(count: 8).segment(writes[0]), a)
        XCTAssertEqual(try TestSlots(count: 8).segment(writes[1]), b)
        XCTAssertEqual(try TestSlots(count: 8).segment(writes[2]), v6)
    }

    func testPSHEndsARun() throws {
        let flow = TestFlow()
        var packets = segments(flow, sizes: [1000, 1000], lastFlags: ACK | PSH)
        packets += segments(flow, sizes: [1000, 1000], sequence: 3000)
        let writes = try coalescer().coalesce(packets)
        XCTAssertEqual(writes.count, 2)
        XCTAssertEqual(writes[0][10 + 33], ACK | PSH)
        XCTAssertEqual(writes[1][10 + 33], ACK)
        XCTAssertEqual(try TestSlots(count: 4).segment(writes[0]), Array(packets[0..<2]))
    }

    func testSegmentsWithFINSYNRSTOrURGPassAloneAndKeepTheirPlace() throws {
        let flow = TestFlow()
        for flag in [FIN, SYN, RST, URG] {
            var packets = segments(flow, sizes: [1000, 1000])
            packets.append(TestPackets.tcp(flow, sequence: 3000, flags: ACK | flag, payload: TestPackets.payload(1000)))
            packets += segments(flow, sizes: [1000, 1000], sequence: 4000)
            let writes = try coalescer().coalesce(packets)
            XCTAssertEqual(writes.map { try! decodeHeader($0).gsoType }, [1, 0, 1], "flag \(flag)")
            XCTAssertEqual(Array(writes[1][10...]), packets[2], "passed unchanged")
            XCTAssertEqual(Array(writes[1][..<10]), [UInt8](repeating: 0, count: 10), "GSO_NONE, no checksum work")
        }
    }

    func testPureACKBetweenSegmentsIsNotOvertaken() throws {
        let flow = TestFlow()
        let first = segments(flow, sizes: [1000])
        let ack = TestPackets.tcp(flow, sequence: 2000, payload: [])
        let rest = segments(flow, sizes: [1000, 1000], sequence: 2000)
        let writes = try coalescer().coalesce(first + [ack] + rest)
        XCTAssertEqual(writes.count, 3)
        XCTAssertEqual(Array(writes[0][10...]), first[0])
        XCTAssertEqual(Array(writes[1][10...]), ack)
        XCTAssertEqual(try TestSlots(count: 4).segment(writes[2]), rest)
    }

    func testShorterSegmentEndsARunAndLongerOneDoesNotJoin() throws {
        let flow = TestFlow()
        let shortThenLong = segments(flow, sizes: [1000, 500, 1000])
        XCTAssertEqual(try coalescer().coalesce(shortThenLong).count, 2)
        let growing = segments(flow, sizes: [500, 1000])
        let writes = try coalescer().coalesce(growing)
        XCTAssertEqual(writes.map { Array($0[10...]) }, growing)
    }

    func testGapsAndMismatchedHeadersStartNewRuns() throws {
        let flow = TestFlow()
        let base = segments(flow, sizes: [1000])[0]
        let cases: [(String, [UInt8])] = [
            ("sequence gap", TestPackets.tcp(flow, sequence: 2001, payload: TestPackets.payload(1000))),
            ("other acknowledgment", TestPackets.tcp(flow, sequence: 2000, acknowledgment: 0x2000, payload: TestPackets.payload(1000))),
            ("other options", TestPackets.tcp(TestFlow(options: TestFlow.timestamps()), sequence: 2000, payload: TestPackets.payload(1000))),
            ("other TTL", TestPackets.tcp(TestFlow(timeToLive: 9), sequence: 2000, payload: TestPackets.payload(1000))),
            ("other port", TestPackets.tcp(TestFlow(destinationPort: 80), sequence: 2000, payload: TestPackets.payload(1000))),
        ]
        for (name, second) in cases {
            let writes = try coalescer().coalesce([base, second])
            XCTAssertEqual(writes.map { Array($0[10...]) }, [base, second], name)
        }
    }

    func testCorruptSegmentIsNeverMergedUnlessVerificationIsOff() throws {
        let flow = TestFlow()
        var packets = segments(flow, sizes: [1000, 1000, 1000])
        packets[1] = TestPackets.tcp(flow, sequence: 2000, payload: TestPackets.payload(1000, start: 1000), identification: 101,
                                     corruptChecksum: true)
        let writes = try coalescer().coalesce(packets)
        XCTAssertEqual(writes.map { Array($0[10...]) }, packets, "each passes alone for the kernel to judge")
        XCTAssertEqual(try coalescer(verifying: false).coalesce(packets).count, 1)
    }

    func testNonTCPPacketsPassAloneBehindAPlainHeader() throws {
        let udp = TestPackets.udp(TestFlow(), payload: TestPackets.payload(300))
        let garbage: [UInt8] = [0x45, 1, 2]
        let empty: [UInt8] = []
        let writes = try coalescer().coalesce([udp, garbage, empty])
        XCTAssertEqual(writes, [[UInt8](repeating: 0, count: 10) + udp, [UInt8](repeating: 0, count: 10) + garbage,
                                [UInt8](repeating: 0, count: 10)])
    }

    func testRunsStopShortOf64Kilobytes() throws {
        let packets = segments(TestFlow(), sizes: [UInt8](repeating: 0, count: 50).map { _ in 1448 })
        let coalescer = TunCoalescer(packetCapacity: 64, maximumPacketSize: 1600)
        let writes = try coalescer.coalesce(packets)
        XCTAssertEqual(writes.count, 2)
        XCTAssertEqual((0..<2).map { coalescer.packetCount(ofWrite: $0) }, [45, 5])
        XCTAssertTrue(writes.allSatisfy { $0.count - 10 <= 65535 })
        XCTAssertEqual(try TestSlots(count: 64).segment(writes[0]) + TestSlots(count: 64).segment(writes[1]), packets)
    }

    func testVectorsBeyondTheCapacityAreRefused() throws {
        let small = TunCoalescer(packetCapacity: 2, maximumPacketSize: 100)
        XCTAssertThrowsError(try small.coalesce([[0x45], [0x45], [0x45]])) { XCTAssertEqual($0 as? OffloadError, .batchTooLarge(3)) }
        XCTAssertThrowsError(try small.coalesce([[UInt8](repeating: 0x45, count: 101)])) {
            XCTAssertEqual($0 as? OffloadError, .packetTooLarge(101))
        }
        XCTAssertEqual(small.writeCount, 0)
    }

    /// Random vectors (fixed seed) of a few flows, random sizes, flags and interleavings:
    /// splitting every write again gives each flow's packets back, in order, byte for byte.
    func testRandomVectorsRoundTripPerFlow() throws {
        var random = OffloadRandom(seed: 0x6_0_0D)
        let coalescer = TunCoalescer(packetCapacity: 128, maximumPacketSize: 1600)
        let slots = TestSlots(count: 64)
        var packetsIn = 0, writesOut = 0
        for _ in 0..<100 {
            let flows = (0..<Int.random(in: 1...4, using: &random)).map { i in
                var flow = Bool.random(using: &random) ? TestFlow() : TestFlow.v6()
                flow.sourcePort = 40000 + UInt16(i)
                if Bool.random(using: &random) { flow.options = TestFlow.timestamps() }
                return flow
            }
            var perFlow: [[[UInt8]]] = flows.map { _ in [] }
            var sequences = flows.map { _ in UInt32.random(in: 0...UInt32.max, using: &random) }
            var vector: [[UInt8]] = []
            var tags: [Int] = []
            for _ in 0..<Int.random(in: 1...128, using: &random) {
                let f = Int.random(in: 0..<flows.count, using: &random)
                let size = [1200, 1200, 1200, Int.random(in: 0...1200, using: &random)].randomElement(using: &random)!
                let flags = [ACK, ACK, ACK, ACK | PSH, ACK | FIN, ACK | URG].randomElement(using: &random)!
                let packet = TestPackets.tcp(flows[f], sequence: sequences[f], flags: flags, payload: TestPackets.payload(size),
                                             identification: UInt16(truncatingIfNeeded: perFlow[f].count))
                sequences[f] &+= UInt32(size) + (Int.random(in: 0..<20, using: &random) == 0 ? 1 : 0)
                perFlow[f].append(packet)
                vector.append(packet)
                tags.append(f)
            }
            let writes = try coalescer.coalesce(vector)
            packetsIn += vector.count
            writesOut += writes.count
            var out: [[[UInt8]]] = flows.map { _ in [] }
            for write in writes {
                let packets = try slots.segment(write)
                let port = readBigEndian16(packets[0], Reference.ipLength(packets[0]))
                out[Int(port - 40000)] += packets
            }
            for f in flows.indices {
                // Byte for byte, IPv4 IDs included: they were consecutive within each flow.
                XCTAssertEqual(out[f], perFlow[f], "flow \(f)")
            }
        }
        XCTAssertLessThan(writesOut * 10, packetsIn * 9, "a good share of the packets was merged")
    }
}
