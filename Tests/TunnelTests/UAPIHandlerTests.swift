import Foundation
import XCTest
@testable import Tunnel

/// Whole requests through ``UAPIHandler`` and ``UAPILineReader`` over a stream socket
/// pair, against an offline ``TunnelRuntime``: framing, one transaction per `set=1`,
/// large requests, and what a refusal answers and logs.
final class UAPIHandlerTests: XCTestCase {
    final class LogLines: @unchecked Sendable {
        private let lock = NSLock()
        private var lines: [String] = []
        func append(_ line: String) { lock.lock(); lines.append(line); lock.unlock() }
        var all: [String] { lock.lock(); defer { lock.unlock() }; return lines }
    }

    let a = PrivateKey().publicKey, b = PrivateKey().publicKey
    let log = LogLines()

    /// Writes `request` into one end of a socket pair from another thread (then closes
    /// it), serves the other end, and returns everything the handler answered.
    private func exchange(_ request: String, with side: UAPITestRuntime) throws -> String {
        var fds: [Int32] = [0, 0]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0 else { throw SystemError("socketpair", code: errno) }
        let writer = fds[0], reader = fds[1]
        let bytes = Array(request.utf8)
        let written = DispatchSemaphore(value: 0)
        Thread {
            var offset = 0
            while offset < bytes.count {
                let n = bytes[offset...].withUnsafeBytes { send(writer, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if n <= 0 { break }
                offset += n
            }
            close(writer)
            written.signal()
        }.start()
        var lines = UAPILineReader { buffer in read(reader, buffer.baseAddress, buffer.count) }
        var reply = ""
        let log = log
        UAPIHandler(target: side.runtime) { _, message in log.append(message) }
            .serve(readLine: { () throws(UAPIError) in try lines.next() }, write: { reply += $0 })
        written.wait()
        close(reader)
        return reply
    }

    private func peerLines(_ key: PublicKey, _ allowed: String...) -> String { peerLines(key, allowed) }

    private func peerLines(_ key: PublicKey, _ allowed: [String]) -> String {
        "public_key=\(uapiHex(key))\n" + allowed.map { "allowed_ip=\($0)\n" }.joined()
    }

    func testSetThenGetOnOneConnection() throws {
        let side = try UAPITestRuntime()
        let reply = try exchange("set=1\n" + peerLines(a, "10.0.0.1/32") + "\nget=1\n\n", with: side)
        XCTAssertTrue(reply.hasPrefix("errno=0\n\nprivate_key=\(uapiHex(side.key))\nlisten_port=\(side.runtime.socket.port)\n"), reply)
        XCTAssertTrue(reply.contains("public_key=\(uapiHex(a))\n"), reply)
        XCTAssertTrue(reply.contains("allowed_ip=10.0.0.1/32\n"), reply)
        XCTAssertTrue(reply.hasSuffix("allowed_ip=10.0.0.1/32\nerrno=0\n\n"), reply)
    }

    func testAValidPeerFollowedByAnInvalidLineAppliesNothingAndLogsOneLine() throws {
        let side = try UAPITestRuntime(peers: [.init(publicKey: a, allowedIPs: [IPPrefix("10.0.0.1/32")!])])
        let psk = uapiHex(SymmetricKey())
        let request = "set=1\nreplace_peers=true\n" + peerLines(b, "10.0.0.2/32") + "preshared_key=\(psk)\nallowed_ip=10.0.0.300/32\n\n"
        XCTAssertEqual(try exchange(request, with: side), "errno=-22\n\n")
        XCTAssertEqual(Set(side.peers.keys), [a])
        XCTAssertEqual(side.peers[a]?.allowedIPs, [IPPrefix("10.0.0.1/32")!])
        XCTAssertEqual(log.all, ["UAPI set=1 refused, nothing applied: line 5: invalid value for \"allowed_ip\" (errno 22)"])
    }

    func testARefusedRequestIsReadToItsEndAndTheNextRequestIsServed() throws {
        let side = try UAPITestRuntime()
        // The bad line comes first: the 2,000 lines after it must still be read, not taken
        // for the next request (and the writer must not be cut off).
        let request = "set=1\nlisten_port=x\n" + peerLines(a, (0..<2000).map { "10.1.\($0 >> 8).\($0 & 255)/32" }) + "\nget=1\n\n"
        let reply = try exchange(request, with: side)
        XCTAssertTrue(reply.hasPrefix("errno=-22\n\nprivate_key="), reply)
        XCTAssertFalse(side.runtime.hasPeer(a))
    }

    func testARequestCutOffBeforeItsBlankLineAppliesNothing() throws {
        let side = try UAPITestRuntime()
        _ = try exchange("set=1\n" + peerLines(a, "10.0.0.1/32"), with: side)
        XCTAssertFalse(side.runtime.hasPeer(a))
        XCTAssertEqual(log.all, ["UAPI set=1 refused, nothing applied: request ended before its blank line (errno 5)"])
    }

    /// Issue 15's request: peer B, then peer A with 45,000 allowed IPs, over 1.35 MB (the
    /// old server cut requests at 1 MiB and applied B alone).
    func testALargeRequestWith45000AllowedIPsIsAcceptedWhole() throws {
        let side = try UAPITestRuntime()
        let many = (0..<45_000).map { "fd00:1234:5678::\(String($0, radix: 16))/128" }
        let request = "set=1\n" + peerLines(b, "10.0.0.2/32") + peerLines(a, many) + "\n"
        XCTAssertGreaterThan(request.utf8.count, 1_350_000)
        XCTAssertEqual(try exchange(request, with: side), "errno=0\n\n")
        let peers = side.peers
        XCTAssertEqual(peers[b]?.allowedIPs, [IPPrefix("10.0.0.2/32")!])
        XCTAssertEqual(peers[a]?.allowedIPs.count, 45_000)
        XCTAssertEqual(Set(peers[a]?.allowedIPs ?? []), Set(many.map { IPPrefix($0)! }))
    }

    func testAnOverlongLineIsRefusedAndReadingGoesOnAfterIt() throws {
        let side = try UAPITestRuntime()
        let request = "set=1\n" + peerLines(a) + "endpoint=" + String(repeating: "9", count: 100_000) + "\n\nget=1\n\n"
        let reply = try exchange(request, with: side)
        XCTAssertTrue(reply.hasPrefix("errno=-\(EMSGSIZE)\n\nprivate_key="), String(reply.prefix(80)))
        XCTAssertFalse(side.runtime.hasPeer(a))
        XCTAssertEqual(log.all.first, "UAPI set=1 refused, nothing applied: line 2: line longer than 4096 bytes (errno \(EMSGSIZE))")
    }

    func testGetWithALineAfterTheOperationIsRefused() throws {
        let side = try UAPITestRuntime()
        XCTAssertEqual(try exchange("get=1\nlisten_port=1\n\n", with: side), "errno=-22\n\n")
    }

    func testOurStatisticsRequestIsAnswered() throws {
        let side = try UAPITestRuntime()
        let reply = try exchange("ztp-stats=1\n\n", with: side)
        XCTAssertEqual(reply, side.runtime.statistics().lines.map { $0 + "\n" }.joined() + "errno=0\n\n")
    }

    func testAnUnknownOperationIsRefusedAndEndsTheConnection() throws {
        let side = try UAPITestRuntime()
        XCTAssertEqual(try exchange("private_key=\(uapiHex(side.key))\n\nget=1\n\n", with: side), "errno=-22\n\n")
        XCTAssertEqual(log.all, ["UAPI request refused: unknown operation"])
    }
}
