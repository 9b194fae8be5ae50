import Foundation
import XCTest
@testable import SystemSupport

final class StreamServerTests: XCTestCase {
    /// A server that answers each line with "echo: LINE\n".
    func echoServer(maxConnections: Int = 8, timeout: Duration = .seconds(2)) throws -> StreamServer {
        let listener = try UnixListener(path: "\(temporaryDirectory())/echo.sock")
        let server = StreamServer(listener: listener, name: "echo", maxConnections: maxConnections, requestTimeout: timeout) {
            connection in
            guard let line = try? connection.readLine(maxLength: 100) else { return }
            try? connection.write("echo: \(line)\n")
        }
        server.start()
        addTeardownBlock { server.stop() }
        return server
    }

    func exchange(_ server: StreamServer, _ line: String) throws -> String {
        let client = try UnixClient.connect(path: server.address, timeout: .seconds(2))
        defer { client.close() }
        try client.write(line + "\n")
        return String(decoding: try client.readToEnd(maxLength: 1000), as: UTF8.self)
    }

    func testAStalledClientDoesNotDelayAnother() throws {
        let server = try echoServer()
        let stalled = try UnixClient.connect(path: server.address, timeout: .seconds(5))
        defer { stalled.close() }
        try stalled.write("no newline yet")
        let start = ContinuousClock.now
        XCTAssertEqual(try exchange(server, "ping"), "echo: ping\n")
        XCTAssertLessThan(ContinuousClock.now - start, .milliseconds(500))
    }

    func testASilentClientIsCutOffAtTheRequestDeadline() throws {
        let server = try echoServer(timeout: .milliseconds(300))
        let silent = try UnixClient.connect(path: server.address, timeout: .seconds(5))
        defer { silent.close() }
        let start = ContinuousClock.now
        XCTAssertEqual(try silent.readToEnd(maxLength: 100), [], "closed without an answer")
        XCTAssertLessThan(ContinuousClock.now - start, .milliseconds(800))
    }

    func testConnectionsPastTheCapAreClosedAtOnce() throws {
        let server = try echoServer(maxConnections: 2)
        let held = try (0..<2).map { _ in try UnixClient.connect(path: server.address, timeout: .seconds(5)) }
        defer { held.forEach { $0.close() } }
        // Give the accept loop the two before the third comes.
        usleep(100_000)
        let extra = try UnixClient.connect(path: server.address, timeout: .seconds(5))
        defer { extra.close() }
        let start = ContinuousClock.now
        try? extra.write("hello\n")
        // Closed unread: the end of the stream, or a reset for the bytes it never read.
        do throws(IOError) {
            let answer = try extra.readToEnd(maxLength: 100)
            XCTAssertEqual(answer, [])
        } catch {
            XCTAssertEqual(error, .closed)
        }
        XCTAssertLessThan(ContinuousClock.now - start, .milliseconds(500))
        XCTAssertEqual(server.refusedConnections, 1)
        // Once a held client goes, there is room again.
        held[0].close()
        usleep(100_000)
        XCTAssertEqual(try exchange(server, "again"), "echo: again\n")
    }

    func testStoppingEndsConnectionsInProgressAndRemovesTheSocket() throws {
        let server = try echoServer(timeout: .seconds(30))
        let waiting = try UnixClient.connect(path: server.address, timeout: .seconds(5))
        defer { waiting.close() }
        usleep(50_000)
        let start = ContinuousClock.now
        server.stop()
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(1))
        XCTAssertFalse(FileManager.default.fileExists(atPath: server.address))
    }

    func testTCPClientsAreServedOnAnEphemeralPort() throws {
        let listener = try TCPListener(host: "127.0.0.1", port: 0)
        XCTAssertNotEqual(listener.port, 0)
        let server = StreamServer(listener: listener, name: "tcp", maxConnections: 4, requestTimeout: .seconds(2)) { c in
            try? c.write("hi\n")
        }
        server.start()
        defer { server.stop() }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        let address = try InternetAddress(host: "127.0.0.1", port: listener.port)
        XCTAssertEqual(address.withSockaddr { connect(fd, $0, $1) }, 0)
        let client = Connection(descriptor: fd, deadline: .after(.seconds(2)))
        XCTAssertEqual(try client.readLine(maxLength: 10), "hi")
        XCTAssertThrowsError(try TCPListener(host: "localhost", port: 0)) { error in
            XCTAssertEqual(error as? IOError, .invalidAddress("localhost"))
        }
    }
}
