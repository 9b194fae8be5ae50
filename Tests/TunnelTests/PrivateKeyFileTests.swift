import Foundation
import XCTest
@testable import Tunnel

/// `PrivateKey(keyFile:)`: a `wg genkey` file read straight into zeroing storage, refused when
/// others may read it, when it is not a regular file, too large or not a key; errors never
/// quote the file's contents.
final class PrivateKeyFileTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("ztp-keyfile-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    private func write(_ text: String, mode: Int = 0o600) -> String {
        let path = directory.appendingPathComponent(UUID().uuidString).path
        FileManager.default.createFile(atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: mode])
        return path
    }

    func testAKeyFileWithSurroundingWhitespaceGivesTheKey() throws {
        let key = PrivateKey()
        for text in [key.base64, key.base64 + "\n", "  \(key.base64)\r\n\n", "\t\(key.base64) "] {
            XCTAssertEqual(try PrivateKey(keyFile: write(text)), key)
        }
    }

    func testAFileOthersMayReadIsRefused() {
        let path = write(PrivateKey().base64 + "\n", mode: 0o640)
        XCTAssertThrowsError(try PrivateKey(keyFile: path)) { error in
            XCTAssertEqual(error as? PrivateKey.KeyFileError, .readableByOthers(path: path, mode: 0o640))
            XCTAssertTrue("\(error)".contains("chmod 600"), "\(error)")
        }
    }

    func testADirectoryIsRefused() {
        XCTAssertThrowsError(try PrivateKey(keyFile: directory.path)) { error in
            XCTAssertEqual(error as? PrivateKey.KeyFileError, .notARegularFile(path: directory.path))
        }
    }

    func testAMissingFileNamesTheError() {
        let path = directory.appendingPathComponent("absent").path
        XCTAssertThrowsError(try PrivateKey(keyFile: path)) { error in
            XCTAssertEqual(error as? PrivateKey.KeyFileError, .cannotOpen(path: path, errno: ENOENT))
        }
    }

    func testALargeFileIsRefusedUnread() {
        let path = write(String(repeating: "A", count: 10_000))
        XCTAssertThrowsError(try PrivateKey(keyFile: path)) { error in
            XCTAssertEqual(error as? PrivateKey.KeyFileError, .tooLarge(path: path))
        }
    }

    func testTextThatIsNotAKeyIsRefusedWithoutQuotingIt() {
        let secretLooking = "c2VjcmV0LWJ1dC1ub3QtYS1rZXk="
        for text in ["", "\n", secretLooking, PrivateKey().base64 + "x", PrivateKey().base64 + " " + PrivateKey().base64] {
            let path = write(text)
            XCTAssertThrowsError(try PrivateKey(keyFile: path)) { error in
                XCTAssertEqual(error as? PrivateKey.KeyFileError, .notABase64Key(path: path))
                XCTAssertFalse("\(error)".contains(secretLooking))
            }
        }
    }
}
