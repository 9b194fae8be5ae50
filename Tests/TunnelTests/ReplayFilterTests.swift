import XCTest
@testable import Tunnel

final class ReplayFilterTests: XCTestCase {
    func testInOrderCountersAreAcceptedOnce() {
        var filter = ReplayFilter()
        for counter in UInt64(0)..<20_000 {
            XCTAssertTrue(filter.accept(counter), "counter \(counter)")
        }
    }

    func testOutOfOrderCountersWithinWindowAreAccepted() {
        var filter = ReplayFilter()
        XCTAssertTrue(filter.accept(100))
        XCTAssertTrue(filter.accept(5))
        XCTAssertTrue(filter.accept(99))
        XCTAssertTrue(filter.accept(0))
        XCTAssertTrue(filter.accept(10_000))
        XCTAssertTrue(filter.accept(10_000 - ReplayFilter.windowSize))
        XCTAssertTrue(filter.accept(9_999))
    }

    func testDuplicatesAreRejected() {
        var filter = ReplayFilter()
        XCTAssertTrue(filter.accept(0))
        XCTAssertFalse(filter.accept(0))
        XCTAssertTrue(filter.accept(7))
        XCTAssertTrue(filter.accept(3))
        XCTAssertFalse(filter.accept(3))
        XCTAssertFalse(filter.accept(7))
    }

    func testCountersOlderThanTheWindowAreRejected() {
        var filter = ReplayFilter()
        XCTAssertEqual(ReplayFilter.windowSize, 8192 - 64)
        XCTAssertTrue(filter.accept(20_000))
        XCTAssertFalse(filter.accept(20_000 - ReplayFilter.windowSize - 1))
        XCTAssertTrue(filter.accept(20_000 - ReplayFilter.windowSize))
        XCTAssertFalse(filter.accept(1))
    }

    func testLargeJumpForgetsTheOldWindowWithoutAcceptingDuplicates() {
        var filter = ReplayFilter()
        for counter in UInt64(0)..<64 { XCTAssertTrue(filter.accept(counter)) }
        XCTAssertTrue(filter.accept(1_000_000))
        XCTAssertFalse(filter.accept(1_000_000))
        XCTAssertFalse(filter.accept(63))
        // The ring slot that held counters 0..<64 now tracks counters near the new top.
        XCTAssertTrue(filter.accept(1_000_000 - 1))
    }

    func testCountersAtRejectAfterMessagesAreRejected() {
        var filter = ReplayFilter()
        XCTAssertFalse(filter.accept(WG.REJECT_AFTER_MESSAGES))
        XCTAssertFalse(filter.accept(UInt64.max))
        XCTAssertTrue(filter.accept(WG.REJECT_AFTER_MESSAGES - 1))
        XCTAssertEqual(WG.REJECT_AFTER_MESSAGES, UInt64.max - 8192) // 2^64 - 2^13 - 1
    }

    func testResetForgetsEverything() {
        var filter = ReplayFilter()
        XCTAssertTrue(filter.accept(42))
        filter.reset()
        XCTAssertTrue(filter.accept(42))
    }
}
