import XCTest
@testable import Tunnel

final class AEADTests: XCTestCase {
    private let sunscreen = Array(
        "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.".utf8)
    private let key = try! SymmetricKey(rawBytes: [UInt8]((0x80...0x9f).map { UInt8($0) }))
    private let aad = [UInt8](hex: "50515253c0c1c2c3c4c5c6c7")

    func testChaCha20Poly1305MatchesRFC8439Section2_8_2() throws {
        let nonce = [UInt8](hex: "070000004041424344454647")
        var sealed = [UInt8](repeating: 0, count: sunscreen.count + 16)
        try nonce.withUnsafeBytes { n in
            try sunscreen.withUnsafeBytes { p in
                try aad.withUnsafeBytes { a in
                    try sealed.withUnsafeMutableBytes { o in
                        try ChaCha20Poly1305.seal(key: key, nonce: n, plaintext: p, additionalData: a, into: o)
                    }
                }
            }
        }
        XCTAssertEqual(sealed.hex, """
            d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b\
            1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc\
            3ff4def08e4b7a9de576d26586cec64b6116
            """ + "1ae10b594f09e26a7e902ecbd0600691")

        var opened = [UInt8](repeating: 0, count: sunscreen.count)
        try nonce.withUnsafeBytes { n in
            try sealed.withUnsafeBytes { c in
                try aad.withUnsafeBytes { a in
                    try opened.withUnsafeMutableBytes { o in
                        try ChaCha20Poly1305.open(key: key, nonce: n, ciphertext: c, additionalData: a, into: o)
                    }
                }
            }
        }
        XCTAssertEqual(opened, sunscreen)
    }

    func testChaCha20Poly1305RejectsTamperingAndWrongAssociatedData() {
        let sealed = ChaCha20Poly1305.seal(key: key, counter: 3, plaintext: sunscreen, additionalData: aad)
        XCTAssertEqual(try ChaCha20Poly1305.open(key: key, counter: 3, ciphertext: sealed, additionalData: aad), sunscreen)
        var flipped = sealed
        flipped[5] ^= 1
        XCTAssertThrowsError(try ChaCha20Poly1305.open(key: key, counter: 3, ciphertext: flipped, additionalData: aad))
        XCTAssertThrowsError(try ChaCha20Poly1305.open(key: key, counter: 4, ciphertext: sealed, additionalData: aad))
        XCTAssertThrowsError(try ChaCha20Poly1305.open(key: key, counter: 3, ciphertext: sealed, additionalData: []))
        XCTAssertThrowsError(try ChaCha20Poly1305.open(key: key, counter: 3, ciphertext: Array(sealed.prefix(15)), additionalData: aad))
    }

    func testEmptyPlaintextProducesBareTag() throws {
        let sealed = ChaCha20Poly1305.seal(key: key, counter: 0, plaintext: [], additionalData: aad)
        XCTAssertEqual(sealed.count, 16)
        XCTAssertEqual(try ChaCha20Poly1305.open(key: key, counter: 0, ciphertext: sealed, additionalData: aad), [])
    }

    func testXChaCha20Poly1305MatchesDraftIrtfCfrgXChachaA_3_1() throws {
        let nonce = [UInt8](hex: "404142434445464748494a4b4c4d4e4f5051525354555657")
        let sealed = try XChaCha20Poly1305.seal(key: key, nonce: nonce, plaintext: sunscreen, additionalData: aad)
        XCTAssertEqual(sealed.hex, """
            bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb731c7f1b0b4aa6440bf3a82f4eda7e39\
            ae64c6708c54c216cb96b72e1213b4522f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9\
            21f9664c97637da9768812f615c68b13b52e
            """ + "c0875924c1c7987947deafd8780acf49")
        XCTAssertEqual(try XChaCha20Poly1305.open(key: key, nonce: nonce, ciphertext: sealed, additionalData: aad), sunscreen)
        var flipped = sealed
        flipped[flipped.count - 1] ^= 0x80
        XCTAssertThrowsError(try XChaCha20Poly1305.open(key: key, nonce: nonce, ciphertext: flipped, additionalData: aad))
    }
}
