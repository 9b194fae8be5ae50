import Glibc
import XCTest
@testable import Tunnel

/// The runtime's TUN reader and writer over a `SOCK_SEQPACKET` pair whose far end plays the
/// kernel's side of a TUN: with virtio-net headers (an offloading TUN) and without.
final class TunBatchIOTests: XCTestCase {
    private var kernelEnd: Int32 = -1
    private var tun: TunDevice?

    override func tearDown() {
        tun?.close()
        if kernelEnd >= 0 { Glibc.close(kernelEnd) }
        super.tearDown()
    }

    private func open(offloads: TunOffloads) throws -> TunDevice {
        var fds: [Int32] = [0, 0]
        XCTAssertEqual(socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue), 0, &fds), 0)
        var size: Int32 = 4 << 20
        for fd in fds {
            setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size))
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        kernelEnd = fds[1]
        let device = TunDevice(packetDescriptor: fds[0], name: "batch-io", offloads: offloads)
        try device.setNonBlocking()
        tun = device
        return device
    }

    /// What the kernel's side hands to the interface.
    private func kernelSends(_ bytes: [UInt8]) {
        XCTAssertEqual(bytes.withUnsafeBytes { Glibc.write(kernelEnd, $0.baseAddress, $0.count) }, bytes.count)
    }

    /// Everything the interface wrote, one element per write.
    private func kernelReceivesAll() -> [[UInt8]] {
        var writes: [[UInt8]] = []
        var buffer = [UInt8](repeating: 0, count: 70_000)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(kernelEnd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            guard n > 0 else { return writes }
            writes.append(Array(buffer[..<n]))
        }
    }

    private static let headroom = TransportHeader.byteCount

    private func packets(_ batch: DatagramBatch, _ count: Int) -> [[UInt8]] {
        (0..<count).map { Array(batch.buffer($0)[Self.headroom..<Self.headroom + batch.lengths[$0]]) }
    }

    // MARK: Reader

    func testOffloadingReaderCutsSuperPacketsAndCompletesPartialChecksums() throws {
        let reader = TunBatchReader(tun: try open(offloads: .tcp))
        var flow = TestFlow()
        flow.options = TestFlow.timestamps()
        let payload = TestPackets.payload(5000)
        kernelSends(TestPackets.tcpSuperPacket(flow, sequence: 1000, payload: payload, gsoSize: 1368))
        let udp = TestPackets.udp(TestFlow(), payload: TestPackets.payload(333), partialChecksum: true)
        kernelSends(TestPackets.encode(VirtioNetHeader(flags: VirtioNetHeader.VIRTIO_NET_HDR_F_NEEDS_CSUM,
                                                       checksumStart: 20, checksumOffset: 6)) + udp)
        kernelSends(TestPackets.tcpSuperPacket(TestFlow.v6(), sequence: 7, payload: TestPackets.payload(2001), gsoSize: 1000))

        let batch = DatagramBatch(capacity: 16, stride: 2048)
        let outcome = reader.fill(batch, headroom: Self.headroom)
        XCTAssertNil(outcome.error)
        XCTAssertEqual(outcome.malformed, 0)
        XCTAssertEqual(outcome.packets, 4 + 1 + 3)
        let read = packets(batch, outcome.packets)
        for (i, packet) in read.enumerated() {
            XCTAssertTrue(Reference.transportChecksumIsValid(packet), "transport checksum of packet \(i)")
            if packet[0] >> 4 == 4 { XCTAssertTrue(Reference.ipv4HeaderChecksumIsValid(packet), "IPv4 header checksum of packet \(i)") }
        }
        XCTAssertEqual(read[0..<4].map { $0.count - 52 }, [1368, 1368, 1368, 896], "MSS-sized segments, the rest last")
        XCTAssertEqual(read[0..<4].flatMap { $0[52...] }, payload, "the payload arrives whole and in order")
        XCTAssertEqual(Array(read[4][28...]), TestPackets.payload(333))
        XCTAssertEqual(read[5..<8].flatMap { $0[60...] }, TestPackets.payload(2001))
        XCTAssertEqual(reader.fill(batch, headroom: Self.headroom).packets, 0, "nothing more to read")
    }

    func testSuperPacketThatDoesNotFitTheBatchIsKeptForTheNextOne() throws {
        let reader = TunBatchReader(tun: try open(offloads: .tcp))
        let lone = TestPackets.udp(TestFlow(), payload: TestPackets.payload(100))
        kernelSends(TestPackets.encode(VirtioNetHeader()) + lone)
        kernelSends(TestPackets.tcpSuperPacket(TestFlow(), sequence: 1, payload: TestPackets.payload(4000), gsoSize: 1000))

        let batch = DatagramBatch(capacity: 4, stride: 2048)
        let first = reader.fill(batch, headroom: Self.headroom)
        XCTAssertEqual(first.packets, 1, "four segments do not fit behind the first packet")
        XCTAssertEqual(packets(batch, 1), [lone])
        let second = reader.fill(batch, headroom: Self.headroom)
        XCTAssertEqual(second.packets, 4, "the held-over super-packet fills the next batch")
        XCTAssertEqual(packets(batch, 4).flatMap { $0[40...] }, TestPackets.payload(4000))
        XCTAssertEqual(second.malformed, 0)
    }

    func testUnusableReadIsCountedAndTheNextPacketStillArrives() throws {
        let reader = TunBatchReader(tun: try open(offloads: .tcp))
        let packet = TestPackets.tcp(TestFlow(), sequence: 5, payload: TestPackets.payload(64))
        // gso_type 9 is no segmentation the kernel knows.
        kernelSends(TestPackets.encode(VirtioNetHeader(gsoType: 9, gsoSize: 100)) + packet)
        kernelSends([1, 2, 3])
        kernelSends(TestPackets.encode(VirtioNetHeader()) + packet)
        let batch = DatagramBatch(capacity: 8, stride: 2048)
        let outcome = reader.fill(batch, headroom: Self.headroom)
        XCTAssertEqual(outcome.malformed, 2)
        XCTAssertEqual(packets(batch, outcome.packets), [packet])
    }

    func testPlainReaderPlacesOnePacketPerReadBehindTheHeadroom() throws {
        let reader = TunBatchReader(tun: try open(offloads: []))
        let sent = (0..<3).map { TestPackets.tcp(TestFlow(), sequence: UInt32($0 * 100), payload: TestPackets.payload(100 + $0)) }
        sent.forEach(kernelSends)
        let batch = DatagramBatch(capacity: 2, stride: 2048)
        XCTAssertEqual(reader.fill(batch, headroom: Self.headroom).packets, 2, "a full batch stops the reads")
        XCTAssertEqual(packets(batch, 2), Array(sent[0..<2]))
        XCTAssertEqual(reader.fill(batch, headroom: Self.headroom).packets, 1)
        XCTAssertEqual(packets(batch, 1), [sent[2]])
    }

    // MARK: Writer

    /// Writes `packets` through `writer`, each from its own buffer.
    private func write(_ packets: [[UInt8]], with writer: TunBatchWriter) -> TunBatchWriter.Outcome {
        let buffers = packets.map { bytes -> UnsafeMutableRawBufferPointer in
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 1)
            buffer.copyBytes(from: bytes)
            return buffer
        }
        defer { buffers.forEach { $0.deallocate() } }
        return writer.write(count: packets.count) { UnsafeRawBufferPointer(buffers[$0]) }
    }

    func testOffloadingWriterMergesARunOfSegmentsAndTheKernelCanCutItBack() throws {
        let writer = TunBatchWriter(tun: try open(offloads: .tcp), chunkSize: 8)
        var flow = TestFlow()
        flow.options = TestFlow.timestamps()
        let segments = (0..<5).map {
            TestPackets.tcp(flow, sequence: UInt32(9000 + $0 * 1200), payload: TestPackets.payload(1200, start: $0 * 1200),
                            identification: UInt16(0x100 + $0))
        }
        let udp = TestPackets.udp(TestFlow(), payload: TestPackets.payload(50))
        let outcome = write(segments + [udp], with: writer)
        XCTAssertEqual(outcome.failed, 0)
        XCTAssertEqual(outcome.writes, 2, "one merged TCP write, one lone UDP write")

        let writes = kernelReceivesAll()
        XCTAssertEqual(writes.count, 2)
        let merged = try decodeHeader(writes[0])
        XCTAssertEqual(merged.segmentation, VirtioNetHeader.VIRTIO_NET_HDR_GSO_TCPV4)
        XCTAssertEqual(merged.gsoSize, 1200)
        XCTAssertTrue(merged.needsChecksum)
        XCTAssertEqual(writes[0].count, VirtioNetHeader.byteCount + 52 + 5 * 1200)
        // What the kernel does with it: cut it back (here by our segmenter, which computes
        // checksums in full) into the segments that were written.
        let cut = try TestSlots(count: 8).segment(writes[0])
        XCTAssertEqual(cut.count, 5)
        for (i, segment) in cut.enumerated() {
            XCTAssertEqual(Array(segment[52...]), Array(segments[i][52...]), "payload of segment \(i)")
            XCTAssertEqual(readBigEndian32(segment, 24), readBigEndian32(segments[i], 24), "sequence of segment \(i)")
            XCTAssertTrue(Reference.transportChecksumIsValid(segment))
        }
        XCTAssertEqual(try decodeHeader(writes[1]), VirtioNetHeader(), "a lone packet goes behind a GSO_NONE header")
        XCTAssertEqual(Array(writes[1][VirtioNetHeader.byteCount...]), udp)
    }

    func testWriterMergesUDPDatagramsOnlyWhereTheTunTookUSO() throws {
        let datagrams = (0..<4).map {
            TestPackets.udp(TestFlow(), payload: TestPackets.payload($0 == 3 ? 300 : 1000, start: $0 * 1000),
                            identification: UInt16(0x200 + $0))
        }
        let withUSO = TunBatchWriter(tun: try open(offloads: .tcpAndUDP), chunkSize: 8)
        XCTAssertEqual(write(datagrams, with: withUSO).writes, 1)
        let merged = kernelReceivesAll()
        XCTAssertEqual(merged.count, 1)
        XCTAssertEqual(try decodeHeader(merged[0]).segmentation, VirtioNetHeader.VIRTIO_NET_HDR_GSO_UDP_L4)
        XCTAssertEqual(try TestSlots(count: 8).segment(merged[0]).map { Array($0[28...]) }, datagrams.map { Array($0[28...]) })
        tun?.close()
        Glibc.close(kernelEnd)

        // USO refused: the plain write on an offloading TUN, each datagram behind GSO_NONE.
        let withoutUSO = TunBatchWriter(tun: try open(offloads: .tcp), chunkSize: 8)
        XCTAssertEqual(write(datagrams, with: withoutUSO).writes, 4)
        let lone = kernelReceivesAll()
        XCTAssertEqual(try lone.map { try decodeHeader($0) }, Array(repeating: VirtioNetHeader(), count: 4))
        XCTAssertEqual(lone.map { Array($0[VirtioNetHeader.byteCount...]) }, datagrams)
    }

    func testOffloadingWriterWritesLongVectorsInChunksWithoutLosingOrder() throws {
        let writer = TunBatchWriter(tun: try open(offloads: .tcp), chunkSize: 3)
        // Alternating flows never merge, so each packet is its own write, in order.
        let sent = (0..<7).map { i -> [UInt8] in
            var flow = TestFlow()
            flow.sourcePort = UInt16(40000 + i % 2)
            return TestPackets.tcp(flow, sequence: UInt32(i), flags: 0x18, payload: TestPackets.payload(10 + i))
        }
        let outcome = write(sent, with: writer)
        XCTAssertEqual(outcome.writes, 7)
        XCTAssertEqual(kernelReceivesAll().map { Array($0[VirtioNetHeader.byteCount...]) }, sent)
    }

    func testPlainWriterWritesEachPacketAsItIs() throws {
        let writer = TunBatchWriter(tun: try open(offloads: []), chunkSize: 8)
        let sent = (0..<3).map { TestPackets.tcp(TestFlow(), sequence: UInt32(1 + $0 * 100), payload: TestPackets.payload(100)) }
        let outcome = write(sent, with: writer)
        XCTAssertEqual(outcome.writes, 3, "no coalescing on a plain TUN")
        XCTAssertEqual(kernelReceivesAll(), sent)
    }

    func testRefusedWriteCountsEveryPacketItCarried() throws {
        let writer = TunBatchWriter(tun: try open(offloads: .tcp), chunkSize: 8)
        Glibc.shutdown(kernelEnd, Int32(SHUT_RD))
        Glibc.close(kernelEnd)
        kernelEnd = -1
        let segments = (0..<3).map { TestPackets.tcp(TestFlow(), sequence: UInt32($0 * 500), payload: TestPackets.payload(500)) }
        let outcome = write(segments, with: writer)
        XCTAssertEqual(outcome.writes, 1)
        XCTAssertEqual(outcome.failed, 3)
        XCTAssertNotNil(outcome.firstError)
    }
}
