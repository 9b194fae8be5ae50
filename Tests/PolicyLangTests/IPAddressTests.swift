import XCTest
@testable import PolicyLang

final class IPAddressTests: XCTestCase {
    func testIPv4ParsesAndPrints() {
        XCTAssertEqual(IPAddress("10.20.1.5")?.value, 0x0A14_0105)
        XCTAssertEqual(IPAddress("10.20.1.5")?.description, "10.20.1.5")
        for bad in ["10.20.1", "10.20.1.5.6", "256.1.1.1", "1..1.1", "01.1.1.1", "a.b.c.d", ""] {
            XCTAssertNil(IPAddress(bad), bad)
        }
    }

    func testIPv6ParsesCompressedAndEmbeddedForms() {
        XCTAssertEqual(IPAddress("::")?.value, 0)
        XCTAssertEqual(IPAddress("::1")?.value, 1)
        XCTAssertEqual(IPAddress("fd00:30::")?.value, UInt128(0xfd00_0030) << 96)
        XCTAssertEqual(IPAddress("::ffff:10.0.0.1")?.value, UInt128(0xffff_0a00_0001))
        XCTAssertEqual(IPAddress("1:2:3:4:5:6:7:8")?.description, "1:2:3:4:5:6:7:8")
        XCTAssertEqual(IPAddress("fd00:0:0:0:0:0:0:53")?.description, "fd00::53")
        for bad in [":::", "1::2::3", "1:2:3:4:5:6:7:8:9", "fd00::g", "12345::", "1:2:3:4:5:6:7::8"] {
            XCTAssertNil(IPAddress(bad), bad)
        }
    }

    func testCIDRRefusesHostBitsAndSuggestsTheNetwork() {
        XCTAssertEqual(CIDR.parse("10.0.0.1/24"), .failure(.hostBitsSet(suggestion: CIDR(address: IPAddress("10.0.0.0")!, prefixLength: 24))))
        XCTAssertEqual(CIDR.parse("10.0.0.0/33"), .failure(.badPrefixLength))
        XCTAssertEqual(CIDR.parse("fd00::/129"), .failure(.badPrefixLength))
        let c = try! CIDR.parse("fd00:30::/64").get()
        XCTAssertEqual(c.first.description, "fd00:30::")
        XCTAssertEqual(c.last.description, "fd00:30::ffff:ffff:ffff:ffff")
        XCTAssertTrue(try! CIDR.parse("0.0.0.0/0").get().contains(IPAddress("255.255.255.255")!))
        XCTAssertFalse(try! CIDR.parse("0.0.0.0/0").get().contains(IPAddress("::1")!))
    }
}
