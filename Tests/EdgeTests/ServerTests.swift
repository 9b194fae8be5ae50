import Foundation
import XCTest
@testable import Edge

final class ServerTests: XCTestCase {
    func testTheMetricsServerAnswersAScrapeOnLoopback() throws {
        let port = UInt16.random(in: 20000...40000)
        let server = try MetricsHTTPServer(address: HostPort("127.0.0.1:\(port)")!) { Array("ztp_up 1\n".utf8) }
        server.start()
        defer { server.stop() }
        let (data, response) = try fetch("http://127.0.0.1:\(port)/metrics")
        XCTAssertEqual(response, 200)
        XCTAssertEqual(String(decoding: data, as: UTF8.self), "ztp_up 1\n")
        XCTAssertEqual(try fetch("http://127.0.0.1:\(port)/other").1, 404)
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
        for i in 0..<5 { FileManager.default.createFile(atPath: "\(dir)/p\(i).yaml", contents: Data("x".utf8)) }
        wait(for: [changed], timeout: 5)
        Thread.sleep(forTimeInterval: 0.5)
        XCTAssertEqual(count.value, 1)
    }

    private func fetch(_ url: String) throws -> (Data, Int) {
        // A plain socket client: the test must not depend on URLSession's proxy settings.
        let u = URL(string: url)!
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var sa = sockaddr_in()
        sa.sin_family = sa_family_t(AF_INET)
        sa.sin_port = UInt16(u.port!).bigEndian
        inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr)
        let rc = withUnsafePointer(to: &sa) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard rc == 0 else { throw NSError(domain: "connect", code: Int(errno)) }
        let request = Array("GET \(u.path) HTTP/1.1\r\nHost: x\r\n\r\n".utf8)
        _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
        var all = Data()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            all.append(contentsOf: buffer[0..<n])
        }
        let text = String(decoding: all, as: UTF8.self)
        let status = Int(text.split(separator: " ")[1]) ?? 0
        let body = text.components(separatedBy: "\r\n\r\n").dropFirst().joined(separator: "\r\n\r\n")
        return (Data(body.utf8), status)
    }
}
