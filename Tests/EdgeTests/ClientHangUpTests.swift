import Foundation
import NetTestSupport
import XCTest

/// Every writer of the daemon survives a reader that goes away: clients of the UAPI socket, the
/// control socket and the metrics endpoint that hang up mid-request or mid-reply, stall, send
/// oversized or binary requests or connect by the hundred; a decision log that is a pipe nobody
/// reads any more; standard error closed under the daemon. After each, `wg show` answers and
/// an established session still carries traffic.
///
/// The regression: a UAPI client that sent `get=1` and closed before reading the answer made
/// ztpd die of SIGPIPE (status 141), silently, with every session.
final class ClientHangUpTests: XCTestCase {
    nonisolated(unsafe) private static var shared: EndToEndStack?
    nonisolated(unsafe) private static var setupFailure: (any Error)?

    override class func setUp() {
        super.setUp()
        do {
            shared = try EndToEndStack(options: .init(decisionLogFIFO: true, edgeOutputPipe: true))
        } catch {
            setupFailure = error
        }
    }

    override class func tearDown() {
        shared?.tearDown()
        shared = nil
        super.tearDown()
    }

    private var stack: EndToEndStack!

    override func setUpWithError() throws {
        if let failure = Self.setupFailure { throw failure }
        stack = Self.shared
    }

    private var uapiSocket: String { "/var/run/wireguard/\(stack.edgeInterface).sock" }

    // MARK: UAPI

    func testUAPIClientsThatHangUpDoNotStopTheDaemon() throws {
        try abuse(target: ["unix", uapiSocket], request: "get=1\n\n", modes: Self.allModes)
    }

    func testUAPISetRequestsCutShortChangeNothingAndDoNotStopTheDaemon() throws {
        let before = try stack.lab.exec("edge", ["wg", "showconf", stack.edgeInterface])
        XCTAssertTrue(before.succeeded, "\(before)")
        try abuse(target: ["unix", uapiSocket], request: "set=1\nlisten_port=51820\n\n",
                  modes: ["hangup-after-request", "hangup-mid-request", "hundred"])
        let after = try stack.lab.exec("edge", ["wg", "showconf", stack.edgeInterface])
        XCTAssertEqual(Self.withoutCounters(after.output), Self.withoutCounters(before.output))
    }

    // MARK: Control socket

    func testControlClientsThatHangUpDoNotStopTheDaemon() throws {
        try abuse(target: ["unix", stack.controlSocket], request: "status\n", modes: Self.allModes)
        XCTAssertNoThrow(try stack.status(), "ztpc status no longer answers")
    }

    // MARK: Metrics

    func testMetricsClientsThatHangUpDoNotStopTheDaemon() throws {
        try abuse(target: ["tcp", "127.0.0.1", "9586"], request: "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
                  modes: Self.allModes)
        XCTAssertTrue(try stack.metrics().contains("ztp_sessions"), "the metrics endpoint no longer answers")
    }

    // MARK: Decision log and standard error

    func testADecisionLogPipeWithoutReaderDoesNotStopTheDaemon() throws {
        // Decisions reach the FIFO while the test reads it.
        XCTAssertTrue(try stack.tcp("alice", port: 5432), "alice -> db:5432 failed\(stack.diagnostics())")
        var buffer = [UInt8](repeating: 0, count: 65536)
        let n = read(stack.decisionLogReader, &buffer, buffer.count)
        XCTAssertGreaterThan(n, 0, "no decision record arrived in the FIFO")
        XCTAssertTrue(String(decoding: buffer[0..<max(0, n)], as: UTF8.self).contains("\"verdict\""))

        stack.closeDecisionLogReader()
        // Every decision is logged (allow sample 1, and every deny): each write now meets EPIPE.
        for port in [5432, 22, 5432, 22] { _ = try stack.tcp("alice", port: port, timeout: 1) }
        try assertEdgeServes("after the decision-log reader went away")
    }

    func testStandardErrorWithoutReaderDoesNotStopTheDaemon() throws {
        stack.hangUpEdgeOutput()
        let pid = try XCTUnwrap(stack.edgeProcess?.processIdentifier)
        XCTAssertEqual(try Self.readEnds(ofPipeOnStandardErrorOf: pid), 0,
                       "the edge holds a read end of its own output pipe: the test would prove nothing")
        // A reload logs at info and a UAPI change at debug: both write to the closed pipe.
        try stack.writePolicy(stack.policy(extraRules: ["- allow group:eng -> db:8080/tcp"]))
        try stack.restoreBasePolicy()
        _ = try stack.lab.exec("edge", ["wg", "show", stack.edgeInterface])
        try assertEdgeServes("after its standard error lost its reader")
    }

    // MARK: Helpers

    static let allModes = [
        "hangup-after-request", "hangup-mid-request", "hangup-mid-reply", "stall", "oversized", "binary", "hundred",
    ]

    /// Runs each abusive client mode against `target`, then checks the edge.
    private func abuse(target: [String], request: String, modes: [String]) throws {
        let script = try stack.lab.write("abuse.py", Self.abuseScript)
        for mode in modes {
            let r = try stack.lab.exec("edge", ["python3", script, mode, request] + target, timeout: 60)
            XCTAssertTrue(r.succeeded, "the \(mode) client itself failed: \(r)")
            try assertEdgeServes("after \(mode) clients of \(target.joined(separator: " "))")
        }
    }

