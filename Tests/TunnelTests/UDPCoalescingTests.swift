import Glibc
import XCTest
@testable import Tunnel

/// `UDP_GRO` on receive over loopback: coalesced messages are split into slices of their
/// buffer, a message too large for its buffer is dropped and counted, and coalescing stays
/// on across a rebind.
final class UDPCoalescingTests: XCTestCase {
    private let sockets = OpenedSockets()

    override func tearDown() { sockets.closeAll() }

    private func socket() throws -> UDPSocket { try sockets.open() }

    private func coalescingPair() throws -> (sender: UDPSocket, receiver: UDPSocket) {
        let sender = try socket(), receiver = try socket()
        guard sender.offloads.segmentationSupported else {
            throw XCTSkip("this kernel does not know UDP_SEGMENT (Linux 4.18): nothing to coalesce on loopback")
        }
        do {
            try receiver.enableCoalescing()
        } catch {
            throw XCTSkip("this kernel refuses UDP_GRO (Linux 5.0): \(error)")
        }
        return (sender, receiver)
    }

    func testCoalescedDatagramsAreSlicesOfOneBufferWithAShorterLastOne() throws {
        let (sender, receiver) = try coalescingPair()
        let target = try NumberedDatagrams.endpoint("::1", of: receiver)
        let datagrams = Array(repeating: (length: 1000, to: target), count: 9) + [(length: 333, to: target)]
        XCTAssertEqual(sender.sendBatch(NumberedDatagrams.batch(datagrams), count: 10).messages, 1)

        let room = UDPReceiveBatch(messages: 4, messageSize: UDPReceiveBatch.coalescedMessageSize)
        XCTAssertTrue(try receiver.waitReadable(timeoutMilliseconds: 2000))
        XCTAssertEqual(try receiver.receive(into: room), 10)
        XCTAssertEqual(room.messageCount, 1)
        for i in 0..<min(room.count, 10) {
            XCTAssertEqual(room.message(of: i), 0)
            XCTAssertTrue(Array(room.datagram(i)) == NumberedDatagrams.payload(i, length: datagrams[i].length),
                          "datagram \(i) differs")
            XCTAssertEqual(room.source(i), try NumberedDatagrams.endpoint("::1", of: sender))
            if i > 0 {
                XCTAssertEqual(room.datagram(i).baseAddress, room.datagram(i - 1).baseAddress! + 1000,
                               "datagram \(i) is not the next slice of the coalesced buffer")
            }
        }
    }

    func testAMessageLargerThanItsBufferIsDroppedAndCounted() throws {
        let sender = try socket(), receiver = try socket()
        let target = try NumberedDatagrams.endpoint("127.0.0.1", of: receiver)
        let datagrams = [(length: 1452, to: target), (length: 100, to: target)]
        XCTAssertEqual(sender.sendBatch(NumberedDatagrams.batch(datagrams), count: 2).sent, 2)
        let received = try NumberedDatagrams.receive(1, on: receiver, into: UDPReceiveBatch(messages: 8, messageSize: 1000))
        XCTAssertEqual(received.dropped, 1)
        NumberedDatagrams.assertSame(received.datagrams, [NumberedDatagrams.payload(1, length: 100)])
    }

    func testCoalescingStaysOnAcrossARebind() throws {
        let (sender, receiver) = try coalescingPair()
        let port = try receiver.rebind(to: 0, mark: 0)
        XCTAssertTrue(receiver.offloads.coalescingActive)
        let target = try Endpoint(parsing: "127.0.0.1:\(port)")
        let datagrams = Array(repeating: (length: 1452, to: target), count: 40)
        XCTAssertEqual(sender.sendBatch(NumberedDatagrams.batch(datagrams), count: 40).sent, 40)
        let room = UDPReceiveBatch(messages: 64, messageSize: UDPReceiveBatch.coalescedMessageSize)
        let received = try NumberedDatagrams.receive(40, on: receiver, into: room)
        NumberedDatagrams.assertSame(received.datagrams, (0..<40).map { NumberedDatagrams.payload($0, length: 1452) })
        XCTAssertLessThan(received.messages, 40, "the rebound socket does not coalesce")
    }
}
