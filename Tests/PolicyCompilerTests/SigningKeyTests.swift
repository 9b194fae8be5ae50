import Foundation
import SecureMemory
import XCTest
@testable import PolicyCompiler

/// Ed25519 signing keys: their file holds the base64 seed, mode 0600, is never replaced, and is
/// refused when others may read it; public keys read back from their base64 form.
final class SigningKeyTests: XCTestCase {
    private var directory: String!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("ztp-signkey-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: directory)
    }

    func testAKeyWrittenToItsFileReadsBackAsTheSameKey() throws {
        let key = SigningKey()
        let path = directory + "/publisher.key"
        try key.writeKeyFile(path)
        let mode = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
        XCTAssertEqual(mode, 0o600)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        XCTAssertEqual(text.count, 45, "44 base64 characters and a newline")
        let again = try SigningKey(keyFile: path)
        XCTAssertEqual(again.publicKey, key.publicKey)
        let message = Array("bundle".utf8)[...]
        XCTAssertTrue(key.publicKey.verifies(again.signature(of: message), of: message))
    }

    func testAnExistingKeyFileIsNeverReplaced() throws {
        let path = directory + "/publisher.key"
        try SigningKey().writeKeyFile(path)
        let before = try String(contentsOfFile: path, encoding: .utf8)
        XCTAssertThrowsError(try SigningKey().writeKeyFile(path)) {
            XCTAssertEqual($0 as? SecretKeyFile.Failure, .alreadyExists(path: path))
        }
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), before)
    }

    func testAKeyFileOthersMayReadIsRefused() throws {
        let path = directory + "/publisher.key"
        try SigningKey().writeKeyFile(path)
        chmod(path, 0o644)
        XCTAssertThrowsError(try SigningKey(keyFile: path)) {
            XCTAssertEqual($0 as? SecretKeyFile.Failure, .readableByOthers(path: path, mode: 0o644))
            XCTAssertTrue("\($0)".contains("chmod 600"), "\($0)")
        }
    }

    func testAFileThatIsNotASeedIsRefusedWithoutQuotingIt() {
        let path = directory + "/garbage.key"
        FileManager.default.createFile(atPath: path, contents: Data("c2VjcmV0LXNlY3JldA==\n".utf8), attributes: [.posixPermissions: 0o600])
        XCTAssertThrowsError(try SigningKey(keyFile: path)) {
            XCTAssertEqual($0 as? SecretKeyFile.Failure, .notABase64Key(path: path))
            XCTAssertFalse("\($0)".contains("c2VjcmV0"), "\($0)")
        }
    }

    func testAPublicKeyReadsBackFromItsBase64() {
        let key = SigningKey().publicKey
        XCTAssertEqual(SigningPublicKey(base64: key.base64 + "\n"), key)
        XCTAssertNil(SigningPublicKey(base64: "not a key"))
        XCTAssertNil(SigningPublicKey(base64: String(key.base64.dropLast(2)) + "=="))
        XCTAssertNotEqual(SigningKey().publicKey, key)
    }
}

extension SigningKeyTests {
    func testAPublicKeyIsReadFromItsPubFileAndADeviceIsNotRead() throws {
        let key = SigningKey()
        let pub = directory + "/publisher.key.pub"
        FileManager.default.createFile(atPath: pub, contents: Data((key.publicKey.base64 + "\n").utf8))
        XCTAssertEqual(try SigningPublicKey(base64OrFile: pub), key.publicKey)
        XCTAssertEqual(try SigningPublicKey(base64OrFile: key.publicKey.base64), key.publicKey)
        // /dev/zero would never end: it is refused as not a regular file, unread.
        XCTAssertThrowsError(try SigningPublicKey(base64OrFile: "/dev/zero")) {
            XCTAssertTrue("\($0)".contains("neither a base64 public key nor a readable .pub file"), "\($0)")
        }
        FileManager.default.createFile(atPath: pub, contents: Data("not a key\n".utf8))
        XCTAssertThrowsError(try SigningPublicKey(base64OrFile: pub)) {
            XCTAssertTrue("\($0)".contains("does not hold a base64 public key"), "\($0)")
        }
    }
}
