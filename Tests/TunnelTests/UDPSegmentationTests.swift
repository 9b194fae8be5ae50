import Glibc
import XCTest
@testable import Tunnel

/// `UDP_SEGMENT` on send over loopback: runs of equal datagrams to one endpoint leave as one
/// message each, everything arrives byte-exact and in order, and the plain path (turned off
/// by hand, or by the kernel refusing) gives the same datagrams.
final class UDPSegmentationTests: XCTestCase {
    private let sockets = OpenedSockets()

    override func tearDown() { sockets.closeAll() }

    private func socket() throws -> UDPSocket { try sockets.open() }

    private func requireSegmentation(_ socket: UDPSocket) throws {
        guard socket.offloads.segmentationSupported else {
            throw XCTSkip("this kernel does not know UDP_SEGMENT (Linux 4.18): the segmented path cannot run")
        }
    }

    /// 39 datagrams of 1,452 bytes and a last one of 700 to `address`.
    private func fortyDatagrams(to endpoint: Endpoint) -> [(length: Int, to: Endpoint)] {
        Array(repeating: (1452, endpoint), count: 39) + [(700, endpoint)]
    }

    private func assertArrived(_ received: NumberedDatagrams.Received, _ datagrams: [(length: Int, to: Endpoint)],
                               indices: [Int], from source: Endpoint, file: StaticString = #filePath, line: UInt = #line) {
        NumberedDatagrams.assertSame(received.datagrams,
                                     indices.map { NumberedDatagrams.payload($0, length: datagrams[$0].length) },
                                     file: file, line: line)
        XCTAssertEqual(received.sources, Array(repeating: source, count: received.sources.count), file: file, line: line)
    }

    private func sendFortyAndReceive(address: String, coalescing: Bool, segmenting: Bool) throws {
        let sender = try socket(), receiver = try socket()
        try requireSegmentation(sender)
        if !segmenting { sender.offloads.disableSegmentation() }
        if coalescing { try receiver.enableCoalescing() }
        let datagrams = fortyDatagrams(to: try NumberedDatagrams.endpoint(address, of: receiver))
        let batch = NumberedDatagrams.batch(datagrams)

        let outcome = sender.sendBatch(batch, count: datagrams.count)
        XCTAssertEqual(outcome.sent, 40)
        XCTAssertEqual(outcome.failed, 0)
        XCTAssertNil(outcome.firstError)
        XCTAssertNil(outcome.segmentationDisabled)
        XCTAssertEqual(outcome.messages, segmenting ? 1 : 40)
        XCTAssertEqual(outcome.calls, 1)

        let room = UDPReceiveBatch(messages: 64, messageSize: coalescing ? UDPReceiveBatch.coalescedMessageSize : 2048)
        let received = try NumberedDatagrams.receive(40, on: receiver, into: room)
        assertArrived(received, datagrams, indices: Array(0..<40), from: try NumberedDatagrams.endpoint(address, of: sender))
        XCTAssertEqual(received.dropped, 0)
        if coalescing && segmenting {
            // Loopback hands the segmented message to a coalescing socket whole.
            XCTAssertLessThan(received.messages, 40, "the datagrams were not coalesced")
        } else if !coalescing {
            XCTAssertEqual(received.messages, 40, "a socket without UDP_GRO gets one datagram per message")
        }
    }

    func testFortyEqualDatagramsGoAsOneMessageAndArriveCoalescedIPv4() throws {
        try sendFortyAndReceive(address: "127.0.0.1", coalescing: true, segmenting: true)
    }

    func testFortyEqualDatagramsGoAsOneMessageAndArriveCoalescedIPv6() throws {
        try sendFortyAndReceive(address: "::1", coalescing: true, segmenting: true)
    }

    func testSegmentedDatagramsArriveOneByOneWithoutCoalescingIPv4() throws {
        try sendFortyAndReceive(address: "127.0.0.1", coalescing: false, segmenting: true)
    }

    func testSegmentedDatagramsArriveOneByOneWithoutCoalescingIPv6() throws {
        try sendFortyAndReceive(address: "::1", coalescing: false, segmenting: true)
    }

    func testThePlainPathSendsOneMessagePerDatagramAndTheSameBytes() throws {
        try sendFortyAndReceive(address: "127.0.0.1", coalescing: true, segmenting: false)
        try sendFortyAndReceive(address: "::1", coalescing: false, segmenting: false)
    }

