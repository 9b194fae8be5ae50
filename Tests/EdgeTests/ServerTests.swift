import Foundation
import Logging
import NetTestSupport
import SystemSupport
import XCTest
@testable import Edge
@testable import Tunnel
@testable import ztpd

final class ServerTests: XCTestCase {
    func testTheMetricsServerAnswersAScrapeOnLoopback() throws {
        let server = try metricsServer()
        let (data, response) = try fetch(server.port, "/metrics")
        XCTAssertEqual(response, 200)
        XCTAssertEqual(String(decoding: data, as: UTF8.self), "ztp_up 1\n")
        XCTAssertEqual(try fetch(server.port, "/").1, 200)
        XCTAssertEqual(try fetch(server.port, "/metrics?name=x").1, 200)
        XCTAssertEqual(try fetch(server.port, "/other").1, 404)
        XCTAssertEqual(try fetch(server.port, "/metricsx").1, 404)
        XCTAssertEqual(try exchange(server.port, ["POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n"]).status, 405)
    }

    func testTwoHundredIdleConnectionsDoNotHoldUpAScrape() throws {
        let server = try metricsServer()
        let idle = try (0..<200).map { _ in try tcpConnect(server.port) }
        defer { idle.forEach { close($0) } }
        let start = ContinuousClock.now
        let (data, status) = try fetch(server.port, "/metrics")
        XCTAssertEqual(status, 200)
        XCTAssertEqual(String(decoding: data, as: UTF8.self), "ztp_up 1\n")
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(1), "a scrape behind 200 idle connections")
    }

    func testARequestSplitAcrossSegmentsIsAnswered() throws {
        let server = try metricsServer()
        let reply = try exchange(server.port, ["GET /met", "rics HTTP/1.1\r\nHo", "st: x\r\n\r\n"], pause: 0.2)
        XCTAssertEqual(reply.status, 200)
        XCTAssertTrue(reply.text.hasSuffix("\r\n\r\nztp_up 1\n"), reply.text)
    }

    func testAnOversizedHeaderIsRefusedAndTheServerGoesOn() throws {
        let server = try metricsServer()
        let huge = "GET /metrics HTTP/1.1\r\nX-Filler: " + String(repeating: "a", count: 100_000) + "\r\n\r\n"
        let reply = try exchange(server.port, [huge])
        XCTAssertTrue(reply.status == 431 || reply.text.isEmpty, reply.text.prefix(200).description)
        let many = "GET /metrics HTTP/1.1\r\n" + String(repeating: "X-A: b\r\n", count: 10_000) + "\r\n"
        XCTAssertTrue([431, 0].contains(try exchange(server.port, [many]).status))
        XCTAssertEqual(try exchange(server.port, ["garbage\r\n\r\n"]).status, 400)
        XCTAssertEqual(try fetch(server.port, "/metrics").1, 200, "still serving")
    }

    func testASilentMetricsClientIsClosedAtTheRequestDeadline() throws {
        let server = try metricsServer(timeout: .milliseconds(300))
        let fd = try tcpConnect(server.port)
        defer { close(fd) }
        let start = ContinuousClock.now
        var byte: UInt8 = 0
        XCTAssertLessThanOrEqual(recv(fd, &byte, 1, 0), 0, "closed with no answer")
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(1))
    }

    func testTheControlSocketIsRootOnlyAndAnswersCommands() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ctl-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = "\(dir)/ztp.sock"
        let server = try ControlServer(path: path) { $0 == "status" ? "{\"ok\":true}\n" : "unknown command\n" }
        server.start()
        defer { server.stop() }
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        XCTAssertEqual((attributes[.posixPermissions] as? NSNumber)?.intValue, 0o600)
        let dirAttributes = try FileManager.default.attributesOfItem(atPath: dir)
        XCTAssertEqual((dirAttributes[.posixPermissions] as? NSNumber)?.intValue, 0o700)
        XCTAssertEqual(try ControlClient.send("status", to: path), "{\"ok\":true}\n")
    }

    func testASlowControlClientDoesNotHoldUpStatus() throws {
        let path = "\(shortTemporaryDirectory())/ctl.sock"
        let server = try ControlServer(path: path, requestTimeout: .milliseconds(300)) { _ in "{}\n" }
        server.start()
        defer { server.stop() }
        let slow = try UnixClient.connect(path: path, timeout: .seconds(5))
        defer { slow.close() }
        let trickling = trickle(into: slow, "statu")
        defer { trickling.value = false }
        let start = ContinuousClock.now
        XCTAssertEqual(try ControlClient.send("status", to: path, timeout: .seconds(2)), "{}\n")
        XCTAssertLessThan(ContinuousClock.now - start, .milliseconds(500))
    }

    func testUnknownCommandsAreQuotedShortAndEscaped() {
        XCTAssertEqual(ControlServer.quoted("stats"), "'stats'")
        XCTAssertEqual(ControlServer.quoted("a'b\\c\u{1b}[2J\n"), "'a\\'b\\\\c\\x1b[2J\\x0a'")
        let garbage = String(repeating: "x", count: 4000)
        let quoted = ControlServer.quoted(garbage)
        XCTAssertEqual(quoted, "'" + String(repeating: "x", count: 64) + "'... (4000 bytes)")
        XCTAssertEqual(ControlServer.quoted("é"), "'\\xc3\\xa9'")
    }

    func testZtpcStatusGivesUpOnASocketThatNeverAnswers() throws {
        let ztpc = try NetEnvironment.builtProduct("ztpc")
        let path = "\(shortTemporaryDirectory())/hung.sock"
        // Listening but never accepting: what a stopped (SIGSTOP) or hung ztpd looks like.
        let listener = try UnixListener(path: path)
        defer { listener.close() }
        let start = ContinuousClock.now
        let r = try Command.run(ztpc, ["status", "--socket", path, "--timeout", "1"], timeout: 20)
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(4))
        XCTAssertEqual(r.status, 2, r.output)
        XCTAssertTrue(r.output.contains("no answer from \(path) within 1 s"), r.output)
    }

    func testZtpcStatusSaysWhenNobodyListens() throws {
        let ztpc = try NetEnvironment.builtProduct("ztpc")
        let path = "\(shortTemporaryDirectory())/gone.sock"
        let r = try Command.run(ztpc, ["status", "--socket", path], timeout: 20)
        XCTAssertEqual(r.status, 2, r.output)
        XCTAssertTrue(r.output.contains("cannot connect to \(path)"), r.output)
        XCTAssertEqual(try Command.run(ztpc, ["status", "--timeout", "0"], timeout: 20).status, 2)
    }

    func testASlowUAPIClientDoesNotHoldUpWgShow() throws {
        let path = "\(shortTemporaryDirectory())/wg0.sock"
        var fds: [Int32] = [0, 0]
        XCTAssertEqual(socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue), 0, &fds), 0)
        defer { close(fds[1]) }
        let key = PrivateKey()
        let udp = try UDPSocket(port: 0)
        let runtime = try TunnelRuntime(
            configuration: TunnelConfiguration(privateKey: key), tun: TunDevice(packetDescriptor: fds[0], name: "fake"),
            socket: udp)
        let uapi = try UAPIServer(
            path: path, runtime: runtime, logger: Logger(label: "test"),
            requestTimeout: .milliseconds(300))
        defer { uapi.stop() }
        XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber, 0o600)

        // A byte every 100 ms: under the old per-read timeout it held the server indefinitely.
        let slow = try UnixClient.connect(path: path, timeout: .seconds(5))
        defer { slow.close() }
        let trickling = trickle(into: slow, "get=1\n")
        defer { trickling.value = false }
        usleep(50_000)
        let start = ContinuousClock.now
        let show = try UnixClient.connect(path: path, timeout: .seconds(2))
        defer { show.close() }
        try show.write("get=1\n\n")
        let answer = String(decoding: try show.readToEnd(maxLength: 1 << 20), as: UTF8.self)
        XCTAssertLessThan(ContinuousClock.now - start, .milliseconds(500))
        XCTAssertTrue(answer.contains("listen_port=\(udp.port)\n"), answer)
        XCTAssertTrue(answer.hasSuffix("errno=0\n\n"), answer)

        // The slow client itself is cut off at its deadline with no answer.
        let cut = try slow.readToEnd(maxLength: 100)
        XCTAssertEqual(cut, [])
    }

    func testTheDirectoryWatcherReportsABurstOfChangesOnce() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("watch-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let changed = expectation(description: "change")
        let count = LockedBox(0)
        let watcher = try DirectoryWatcher(path: dir, debounce: 0.2) {
            count.value += 1
            changed.fulfill()
        }
        watcher.start()
        defer { watcher.stop() }
        for i in 0..<5 { _ = FileManager.default.createFile(atPath: "\(dir)/p\(i).yaml", contents: Data("x".utf8)) }
        wait(for: [changed], timeout: 5)
        Thread.sleep(forTimeInterval: 0.5)
        XCTAssertEqual(count.value, 1)
    }

    // MARK: helpers

    private func metricsServer(timeout: Duration = .seconds(5)) throws -> MetricsHTTPServer {
        // Port 0, the kernel's choice (HostPort's parser, for configuration files, refuses it).
        var address = HostPort("127.0.0.1:1")!
        address.port = 0
        let server = try MetricsHTTPServer(address: address, requestTimeout: timeout) {
            Array("ztp_up 1\n".utf8)
        }
        server.start()
        addTeardownBlock { server.stop() }
        return server
    }

    private func shortTemporaryDirectory() -> String {
        let dir = "/tmp/st-\(UUID().uuidString.prefix(8))"
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    /// Writes `text` a byte every 100 ms on a thread of its own, until the box is set to false.
    private func trickle(into connection: Connection, _ text: String) -> LockedBox<Bool> {
        let running = LockedBox(true)
        let thread = Thread {
            for byte in text.utf8 where running.value {
                try? connection.write([byte])
                usleep(100_000)
            }
        }
        thread.start()
        return running
    }

    private func tcpConnect(_ port: UInt16) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var sa = sockaddr_in()
        sa.sin_family = sa_family_t(AF_INET)
        sa.sin_port = port.bigEndian
        inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr)
        let rc = withUnsafePointer(to: &sa) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard rc == 0 else {
            close(fd)
            throw NSError(domain: "connect", code: Int(errno))
        }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        return fd
    }

    /// Sends `pieces` (pausing between them) and reads the reply to the end: its status (0 for
    /// none) and text.
    private func exchange(_ port: UInt16, _ pieces: [String], pause: Double = 0) throws -> (status: Int, text: String) {
        // A plain socket client: the test must not depend on URLSession's proxy settings.
        let fd = try tcpConnect(port)
        defer { close(fd) }
        for (i, piece) in pieces.enumerated() {
            if i > 0 { Thread.sleep(forTimeInterval: pause) }
            _ = Array(piece.utf8).withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        }
        var all = Data()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            all.append(contentsOf: buffer[0..<n])
        }
        let text = String(decoding: all, as: UTF8.self)
        let words = text.split(separator: " ")
        return (words.count > 1 ? Int(words[1]) ?? 0 : 0, text)
    }

    private func fetch(_ port: UInt16, _ path: String) throws -> (Data, Int) {
        let reply = try exchange(port, ["GET \(path) HTTP/1.1\r\nHost: x\r\n\r\n"])
        let body = reply.text.components(separatedBy: "\r\n\r\n").dropFirst().joined(separator: "\r\n\r\n")
        return (Data(body.utf8), reply.status)
    }
}
