import Foundation
import XCTest
@testable import SystemSupport

final class UnixListenerTests: XCTestCase {
    func testTheSocketIsCreatedWithItsModeInDirectoriesOfTheGivenMode() throws {
        let root = temporaryDirectory()
        let path = "\(root)/a/ctl.sock"
        // Even a process umask that withholds nothing gives no wider node than asked for.
        let old = umask(0)
        defer { umask(old) }
        let listener = try UnixListener(path: path, mode: 0o600, directoryMode: 0o710)
        defer { listener.close() }
        XCTAssertEqual(try mode(of: path), 0o600)
        XCTAssertEqual(try mode(of: "\(root)/a"), 0o710)
        XCTAssertEqual(try mode(of: root), 0o710)
    }

    func testAnExistingDirectoryKeepsItsMode() throws {
        let root = temporaryDirectory()
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        let listener = try UnixListener(path: "\(root)/s.sock", mode: 0o660, directoryMode: 0o700)
        defer { listener.close() }
        XCTAssertEqual(try mode(of: root), 0o755)
        XCTAssertEqual(try mode(of: "\(root)/s.sock"), 0o660)
    }

    func testAStaleSocketIsReplaced() throws {
        let root = temporaryDirectory()
        let path = "\(root)/s.sock"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        // A socket node whose server is gone: bound, then closed without unlinking.
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        let address = try UnixAddress(path)
        XCTAssertEqual(address.withSockaddr { bind(fd, $0, $1) }, 0)
        close(fd)
        XCTAssertTrue(FileManager.default.fileExists(atPath: path))

        let listener = try UnixListener(path: path)
        defer { listener.close() }
        let client = try UnixClient.connect(path: path, timeout: .seconds(1))
        client.close()
    }

    func testALiveServersSocketIsNotTakenOver() throws {
        let path = "\(temporaryDirectory())/s.sock"
        let first = try UnixListener(path: path)
        defer { first.close() }
        XCTAssertThrowsError(try UnixListener(path: path)) { error in
            XCTAssertEqual(error as? IOError, .addressInUse(address: path))
        }
    }

    func testAFileThatIsNotASocketIsLeftAlone() throws {
        let root = temporaryDirectory()
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let path = "\(root)/notes.txt"
        _ = FileManager.default.createFile(atPath: path, contents: Data("keep me".utf8))
        XCTAssertThrowsError(try UnixListener(path: path)) { error in
            XCTAssertEqual(error as? IOError, .pathOccupied(path: path))
        }
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "keep me")
    }

    func testAPathTooLongForSockaddrIsATypedError() {
        let path = "/tmp/" + String(repeating: "x", count: 120) + ".sock"
        XCTAssertThrowsError(try UnixListener(path: path)) { error in
            XCTAssertEqual(error as? IOError, .pathTooLong(path: path, limit: 107))
        }
        XCTAssertThrowsError(try UnixClient.connect(path: path, timeout: .seconds(1))) { error in
            XCTAssertEqual(error as? IOError, .pathTooLong(path: path, limit: 107))
        }
    }

    func testClosingRemovesOnlyItsOwnNode() throws {
        let path = "\(temporaryDirectory())/s.sock"
        let old = try UnixListener(path: path)
        old.interrupt()
        // Another server took the path over (the old node removed by hand): closing the old
        // listener must not remove the new server's socket.
        unlink(path)
        let new = try UnixListener(path: path)
        defer { new.close() }
        old.close()
        XCTAssertTrue(FileManager.default.fileExists(atPath: path))
    }

    func testConnectingWhereNobodyListensSaysWhy() {
        let path = "\(temporaryDirectory())/none.sock"
        XCTAssertThrowsError(try UnixClient.connect(path: path, timeout: .seconds(1))) { error in
            XCTAssertEqual(error as? IOError, .connectFailed(address: path, .noSuchFile))
        }
    }
}
