import XCTest
@testable import XDP

final class IPPrefixTests: XCTestCase {
    func testParsesIPv4AndIPv6PrefixesAndBareAddresses() throws {
        XCTAssertEqual(try IPPrefix("10.1.0.0/16").address, [10, 1, 0, 0])
        XCTAssertEqual(try IPPrefix("10.1.0.0/16").length, 16)
        XCTAssertEqual(try IPPrefix("192.0.2.7").length, 32)
        XCTAssertEqual(try IPPrefix("2001:db8::/32").address.prefix(4), [0x20, 0x01, 0x0d, 0xb8])
        XCTAssertEqual(try IPPrefix("::1").length, 128)
        XCTAssertEqual(try IPPrefix("0.0.0.0/0").length, 0)
        XCTAssertEqual(try IPPrefix("2001:db8::/32").description, "2001:db8::/32")
    }

    func testRejectsHostBitsBadLengthsAndGarbage() {
        for text in ["10.1.0.1/16", "10.0.0.0/33", "2001:db8::1/64", "::/129", "10.0.0.0/", "10.0.0.0/-1",
                     "example.com", "", "10.0.0.0/1x"] {
            XCTAssertThrowsError(try IPPrefix(text), text) { error in
                XCTAssertEqual(error as? XDPError, .invalidPrefix(text))
            }
        }
    }
}