    /// The edge is running, `wg show` answers, and alice's established session carries a ping.
    private func assertEdgeServes(_ when: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let edge = try XCTUnwrap(stack.edgeProcess)
        XCTAssertTrue(edge.isRunning, "ztpd exited \(when) (status \(edge.isRunning ? 0 : edge.terminationStatus))\(stack.diagnostics())",
                      file: file, line: line)
        guard edge.isRunning else { throw NetLabError("the edge is gone") }
        let show = try stack.lab.exec("edge", ["wg", "show", stack.edgeInterface, "public-key"], timeout: 15)
        XCTAssertEqual(show.output.trimmingCharacters(in: .whitespacesAndNewlines), stack.edgeKeys.publicKey,
                       "wg show does not answer \(when): \(show)", file: file, line: line)
        let ping = try stack.lab.exec("alice", ["ping", "-c", "3", "-i", "0.2", "-W", "1", EndToEndStack.db], timeout: 15)
        XCTAssertTrue(ping.succeeded, "alice's session carries no ping \(when): \(ping)\(stack.diagnostics())",
                      file: file, line: line)
    }

    /// `wg showconf` without the lines that change by themselves.
    private static func withoutCounters(_ text: String) -> String {
        text.split(separator: "\n").filter { !$0.hasPrefix("Endpoint") }.joined(separator: "\n")
    }

    /// How many descriptors of process `pid` are read ends of the pipe on its standard error.
    private static func readEnds(ofPipeOnStandardErrorOf pid: pid_t) throws -> Int {
        let target = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/2")
        guard target.hasPrefix("pipe:") else { throw NetLabError("the edge's standard error is \(target), not a pipe") }
        var count = 0
        for entry in try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd") {
            guard (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\(entry)")) == target,
                  let info = try? String(contentsOfFile: "/proc/\(pid)/fdinfo/\(entry)", encoding: .utf8),
                  let flags = info.split(separator: "\n").first(where: { $0.hasPrefix("flags:") })?
                      .split(separator: "\t").last.flatMap({ Int($0.trimmingCharacters(in: .whitespaces), radix: 8) })
            else { continue }
            if flags & Int(O_ACCMODE) != Int(O_WRONLY) { count += 1 }
        }
        return count
    }

    /// `abuse.py MODE REQUEST unix PATH` or `abuse.py MODE REQUEST tcp HOST PORT`: clients that
    /// misbehave in one way each, bounded in count and time; exits 0 once they are done.
    static let abuseScript = #"""
        import os, socket, sys, time
        mode, request = sys.argv[1], sys.argv[2].encode()
        target = sys.argv[3:]
        def fresh():
            if target[0] == "unix":
                return socket.socket(socket.AF_UNIX, socket.SOCK_STREAM), target[1]
            return socket.socket(socket.AF_INET, socket.SOCK_STREAM), (target[1], int(target[2]))
        def connect():
            # A full backlog answers EAGAIN on a Unix socket: retry for a bounded time.
            deadline = time.time() + 10
            while True:
                s, addr = fresh()
                s.settimeout(5)
                try:
                    s.connect(addr); return s
                except (BlockingIOError, ConnectionRefusedError, socket.timeout):
                    s.close()
                    if time.time() > deadline: raise
                    time.sleep(0.01)
        def quietly(f):
            try: f()
            except OSError: pass
        if mode == "hangup-after-request":
            for _ in range(30):
                s = connect(); quietly(lambda: s.sendall(request)); s.close()
        elif mode == "hangup-mid-request":
            for _ in range(30):
                s = connect(); quietly(lambda: s.sendall(request[: max(1, len(request) // 2)])); s.close()
        elif mode == "hangup-mid-reply":
            for _ in range(30):
                s = connect()
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
                quietly(lambda: s.sendall(request)); quietly(lambda: s.recv(1)); s.close()
        elif mode == "stall":
            socks = [connect() for _ in range(3)]
            for s in socks: quietly(lambda: s.sendall(request[:3]))
            time.sleep(1.0)
            for s in socks: s.close()
        elif mode == "oversized":
            s = connect()
            chunk = b"A" * 65536
            deadline = time.time() + 5
            sent = 0
            try:
                while sent < 4 << 20 and time.time() < deadline:
                    sent += s.send(chunk)
            except OSError:
                pass
            s.close()
        elif mode == "binary":
            for i in range(5):
                s = connect()
                quietly(lambda: s.sendall(os.urandom(4096) + b"\0\n\n\r\n\r\n"))
                if i % 2 == 0: quietly(lambda: s.recv(64))
                s.close()
        elif mode == "hundred":
            # 100 connects started at once; those that complete within 3 s send the request,
            # then all close without reading.
            import select
            socks = []
            for _ in range(100):
                s, addr = fresh(); s.setblocking(False)
                s.connect_ex(addr); socks.append(s)
            pending, connected = set(socks), []
            deadline = time.time() + 3
            while pending and time.time() < deadline:
                _, w, _ = select.select([], list(pending), [], max(0, deadline - time.time()))
                for s in w:
                    pending.discard(s)
                    if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0: connected.append(s)
            for s in connected: quietly(lambda: s.send(request))
            for s in socks: s.close()
            if not connected: sys.exit("no connection accepted")
        else:
            sys.exit("unknown mode " + mode)
        print(mode, "done")
        """#
}
