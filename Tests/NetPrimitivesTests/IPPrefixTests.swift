import XCTest
import NetPrimitives

final class IPPrefixTests: XCTestCase {
    func testStrictParsingRefusesHostBitsAndSuggestsTheNetwork() throws {
        XCTAssertEqual(IPPrefix.parse("10.0.0.1/24"), .failure(.hostBitsSet(suggestion: try IPPrefix(exactly: IPAddress("10.0.0.0")!, length: 24))))
        XCTAssertEqual(IPPrefix.parse("2001:db8::1/64"), .failure(.hostBitsSet(suggestion: try IPPrefix(parsing: "2001:db8::/64"))))
        XCTAssertEqual(IPPrefix.parse("10.0.0.0/33"), .failure(.badPrefixLength))
        XCTAssertEqual(IPPrefix.parse("fd00::/129"), .failure(.badPrefixLength))
        for text in ["10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/1x", "10.0.0.0/08x", "10.0.0.0/+8", "10.0.0.0/0008"] {
            XCTAssertEqual(IPPrefix.parse(text), .failure(.badPrefixLength), text)
        }
        for text in ["example.com", "", "/8", "10.0.0/8", " 10.0.0.0/8"] {
            XCTAssertEqual(IPPrefix.parse(text), .failure(.malformedAddress), text)
        }
        XCTAssertThrowsError(try IPPrefix(exactly: IPAddress("10.0.0.0")!, length: 33)) {
            XCTAssertEqual($0 as? IPPrefix.ParseError, .badPrefixLength)
        }
    }

    func testStrictParsingTakesNetworksAndBareAddresses() throws {
        XCTAssertEqual(try IPPrefix(parsing: "10.1.0.0/16").address.bytes, [10, 1, 0, 0])
        XCTAssertEqual(try IPPrefix(parsing: "10.1.0.0/16").length, 16)
        XCTAssertEqual(try IPPrefix(parsing: "192.0.2.7").length, 32)
        XCTAssertEqual(try IPPrefix(parsing: "2001:db8::/32").address.bytes.prefix(4), [0x20, 0x01, 0x0d, 0xb8])
        XCTAssertEqual(try IPPrefix(parsing: "::1").length, 128)
        XCTAssertEqual(try IPPrefix(parsing: "0.0.0.0/0").length, 0)
        XCTAssertEqual(try IPPrefix(parsing: "::/0").length, 0)
        XCTAssertEqual(try IPPrefix(parsing: "2001:db8::/32").description, "2001:db8::/32")
        XCTAssertTrue(try IPPrefix(parsing: "2001:db8::/32").isIPv6)
    }

    func testWireGuardParsingMasksHostBits() {
        XCTAssertEqual(IPPrefix("10.1.2.3/24")?.description, "10.1.2.0/24")
        XCTAssertEqual(IPPrefix("fd00::1:2/112")?.description, "fd00::1:0/112")
        XCTAssertEqual(IPPrefix("255.255.255.255/0")?.description, "0.0.0.0/0")
        XCTAssertEqual(IPPrefix(" 10.0.0.1/32\t")?.description, "10.0.0.1/32")
        XCTAssertEqual(IPPrefix("10.1.2.3")?.length, 32)
        XCTAssertNil(IPPrefix("10.0.0.0/33"))
        XCTAssertNil(IPPrefix("fd00::/129"))
        XCTAssertNil(IPPrefix("hello/8"))
        XCTAssertEqual(IPPrefix(masking: IPAddress("10.9.8.7")!, length: 8), IPPrefix("10.0.0.0/8"))
        XCTAssertNil(IPPrefix(masking: IPAddress("10.9.8.7")!, length: -1))
    }

    func testRangesAndContainment() throws {
        let c = try IPPrefix(parsing: "fd00:30::/64")
        XCTAssertEqual(c.first.description, "fd00:30::")
        XCTAssertEqual(c.last.description, "fd00:30::ffff:ffff:ffff:ffff")
        XCTAssertEqual(try IPPrefix(parsing: "10.0.0.0/8").last.description, "10.255.255.255")
        XCTAssertTrue(try IPPrefix(parsing: "0.0.0.0/0").contains(IPAddress("255.255.255.255")!))
        XCTAssertFalse(try IPPrefix(parsing: "0.0.0.0/0").contains(IPAddress("::1")!))
        XCTAssertFalse(try IPPrefix(parsing: "::/0").contains(IPAddress("10.0.0.1")!))
        XCTAssertTrue(try IPPrefix(parsing: "10.1.0.0/16").contains(IPAddress("10.1.255.1")!))
        XCTAssertFalse(try IPPrefix(parsing: "10.1.0.0/16").contains(IPAddress("10.2.0.1")!))
        XCTAssertTrue(try IPPrefix(parsing: "10.0.0.0/8").contains(IPPrefix(parsing: "10.1.0.0/16")))
        XCTAssertFalse(try IPPrefix(parsing: "10.1.0.0/16").contains(IPPrefix(parsing: "10.0.0.0/8")))
    }

    func testMaskingAgreesWithBitByBitReference() {
        var rng = SeededGenerator(seed: 4632)
        for _ in 0..<1000 {
            let v6 = rng.next() & 1 == 0
            let value = UInt128(rng.next()) << 64 | UInt128(rng.next())
            let address = IPAddress(family: v6 ? .v6 : .v4, value: value)
            let length = Int(rng.next() % UInt64(address.bitWidth + 1))
            let prefix = IPPrefix(masking: address, length: length)!
            var expected = address.value
            for bit in 0..<(address.bitWidth - length) { expected &= ~(UInt128(1) << bit) }
            XCTAssertEqual(prefix.address.value, expected)
            XCTAssertTrue(prefix.contains(address))
            XCTAssertEqual(IPPrefix.parse(prefix.description), .success(prefix))
        }
    }
}
