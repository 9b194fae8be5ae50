import XCTest
import NetPrimitives

final class IPAddressTests: XCTestCase {
    func testIPv4ParsesAndPrints() {
        XCTAssertEqual(IPAddress("10.20.1.5")?.value, 0x0A14_0105)
        XCTAssertEqual(IPAddress("10.20.1.5")?.description, "10.20.1.5")
        XCTAssertEqual(IPAddress("10.20.1.5")?.bytes, [10, 20, 1, 5])
        XCTAssertEqual(IPAddress("0.0.0.0")?.value, 0)
        XCTAssertEqual(IPAddress("255.255.255.255")?.value, 0xffff_ffff)
        for bad in ["10.20.1", "10.20.1.5.6", "256.1.1.1", "1..1.1", "01.1.1.1", "1.1.1.00", "a.b.c.d", "",
                    " 1.1.1.1", "1.1.1.1 ", "1.1.1.+1", "1.1.1.1/32", "١.١.١.١"] {
            XCTAssertNil(IPAddress(bad), bad)
        }
    }

    func testIPv6ParsesCompressedAndEmbeddedForms() {
        XCTAssertEqual(IPAddress("::")?.value, 0)
        XCTAssertEqual(IPAddress("::1")?.value, 1)
        XCTAssertEqual(IPAddress("1::")?.value, UInt128(1) << 112)
        XCTAssertEqual(IPAddress("fd00:30::")?.value, UInt128(0xfd00_0030) << 96)
        XCTAssertEqual(IPAddress("::ffff:10.0.0.1")?.value, UInt128(0xffff_0a00_0001))
        XCTAssertEqual(IPAddress("1:2:3:4:5:6:1.2.3.4")?.value, IPAddress("1:2:3:4:5:6:102:304")?.value)
        XCTAssertEqual(IPAddress("FD00::AbC")?.value, IPAddress("fd00::abc")?.value)
        XCTAssertEqual(IPAddress("1:2:3:4:5:6:7::")?.description, "1:2:3:4:5:6:7:0")
        XCTAssertEqual(IPAddress("1:2:3:4:5:6:7:8")?.description, "1:2:3:4:5:6:7:8")
        XCTAssertEqual(IPAddress("fd00:0:0:0:0:0:0:53")?.description, "fd00::53")
        XCTAssertEqual(IPAddress("fd00::53")?.family, .v6)
    }

    func testIPv6RefusesMalformedGroups() {
        for bad in [":::", "1::2::3", "1:2:3:4:5:6:7:8:9", "fd00::g", "12345::", "1:2:3:4:5:6:7::8", ":1::", "1:",
                    "1::2:", "1:2:3:4:5:6:7", "::1.2.3", "::1.2.3.04", "1.2.3.4::", "::1.2.3.4:5", "fe80::1%eth0",
                    "[::1]", "::-1", "0x1::"] {
            XCTAssertNil(IPAddress(bad), bad)
        }
    }

    func testIPv6PrintsAsRFC5952Says() {
        // Section 4: lowercase, no leading zeros, the longest run of zeros (first on a tie), no
        // `::` for a single zero group; section 5: mapped addresses keep the dotted quad.
        let cases = [
            ("2001:0DB8:0000:0000:0000:0000:0002:0001", "2001:db8::2:1"),
            ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),
            ("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"),
            ("2001:0:0:1:0:0:0:1", "2001:0:0:1::1"),
            ("0:0:0:0:0:0:0:0", "::"),
            ("0:0:0:0:0:0:0:1", "::1"),
            ("1:0:0:0:0:0:0:0", "1::"),
            ("::ffff:a00:1", "::ffff:10.0.0.1"),
            ("::ffff:0:a00:1", "::ffff:0:a00:1"),
        ]
        for (text, canonical) in cases {
            XCTAssertEqual(IPAddress(text)?.description, canonical, text)
            XCTAssertEqual(IPAddress(canonical)?.description, canonical, "\(canonical) round trip")
        }
        XCTAssertEqual(IPAddress("::ffff:10.0.0.1")?.unmappedV4, IPAddress("10.0.0.1"))
        XCTAssertNil(IPAddress("::1")?.unmappedV4)
    }

    func testRandomAddressesRoundTripThroughText() {
        var rng = SeededGenerator(seed: 5952)
        for _ in 0..<2000 {
            // Zero groups are made likely so that compression is exercised.
            var value: UInt128 = 0
            for _ in 0..<8 { value = value << 16 | (rng.next() % 3 == 0 ? 0 : UInt128(rng.next() & 0xffff)) }
            let a = IPAddress(v6: value)
            XCTAssertEqual(IPAddress(a.description), a, a.description)
            let v4 = IPAddress(v4: UInt32(truncatingIfNeeded: rng.next()))
            XCTAssertEqual(IPAddress(v4.description), v4)
            XCTAssertEqual(IPAddress(bytes: v4.bytes), v4)
            XCTAssertEqual(IPAddress(bytes: a.bytes), a)
        }
    }

    func testBytesAndFamiliesAreKeptApart() {
        XCTAssertEqual(IPAddress(bytes: [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [1]), IPAddress("2001:db8::1"))
        XCTAssertNil(IPAddress(bytes: [1, 2, 3]))
        XCTAssertNotEqual(IPAddress(v4: 1), IPAddress(v6: 1))
        XCTAssertLessThan(IPAddress("255.255.255.255")!, IPAddress("::")!)
        XCTAssertEqual(IPAddress(family: .v4, value: UInt128.max).value, 0xffff_ffff)
    }
}

/// SplitMix64: a fixed seed gives the same inputs on every run, so a failure can be replayed.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
