import XCTest
@testable import Tunnel

final class BLAKE2sTests: XCTestCase {
    func testHashOfAbcMatchesRFC7693AppendixB() {
        XCTAssertEqual(BLAKE2s.hash(Array("abc".utf8)).hex,
                       "508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982")
    }

    func testHashOfEmptyInput() {
        XCTAssertEqual(BLAKE2s.hash([]).hex, "69217a3079908094e11121d042354a7c1f55b6482ca1a51e1b250dfd1ed0eef9")
    }

    /// Entries of the BLAKE2 reference package's keyed KAT (blake2s-kat.txt):
    /// key = 00..1f, input = the first n bytes of 00 01 02 ...
    func testKeyedHashMatchesReferenceKAT() {
        let key = [UInt8](0..<32)
        let expected: [(Int, String)] = [
            (0, "48a8997da407876b3d79c0d92325ad3b89cbb754d86ab71aee047ad345fd2c49"),
            (1, "40d15fee7c328830166ac3f918650f807e7e01e177258cdc0a39b11f598066f1"),
            (2, "6bb71300644cd3991b26ccd4d274acd1adeab8b1d7914546c1198bbe9fc9d803"),
            (63, "c65382513f07460da39833cb666c5ed82e61b9e998f4b0c4287cee56c3cc9bcd"),
            (64, "8975b0577fd35566d750b362b0897a26c399136df07bababbde6203ff2954ed4"),
            (65, "21fe0ceb0052be7fb0f004187cacd7de67fa6eb0938d927677f2398c132317a8"),
            (128, "0c311f38c35a4fb90d651c289d486856cd1413df9b0677f53ece2cd9e477c60a"),
            (255, "3fb735061abc519dfe979e54c1ee5bfad0a9d858b3315bad34bde999efd724dd"),
        ]
        for (length, digest) in expected {
            var hasher = BLAKE2s(key: key)
            hasher.update([UInt8]((0..<length).map { UInt8($0) }))
            XCTAssertEqual(hasher.finalize().hex, digest, "KAT entry \(length)")
        }
    }

    func testIncrementalUpdatesEqualOneShotAcrossBlockBoundaries() {
        let data = [UInt8]((0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        let oneShot = BLAKE2s.hash(data)
        for chunk in [1, 7, 63, 64, 65, 200] {
            var hasher = BLAKE2s()
            var offset = 0
            while offset < data.count {
                let end = min(offset + chunk, data.count)
                hasher.update(Array(data[offset..<end]))
                offset = end
            }
            XCTAssertEqual(hasher.finalize(), oneShot, "chunk size \(chunk)")
        }
        XCTAssertEqual(BLAKE2s.hash(Array(repeating: UInt8(ascii: "a"), count: 1000)).hex,
                       "a4691c2bf852334ece63c024234338fc6c150bdf04fa3f6e0e4c5209b326438d")
    }

    /// Cross-checked against Python's hashlib.blake2s(digest_size=16, key=00..1f).
    func testMACHasSixteenByteKeyedDigest() {
        let mac = BLAKE2s.mac(key: [UInt8](0..<32), Array("hello wireguard".utf8))
        XCTAssertEqual(mac.hex, "d7ced850c9c0917a705fad04539c3a01")
    }

    /// Cross-checked against Python's hmac.new(key, msg, hashlib.blake2s).
    func testHMACMatchesIndependentImplementation() {
        XCTAssertEqual(
            HMACBLAKE2s.authenticate(key: Array("key".utf8), Array("The quick brown fox jumps over the lazy dog".utf8)).hex,
            "f93215bb90d4af4c3061cd932fb169fb8bb8a91d0b4022baea1271e1323cd9a0")
        // Keys longer than a block are hashed first.
        XCTAssertEqual(HMACBLAKE2s.authenticate(key: [UInt8](0..<100), Array("data".utf8)).hex,
                       "2624e61dfe9fcc84d3137a317c171ced634ef3fcd2fa3f5515940906f4e38c48")
    }

    func testKDFOutputsFollowTheHKDFChain() throws {
        let ck = try SymmetricKey(rawBytes: [UInt8](repeating: 7, count: 32))
        let input = Array("input key material".utf8)
        let (t1, t2) = KDF.kdf2(key: ck, input)
        let tau0 = HMACBLAKE2s.authenticate(key: ck.rawBytes, input)
        let expected1 = HMACBLAKE2s.authenticate(key: tau0, [1])
        let expected2 = HMACBLAKE2s.authenticate(key: tau0, expected1 + [2])
        XCTAssertEqual(t1.rawBytes, expected1)
        XCTAssertEqual(t2.rawBytes, expected2)
        XCTAssertEqual(KDF.kdf1(key: ck, input).rawBytes, expected1)
        let psk = try SymmetricKey(rawBytes: [UInt8](repeating: 9, count: 32))
        let (k1, k2, k3) = KDF.kdf3(key: ck, psk)
        let pskTau0 = HMACBLAKE2s.authenticate(key: ck.rawBytes, psk.rawBytes)
        let p1 = HMACBLAKE2s.authenticate(key: pskTau0, [1])
        let p2 = HMACBLAKE2s.authenticate(key: pskTau0, p1 + [2])
        XCTAssertEqual([k1.rawBytes, k2.rawBytes, k3.rawBytes],
                       [p1, p2, HMACBLAKE2s.authenticate(key: pskTau0, p2 + [3])])
    }

    /// The initial chaining key and hash every WireGuard implementation shares:
    /// C = HASH(CONSTRUCTION), H = HASH(C || IDENTIFIER).
    func testInitialChainingKeyAndHashMatchOtherImplementations() {
        let c = BLAKE2s.hash(Array(WG.CONSTRUCTION.utf8))
        XCTAssertEqual(c.hex, "60e26daef327efc02ec335e2a025d2d016eb4206f87277f52d38d1988b78cd36")
        XCTAssertEqual(BLAKE2s.hash(c, Array(WG.IDENTIFIER.utf8)).hex,
                       "2211b361081ac566691243db458ad5322d9c6c662293e8b70ee19c65ba079ef3")
    }
}
