import Foundation
import XCTest

/// `ztpc keygen`, `compile --sign`, `verify` and `inspect` on signed bundles, run as a user would.
final class SigningCommandTests: XCTestCase {
    private var dir: String!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("ztpc-sign-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: dir)
    }

    private func ztpc(_ args: String...) throws -> ProcessRun { try ProcessRun.ztpc(args) }

    /// A key pair made with keygen: the secret's path and the public key's base64.
    private func keygen(_ name: String) throws -> (secret: String, publicKey: String) {
        let path = "\(dir!)/\(name).key"
        let r = try ztpc("keygen", "--out", path)
        XCTAssertEqual(r.status, 0, r.err)
        return (path, r.out.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    func testKeygenWritesASecretOnlyItsOwnerReadsAndThePublicKeyBesideIt() throws {
        let (secret, publicKey) = try keygen("publisher")
        XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: secret)[.posixPermissions] as? Int, 0o600)
        XCTAssertEqual(try String(contentsOfFile: secret + ".pub", encoding: .utf8), publicKey + "\n")
        XCTAssertEqual(publicKey.count, 44)
        XCTAssertFalse(try String(contentsOfFile: secret, encoding: .utf8).contains(publicKey))
    }

    func testKeygenRefusesToReplaceAKey() throws {
        let (secret, _) = try keygen("publisher")
        let before = try String(contentsOfFile: secret, encoding: .utf8)
        let again = try ztpc("keygen", "--out", secret)
        XCTAssertEqual(again.status, 2)
        XCTAssertTrue(again.err.contains("already exists"), again.err)
        XCTAssertEqual(try String(contentsOfFile: secret, encoding: .utf8), before)
        // The .pub alone existing also stops it, before any secret is written.
        let other = "\(dir!)/other.key"
        FileManager.default.createFile(atPath: other + ".pub", contents: Data())
        XCTAssertEqual(try ztpc("keygen", "--out", other).status, 2)
        XCTAssertFalse(FileManager.default.fileExists(atPath: other))
    }

    func testASignedBundleVerifiesWithItsPublisherAndIsRefusedByOthers() throws {
        let (secret, publicKey) = try keygen("publisher")
        let (_, strangerKey) = try keygen("stranger")
        let bundle = "\(dir!)/policy.ztpb"
        let c = try ztpc("compile", ZTPCCommandTests.policies, "-o", bundle, "--sign", secret)
        XCTAssertEqual(c.status, 0, c.err)
        XCTAssertTrue(c.out.contains("signed by \(publicKey)"), c.out)

        let byKey = try ztpc("verify", bundle, "--trusted", publicKey)
        XCTAssertEqual(byKey.status, 0, byKey.err)
        XCTAssertTrue(byKey.out.hasPrefix("ok: \(bundle) signed by \(publicKey)"), byKey.out)
        XCTAssertEqual(try ztpc("verify", bundle, "--trusted", "\(strangerKey),\(secret).pub").status, 0)

        let untrusted = try ztpc("verify", bundle, "--trusted", strangerKey)
        XCTAssertEqual(untrusted.status, 1)
        XCTAssertTrue(untrusted.err.contains("untrusted keys: \(publicKey)"), untrusted.err)

        let inspect = try ztpc("inspect", bundle)
        XCTAssertEqual(inspect.status, 0, inspect.err)
        XCTAssertTrue(inspect.out.contains("signed by:    \(publicKey) (signature valid)"), inspect.out)
        // A signed bundle still evaluates like any bundle.
        let requests = "\(dir!)/requests"
        FileManager.default.createFile(atPath: requests, contents: Data("alice-laptop -> 10.10.0.7:5432/tcp\n".utf8))
        let eval = try ztpc("eval", bundle, "--requests", requests)
        XCTAssertEqual(eval.status, 0, eval.err)
        XCTAssertTrue(eval.out.hasPrefix("allow alice-laptop"), eval.out)
    }

    func testVerifyTellsUnsignedAlteredAndCorruptBundlesApart() throws {
        let (secret, publicKey) = try keygen("publisher")
        let unsigned = "\(dir!)/unsigned.ztpb", signed = "\(dir!)/signed.ztpb"
        XCTAssertEqual(try ztpc("compile", ZTPCCommandTests.policies, "-o", unsigned).status, 0)
        XCTAssertEqual(try ztpc("compile", ZTPCCommandTests.policies, "-o", signed, "--sign", secret).status, 0)

        let u = try ztpc("verify", unsigned, "--trusted", publicKey)
        XCTAssertEqual(u.status, 1)
        XCTAssertTrue(u.err.contains("not signed"), u.err)
        XCTAssertTrue(try ztpc("inspect", unsigned).out.contains("signed by:    nobody (unsigned)"))

        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: signed)))
        bytes[bytes.count - 1] ^= 0x01  // the signature's last byte
        FileManager.default.createFile(atPath: signed, contents: Data(bytes))
        let forged = try ztpc("verify", signed, "--trusted", publicKey)
        XCTAssertEqual(forged.status, 1)
        XCTAssertTrue(forged.err.contains("does not verify"), forged.err)
        XCTAssertTrue(try ztpc("inspect", signed).out.contains("SIGNATURE DOES NOT VERIFY"))

        bytes[60] ^= 0x01  // inside the bundle: its checksum fails first
        FileManager.default.createFile(atPath: signed, contents: Data(bytes))
        let corrupt = try ztpc("verify", signed, "--trusted", publicKey)
        XCTAssertEqual(corrupt.status, 3)
        XCTAssertTrue(corrupt.err.contains("checksum mismatch"), corrupt.err)
    }

    func testAKeyFileOthersCanReadIsRefusedBeforeAnythingIsWritten() throws {
        let (secret, _) = try keygen("publisher")
        chmod(secret, 0o640)
        let bundle = "\(dir!)/policy.ztpb"
        let r = try ztpc("compile", ZTPCCommandTests.policies, "-o", bundle, "--sign", secret)
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.err.contains("lets group or others read or write the private key; chmod 600 it"), r.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: bundle))
    }

    func testVerifyNamesATrustedItemThatIsNoKey() throws {
        let bundle = "\(dir!)/policy.ztpb"
        XCTAssertEqual(try ztpc("compile", ZTPCCommandTests.policies, "-o", bundle).status, 0)
        let r = try ztpc("verify", bundle, "--trusted", "\(dir!)/absent.pub")
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.err.contains("absent.pub' is neither a base64 public key nor a readable .pub file"), r.err)
    }
}
