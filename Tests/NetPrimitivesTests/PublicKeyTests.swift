import XCTest
import NetPrimitives

final class PublicKeyTests: XCTestCase {
    /// RFC 7748 section 6.1's Alice public key.
    static let hex = "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"
    static let base64 = "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo="

    func testBase64AndHexRoundTrip() throws {
        let key = try PublicKey(hex: Self.hex)
        XCTAssertEqual(key.base64, Self.base64)
        XCTAssertEqual(key.hex, Self.hex)
        XCTAssertEqual(try PublicKey(base64: Self.base64), key)
        XCTAssertEqual(try PublicKey(hex: Self.hex.uppercased()), key)
        XCTAssertEqual(key.bytes.first, 0x85)
        XCTAssertEqual(key.bytes.last, 0x6a)
        XCTAssertEqual(try PublicKey(rawBytes: key.bytes), key)
        XCTAssertEqual(key.description, Self.base64)
        try key.bytes.withUnsafeBytes { XCTAssertEqual(try PublicKey(raw: $0), key) }
        key.withUnsafeBytes { XCTAssertEqual(Array($0), key.bytes) }
    }

    func testRandomKeysRoundTrip() throws {
        var rng = SeededGenerator(seed: 25519)
        for _ in 0..<500 {
            let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let key = try PublicKey(rawBytes: bytes)
            XCTAssertEqual(key.bytes, bytes)
            XCTAssertEqual(try PublicKey(base64: key.base64), key)
            XCTAssertEqual(try PublicKey(hex: key.hex), key)
        }
    }

    func testBadTextAndLengthsAreTypedErrors() {
        XCTAssertThrowsError(try PublicKey(rawBytes: [UInt8](repeating: 1, count: 31))) {
            XCTAssertEqual($0 as? PublicKey.FormatError, .invalidLength(expected: 32, actual: 31))
        }
        XCTAssertThrowsError(try PublicKey(rawBytes: [UInt8](repeating: 1, count: 33)))
        // The last data character carries two unused bits; `wg` refuses them set ('p' instead of 'o').
        let badBase64 = ["", "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmp=", "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo",
                         "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo==", "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066Spjqq Tmo=",
                         "hSDwCYkwp1R0i33ctD73Wg2-Og0mOBr066SpjqqbTmo=", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=="]
        for text in badBase64 {
            XCTAssertThrowsError(try PublicKey(base64: text), text) { XCTAssertEqual($0 as? PublicKey.FormatError, .invalidBase64) }
        }
        for text in ["", String(Self.hex.dropLast()), Self.hex + "0", String(Self.hex.dropLast()) + "g"] {
            XCTAssertThrowsError(try PublicKey(hex: text), text) { XCTAssertEqual($0 as? PublicKey.FormatError, .invalidHex) }
        }
    }

    func testEqualityAndHashingSeeEveryByte() throws {
        let base = try PublicKey(hex: Self.hex)
        var seen: Set<PublicKey> = [base]
        for index in 0..<32 {
            for bit in 0..<8 {
                var bytes = base.bytes
                bytes[index] ^= 1 << bit
                let other = try PublicKey(rawBytes: bytes)
                XCTAssertNotEqual(other, base, "byte \(index) bit \(bit)")
                XCTAssertTrue(seen.insert(other).inserted)
            }
        }
        XCTAssertEqual(try PublicKey(rawBytes: base.bytes).hashValue, base.hashValue)
        XCTAssertTrue(seen.contains(try PublicKey(base64: Self.base64)))
    }

    func testKeysAreInline() {
        XCTAssertEqual(MemoryLayout<PublicKey>.size, 32)
    }
}
