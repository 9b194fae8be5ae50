import Foundation
import XCTest
import PolicyLang
@testable import PolicyCompiler

/// Signed bundles: a detached Ed25519 trailer over the exact bundle bytes, opened only with a
/// trusted key; every refusal says which of unsigned, untrusted, bad signature or corrupt it is.
final class SignedBundleTests: XCTestCase {
    var tables: DecisionTables!
    var bundle: [UInt8]!
    let publisher = SigningKey()

    override func setUp() {
        tables = PolicyFixtures.compile(["p.yaml": PolicyFileParserExample.text], lint: false).tables
        bundle = PolicyBundle.encode(tables)
    }

    func testABundleSignedByATrustedKeyOpensToItsTablesAndNamesTheSigner() throws {
        let signed = try SignedBundle.sign(bundle, with: publisher)
        XCTAssertEqual(signed.count, bundle.count + SignedBundle.recordSize)
        XCTAssertEqual(Array(signed.prefix(bundle.count)), bundle, "the bundle's bytes are kept as they were")
        let opened = try SignedBundle.open(signed, trusted: [SigningKey().publicKey, publisher.publicKey])
        XCTAssertEqual(opened.tables, tables)
        XCTAssertEqual(opened.signer, publisher.publicKey)
    }

    func testAnUnsignedBundleStillDecodesAsBefore() throws {
        XCTAssertEqual(try PolicyBundle.decode(bundle), tables)
        XCTAssertEqual(try SignedBundle.decodeIgnoringSignatures(bundle), tables)
        XCTAssertEqual(try SignedBundle.decodeIgnoringSignatures(SignedBundle.sign(bundle, with: publisher)), tables)
        XCTAssertEqual(try SignedBundle.split(bundle).signatures, [])
    }

    func testAnUnsignedBundleIsRefusedWhenSignaturesAreRequired() {
        XCTAssertThrowsError(try SignedBundle.open(bundle, trusted: [publisher.publicKey])) {
            XCTAssertEqual($0 as? SignedBundle.OpenError, .unsigned)
            XCTAssertTrue("\($0)".contains("not signed"), "\($0)")
        }
    }

    func testABundleSignedByAnUntrustedKeyIsRefusedNamingThatKey() throws {
        let stranger = SigningKey()
        let signed = try SignedBundle.sign(bundle, with: stranger)
        XCTAssertThrowsError(try SignedBundle.open(signed, trusted: [publisher.publicKey])) {
            XCTAssertEqual($0 as? SignedBundle.OpenError, .untrusted(signers: [stranger.publicKey]))
            XCTAssertTrue("\($0)".contains(stranger.publicKey.base64), "\($0)")
        }
    }

    func testABundleChangedAfterSigningFailsItsSignature() throws {
        let signed = try SignedBundle.sign(bundle, with: publisher)
        // A change with the checksum repaired: only the signature can catch it.
        var altered = Array(signed.prefix(bundle.count))
        altered[PolicyBundle.headerSize + 5] ^= 0x01
        altered.replaceSubrange((altered.count - 32)..., with: SHA256.hash(Array(altered.prefix(altered.count - 32))))
        altered += signed.suffix(SignedBundle.recordSize)
        XCTAssertThrowsError(try SignedBundle.open(altered, trusted: [publisher.publicKey])) {
            XCTAssertEqual($0 as? SignedBundle.OpenError, .badSignature(signer: publisher.publicKey))
        }
        // A forged signature over the original bytes.
        var forged = signed
        forged[forged.count - 1] ^= 0x80
        XCTAssertThrowsError(try SignedBundle.open(forged, trusted: [publisher.publicKey])) {
            XCTAssertEqual($0 as? SignedBundle.OpenError, .badSignature(signer: publisher.publicKey))
        }
    }

    func testACorruptedSignedBundleIsRefusedAsCorrupt() throws {
        let signed = try SignedBundle.sign(bundle, with: publisher)
        var flipped = signed
        flipped[PolicyBundle.headerSize + 3] ^= 0x41
        XCTAssertThrowsError(try SignedBundle.open(flipped, trusted: [publisher.publicKey])) {
            XCTAssertEqual($0 as? SignedBundle.OpenError, .corrupt(.checksumMismatch))
        }
        for cut in [1, SignedBundle.recordSize - 1, SignedBundle.recordSize + 1] {
            XCTAssertThrowsError(try SignedBundle.open(Array(signed.dropLast(cut)), trusted: [publisher.publicKey]), "cut \(cut)") {
                guard case .corrupt = $0 as? SignedBundle.OpenError else { return XCTFail("cut \(cut): \($0)") }
            }
        }
        var badMagic = signed
        badMagic[bundle.count] ^= 0xff
        XCTAssertThrowsError(try SignedBundle.open(badMagic, trusted: [publisher.publicKey])) {
            XCTAssertEqual($0 as? SignedBundle.OpenError, .corrupt(.inconsistent("bytes after the bundle are not a signature record")))
        }
        XCTAssertThrowsError(try SignedBundle.open(Array("policy: x".utf8), trusted: [publisher.publicKey])) {
            XCTAssertEqual($0 as? SignedBundle.OpenError, .corrupt(.notABundle))
        }
    }

    func testTwoPublishersCanSignAndEitherOneIsEnough() throws {
        let second = SigningKey()
        let once = try SignedBundle.sign(bundle, with: publisher)
        let twice = try SignedBundle.sign(once, with: second)
        XCTAssertEqual(try SignedBundle.split(twice).signatures.map(\.signer), [publisher.publicKey, second.publicKey])
        XCTAssertEqual(try SignedBundle.open(twice, trusted: [second.publicKey]).signer, second.publicKey)
        XCTAssertEqual(try SignedBundle.open(twice, trusted: [publisher.publicKey]).signer, publisher.publicKey)
        XCTAssertEqual(try SignedBundle.sign(twice, with: second), twice, "a key signs a bundle once")
    }

    func testABadTrustedSignatureIsOutweighedByAGoodOne() throws {
        let second = SigningKey()
        var signed = try SignedBundle.sign(bundle, with: publisher)
        signed[signed.count - 1] ^= 0x01  // the first signature no longer verifies
        signed = signed + SignedBundle.signatureMagic + second.publicKey.bytes + second.signature(of: bundle[...])
        XCTAssertEqual(try SignedBundle.open(signed, trusted: [publisher.publicKey, second.publicKey]).signer, second.publicKey)
    }

    func testADamagedBundleIsNeverSigned() {
        var damaged = bundle!
        damaged[PolicyBundle.headerSize] ^= 0x01
        XCTAssertThrowsError(try SignedBundle.sign(damaged, with: publisher)) {
            XCTAssertEqual($0 as? SignedBundle.OpenError, .corrupt(.checksumMismatch))
        }
    }

    func testUnderAnyBundleTrustASignedBundleLoadsWithoutItsSignatureChecked() throws {
        let signed = try SignedBundle.sign(bundle, with: SigningKey())
        let accepted = try BundleTrust.anyBundle.open(signed)
        XCTAssertEqual(accepted.tables, tables)
        XCTAssertNil(accepted.signer)
        XCTAssertThrowsError(try BundleTrust.publishers([publisher.publicKey]).open(signed))
    }

    func testTheContentHashIsTheSHA256OfTheBytes() {
        // SHA-256 of the empty string (FIPS 180-2 test vector).
        XCTAssertEqual(PolicyBundle.contentHash([]), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(PolicyBundle.contentHash(bundle).count, 64)
    }
}
