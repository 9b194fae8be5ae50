import XCTest
@testable import Tunnel

final class TAI64NTests: XCTestCase {
    func testEncodingIsLabelThenNanosecondsBigEndian() {
        let stamp = TAI64N(unixSeconds: 1, nanoseconds: 0x0102_0304)
        XCTAssertEqual(stamp.bytes.hex, "400000000000000101020304")
        XCTAssertEqual(TAI64N(bytes: stamp.bytes), stamp)
        XCTAssertNil(TAI64N(bytes: [0, 1, 2]))
    }

    func testOrderingIsChronological() {
        let early = TAI64N(unixSeconds: 100, nanoseconds: 999_999_999)
        let later = TAI64N(unixSeconds: 101, nanoseconds: 0)
        XCTAssertLessThan(early, later)
        XCTAssertTrue(early.bytes.lexicographicallyPrecedes(later.bytes), "byte order is time order")
    }

    func testNowIsWhitenedAndRecent() {
        let now = TAI64N.now()
        XCTAssertEqual(now.nanoseconds & ((1 << 24) - 1), 0)
        XCTAssertGreaterThan(now.label, (1 << 62) + 1_700_000_000)
    }
}
