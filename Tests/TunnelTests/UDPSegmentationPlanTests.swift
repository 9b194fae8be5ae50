import CTunnelShim
import Glibc
import XCTest
@testable import Tunnel

/// How a send batch is grouped into `sendmmsg` messages, without a socket.
final class UDPSegmentationPlanTests: XCTestCase {
    private let first = try! Endpoint(parsing: "127.0.0.1:5000")
    private let second = try! Endpoint(parsing: "[::1]:5000")

    /// Plans `datagrams` (length, destination) and returns each message as
    /// (first datagram, count, segment size).
    private func plan(_ datagrams: [(Int, Endpoint)], segmenting: Bool = true) -> [[Int]] {
        let batch = DatagramBatch(capacity: max(datagrams.count, 1), stride: 16)
        for (i, (length, endpoint)) in datagrams.enumerated() {
            batch.lengths[i] = length
            batch.addresses[i] = endpoint.socketAddress
        }
        let count = UDPSegmentation.plan(first: 0, count: datagrams.count, lengths: batch.lengths,
                                         destinations: batch.addresses, segmenting: segmenting, into: batch.runs)
        return (0..<count).map { [Int(batch.runs[$0].first), Int(batch.runs[$0].count), Int(batch.runs[$0].segment)] }
    }

    func testEqualDatagramsToOneEndpointBecomeOneMessageWithAShorterLastOne() {
        let datagrams = Array(repeating: (1452, first), count: 39) + [(700, first)]
        XCTAssertEqual(plan(datagrams), [[0, 40, 1452]])
    }

    func testADatagramAfterAShorterOneStartsANewMessage() {
        XCTAssertEqual(plan([(1452, first), (700, first), (700, first), (1452, first)]),
                       [[0, 2, 1452], [2, 1, 0], [3, 1, 0]])
    }

    func testALongerDatagramStartsANewMessage() {
        XCTAssertEqual(plan([(700, first), (1452, first), (1452, first)]), [[0, 1, 0], [1, 2, 1452]])
    }

    func testAnotherDestinationStartsANewMessage() {
        XCTAssertEqual(plan([(100, first), (100, first), (100, second), (100, second), (100, first)]),
                       [[0, 2, 100], [2, 2, 100], [4, 1, 0]])
    }

    func testAMessageHoldsAtMostSixtyFourDatagrams() {
        XCTAssertEqual(plan(Array(repeating: (100, first), count: 70)), [[0, 64, 100], [64, 6, 100]])
    }

    func testAMessageHoldsAtMostOneIPv4PacketOfBytes() {
        // 45 × 1,452 = 65,340 fits in 65,507 bytes; a 46th would not.
        XCTAssertEqual(plan(Array(repeating: (1452, first), count: 50)), [[0, 45, 1452], [45, 5, 1452]])
    }

    func testEmptyDatagramsAreNeverSegmented() {
        XCTAssertEqual(plan([(0, first), (0, first)]), [[0, 1, 0], [1, 1, 0]])
        XCTAssertEqual(plan([(32, first), (0, first)]), [[0, 1, 0], [1, 1, 0]])
    }

    func testWithoutSegmentationEveryDatagramIsAMessage() {
        XCTAssertEqual(plan(Array(repeating: (1452, first), count: 3), segmenting: false),
                       [[0, 1, 0], [1, 1, 0], [2, 1, 0]])
    }

    func testPlanningFromTheMiddleCoversOnlyTheRest() {
        let batch = DatagramBatch(capacity: 4, stride: 16)
        for i in 0..<4 {
            batch.lengths[i] = 64
            batch.addresses[i] = first.socketAddress
        }
        let count = UDPSegmentation.plan(first: 1, count: 4, lengths: batch.lengths, destinations: batch.addresses,
                                         segmenting: true, into: batch.runs)
        XCTAssertEqual(count, 1)
        XCTAssertEqual([batch.runs[0].first, batch.runs[0].count], [1, 3])
    }
}
