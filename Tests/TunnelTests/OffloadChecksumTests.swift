import XCTest
@testable import Tunnel

/// The 8-bytes-at-a-time Internet checksum against the word-by-word reference.
final class OffloadChecksumTests: XCTestCase {
    func testSumMatchesTheReferenceForEveryLengthAndAlignment() {
        var random = OffloadRandom(seed: 1071)
        let bytes = (0..<600).map { _ in UInt8.random(in: 0...255, using: &random) }
        bytes.withUnsafeBytes { all in
            for start in 0..<9 {
                for length in 0..<(all.count - start) {
                    let slice = UnsafeRawBufferPointer(rebasing: all[start..<start + length])
                    XCTAssertEqual(InternetChecksum.sum(slice), Reference.sum(Array(slice)), "offset \(start), length \(length)")
                }
            }
        }
    }

    func testAllOnesInputsCarryAroundCorrectly() {
        // Every 64-bit addition overflows: the carries must all come back in.
        let ones = [UInt8](repeating: 0xFF, count: 65535)
        ones.withUnsafeBytes { XCTAssertEqual(InternetChecksum.sum($0), Reference.sum(ones)) }
        let even = Array(ones.dropLast())
        even.withUnsafeBytes { XCTAssertEqual(InternetChecksum.sum($0, initial: 0xFFFF_FFFF), 0xFFFF, "all ones stay all ones") }
    }

    func testInitialPartialSumIsAdded() {
        let bytes = TestPackets.payload(1001)
        let pseudo: [UInt8] = [10, 0, 0, 1, 10, 0, 0, 2, 0, 6, 0x03, 0xE9]
        let partial = pseudo.withUnsafeBytes { UInt32(InternetChecksum.sum($0)) }
        bytes.withUnsafeBytes {
            XCTAssertEqual(InternetChecksum.sum($0, initial: partial), Reference.sum(pseudo + bytes))
            XCTAssertEqual(InternetChecksum.checksum($0, initial: partial), Reference.checksum(pseudo + bytes))
        }
    }

    func testPseudoHeaderSumMatchesTheReferenceForBothFamilies() {
        for (source, destination) in [([UInt8]([192, 168, 7, 1]), [UInt8]([172, 16, 0, 9])), (TestFlow.v6Source, TestFlow.v6Destination)] {
            for length in [0, 20, 1480, 65535] + (source.count == 16 ? [70000] : []) {
                let partial = (source + destination).withUnsafeBytes {
                    InternetChecksum.pseudoHeaderSum(addresses: $0, protocol: 6, length: length)
                }
                let reference = Reference.sum(Reference.pseudoHeader(source: source, destination: destination, protocol: 6,
                                                                     length: length))
                XCTAssertEqual(InternetChecksum.fold(partial), reference, "length \(length)")
            }
        }
    }

    func testAValidPacketSumsToAllOnes() {
        let packet = TestPackets.tcp(TestFlow(), sequence: 1, payload: TestPackets.payload(999))
        packet.withUnsafeBytes { XCTAssertEqual(InternetChecksum.sum(UnsafeRawBufferPointer(rebasing: $0[..<20])), 0xFFFF) }
    }
}
