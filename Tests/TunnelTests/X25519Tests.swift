import XCTest
@testable import Tunnel

final class X25519Tests: XCTestCase {
    private func dh(_ scalar: String, _ u: String) throws -> String {
        let key = try PrivateKey(rawBytes: [UInt8](hex: scalar))
        return try X25519.sharedSecret(key, PublicKey(rawBytes: [UInt8](hex: u))).rawBytes.hex
    }

    func testScalarMultiplicationMatchesRFC7748Section5_2() throws {
        XCTAssertEqual(
            try dh("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
                   "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c"),
            "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552")
        // The u-coordinate's top bit is set: it must be masked, not rejected.
        XCTAssertEqual(
            try dh("4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
                   "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493"),
            "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957")
    }

    func testIteratedScalarMultiplicationMatchesRFC7748Section5_2() throws {
        var k = [UInt8](repeating: 0, count: 32); k[0] = 9
        var u = k
        for iteration in 1...1000 {
            let result = try [UInt8](hex: dh(k.hex, u.hex))
            u = k
            k = result
            if iteration == 1 {
                XCTAssertEqual(k.hex, "422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079")
            }
        }
        XCTAssertEqual(k.hex, "684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51")
    }

    func testDiffieHellmanMatchesRFC7748Section6_1() throws {
        let alice = try PrivateKey(rawBytes: [UInt8](hex: "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"))
        let bob = try PrivateKey(rawBytes: [UInt8](hex: "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"))
        XCTAssertEqual(alice.publicKey.bytes.hex, "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
        XCTAssertEqual(bob.publicKey.bytes.hex, "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
        let shared = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742"
        XCTAssertEqual(try X25519.sharedSecret(alice, bob.publicKey).rawBytes.hex, shared)
        XCTAssertEqual(try X25519.sharedSecret(bob, alice.publicKey).rawBytes.hex, shared)
    }

    func testLowOrderPointIsRejected() throws {
        let zeroPoint = try PublicKey(rawBytes: [UInt8](repeating: 0, count: 32))
        XCTAssertThrowsError(try X25519.sharedSecret(PrivateKey(), zeroPoint)) { error in
            XCTAssertEqual(error as? CryptoError, .lowOrderPoint)
        }
    }

    func testGeneratedPrivateKeysAreClamped() {
        for _ in 0..<16 {
            let bytes = PrivateKey().withUnsafeBytes { Array($0) }
            XCTAssertEqual(bytes[0] & 7, 0)
            XCTAssertEqual(bytes[31] & 0x80, 0)
            XCTAssertEqual(bytes[31] & 0x40, 0x40)
        }
    }

    func testKeysRoundTripThroughBase64() throws {
        let key = PrivateKey()
        XCTAssertEqual(key.base64.count, 44)
        XCTAssertEqual(try PrivateKey(base64: key.base64), key)
        XCTAssertEqual(try PublicKey(base64: key.publicKey.base64), key.publicKey)
        let psk = SymmetricKey()
        XCTAssertEqual(try SymmetricKey(base64: psk.base64), psk)
        XCTAssertNotEqual(SymmetricKey(), psk)
    }

    func testMalformedBase64KeysAreRejected() {
        for text in ["", "abc", "not base64 at all!!", String(repeating: "A", count: 43),
                     String(repeating: "A", count: 44) + "AAAA", PrivateKey().base64 + " "] {
            XCTAssertThrowsError(try PrivateKey(base64: text), "accepted \(text.debugDescription)")
            XCTAssertThrowsError(try PublicKey(base64: text))
        }
    }

    func testKnownKeyPairFromRFC7748EncodesLikeWireGuardTools() throws {
        let alice = try PrivateKey(rawBytes: [UInt8](hex: "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"))
        XCTAssertEqual(alice.publicKey.base64, "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=")
    }
}