    /// Runs to two receivers (one over IPv4, one over IPv6) interleaved in one batch, with
    /// odd sizes: each gets its own datagrams in order, and the batch needs one message per
    /// run (fewer than with segmentation off).
    func testAMixedBatchToTwoEndpointsArrivesInOrderWithFewerMessages() throws {
        let sender = try socket()
        try requireSegmentation(sender)
        let one = try socket(), other = try socket()
        try one.enableCoalescing()
        let a = try NumberedDatagrams.endpoint("127.0.0.1", of: one)
        let b = try NumberedDatagrams.endpoint("::1", of: other)
        let runs: [[(length: Int, to: Endpoint)]] = [
            Array(repeating: (1452, a), count: 5),           // one message
            Array(repeating: (1200, b), count: 3) + [(17, b)], // one message, short last
            [(100, a), (200, a), (200, a)],                   // plain, then a run of two
            [(1452, b)],                                      // plain
            Array(repeating: (96, a), count: 20),             // one message
        ]
        let datagrams = runs.flatMap { $0 }
        let toA = datagrams.indices.filter { datagrams[$0].to == a }
        let toB = datagrams.indices.filter { datagrams[$0].to == b }

        for segmenting in [true, false] {
            if !segmenting { sender.offloads.disableSegmentation() }
            let outcome = sender.sendBatch(NumberedDatagrams.batch(datagrams), count: datagrams.count)
            XCTAssertEqual(outcome.sent, datagrams.count)
            XCTAssertEqual(outcome.messages, segmenting ? 6 : datagrams.count)
            XCTAssertEqual(outcome.calls, 1)
            let roomA = UDPReceiveBatch(messages: 64, messageSize: UDPReceiveBatch.coalescedMessageSize)
            let roomB = UDPReceiveBatch(messages: 64, messageSize: 2048)
            assertArrived(try NumberedDatagrams.receive(toA.count, on: one, into: roomA), datagrams, indices: toA,
                          from: try NumberedDatagrams.endpoint("127.0.0.1", of: sender))
            assertArrived(try NumberedDatagrams.receive(toB.count, on: other, into: roomB), datagrams, indices: toB,
                          from: try NumberedDatagrams.endpoint("::1", of: sender))
        }
    }

    /// With `SO_NO_CHECK` (no UDP checksum on IPv4) the kernel refuses segmented sends with
    /// EINVAL, as it does with EIO on a device without checksum offload: the first send
    /// turns segmentation off, reports it once, and resends everything plain.
    func testARefusedSegmentedSendFallsBackToThePlainPathAndReportsOnce() throws {
        let sender = try socket(), receiver = try socket()
        try requireSegmentation(sender)
        var on: Int32 = 1
        // SO_NO_CHECK is 11 in <asm-generic/socket.h>; the Glibc module does not export it.
        XCTAssertEqual(setsockopt(sender.fileDescriptor, SOL_SOCKET, 11, &on, socklen_t(MemoryLayout<Int32>.size)), 0)
        try receiver.enableCoalescing()
        let target = try NumberedDatagrams.endpoint("127.0.0.1", of: receiver)
        let datagrams = fortyDatagrams(to: target) + [(64, target), (64, target)]
        let room = UDPReceiveBatch(messages: 64, messageSize: UDPReceiveBatch.coalescedMessageSize)

        let first = sender.sendBatch(NumberedDatagrams.batch(datagrams), count: datagrams.count)
        XCTAssertEqual(first.segmentationDisabled?.code, EINVAL)
        XCTAssertEqual(sender.offloads.segmentationFailure?.code, EINVAL)
        XCTAssertFalse(sender.offloads.segmentationActive)
        XCTAssertEqual(first.sent, datagrams.count)
        XCTAssertEqual(first.failed, 0)
        XCTAssertNil(first.firstError)
        assertArrived(try NumberedDatagrams.receive(datagrams.count, on: receiver, into: room), datagrams,
                      indices: Array(datagrams.indices), from: try NumberedDatagrams.endpoint("127.0.0.1", of: sender))

        let second = sender.sendBatch(NumberedDatagrams.batch(datagrams), count: datagrams.count)
        XCTAssertNil(second.segmentationDisabled, "reported once only")
        XCTAssertEqual(second.sent, datagrams.count)
        XCTAssertEqual(second.messages, datagrams.count)
        XCTAssertEqual(second.calls, 1)
        assertArrived(try NumberedDatagrams.receive(datagrams.count, on: receiver, into: room), datagrams,
                      indices: Array(datagrams.indices), from: try NumberedDatagrams.endpoint("127.0.0.1", of: sender))
    }

    /// A message the kernel refuses for another reason (here a datagram too large for any
    /// UDP packet) costs only its own datagrams; the rest of the batch still goes out.
    func testARefusedMessageCostsOnlyItsOwnDatagrams() throws {
        let sender = try socket(), receiver = try socket()
        let target = try NumberedDatagrams.endpoint("::1", of: receiver)
        let batch = DatagramBatch(capacity: 3, stride: 70_000)
        let lengths = [100, 69_000, 100]
        for i in 0..<3 {
            batch.buffer(i).copyBytes(from: NumberedDatagrams.payload(i, length: lengths[i]))
            batch.pointers[i] = batch.buffer(i).baseAddress!.assumingMemoryBound(to: UInt8.self)
            batch.lengths[i] = lengths[i]
            batch.addresses[i] = target.socketAddress
        }
        let outcome = sender.sendBatch(batch, count: 3)
        XCTAssertEqual(outcome.sent, 2)
        XCTAssertEqual(outcome.failed, 1)
        XCTAssertEqual(outcome.firstError?.code, EMSGSIZE)
        XCTAssertTrue(sender.offloads.segmentationActive || !sender.offloads.segmentationSupported)
        let received = try NumberedDatagrams.receive(2, on: receiver, into: UDPReceiveBatch(messages: 8, messageSize: 2048))
        NumberedDatagrams.assertSame(received.datagrams,
                                     [NumberedDatagrams.payload(0, length: 100), NumberedDatagrams.payload(2, length: 100)])
    }
}
