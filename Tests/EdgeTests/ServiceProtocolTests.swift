import Foundation
import Logging
import XCTest
@testable import Edge
@testable import ztpd

/// The pieces of ztpd that talk to a service manager and a log collector, without a daemon:
/// the sd_notify datagram on path and abstract sockets, the watchdog's liveness rule, and the
/// JSON and journal log lines.
final class ServiceProtocolTests: XCTestCase {
    // MARK: sd_notify

    func testNotifierSendsItsStateToAPathSocket() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("ztp-notify-\(UUID().uuidString.prefix(8))").path
        let listener = try NotifyListener(path: path)
        defer { listener.close() }
        let notifier = try XCTUnwrap(SystemdNotifier.fromEnvironment(["NOTIFY_SOCKET": path]))
        notifier.ready(status: "ztp0 up")
        XCTAssertEqual(listener.next(timeout: 2), "READY=1\nSTATUS=ztp0 up")
        notifier.watchdog()
        XCTAssertEqual(listener.next(timeout: 2), "WATCHDOG=1")
    }

    func testNotifierReachesAnAbstractSocketNamedWithAnAt() throws {
        let name = "ztp-notify-test-\(UUID().uuidString.prefix(8))"
        let listener = try NotifyListener(abstract: name)
        defer { listener.close() }
        let notifier = try XCTUnwrap(SystemdNotifier(socket: "@" + name))
        notifier.reloading(status: "reloading")
        let message = try XCTUnwrap(listener.next(timeout: 2))
        XCTAssertTrue(message.hasPrefix("RELOADING=1\nMONOTONIC_USEC="), message)
        XCTAssertTrue(message.hasSuffix("\nSTATUS=reloading"), message)
        notifier.stopping()
        XCTAssertEqual(listener.next(timeout: 2), "STOPPING=1\nSTATUS=stopping")
    }

    func testNoNotifierWithoutASocketOrWithARelativeOne() {
        XCTAssertNil(SystemdNotifier.fromEnvironment([:]))
        XCTAssertNil(SystemdNotifier.fromEnvironment(["NOTIFY_SOCKET": ""]))
        XCTAssertNil(SystemdNotifier(socket: "relative/notify"))
        XCTAssertNil(SystemdNotifier(socket: "/" + String(repeating: "x", count: 200)), "longer than sun_path")
    }

    func testNotifyingASocketNobodyListensOnFailsQuietly() throws {
        let notifier = try XCTUnwrap(SystemdNotifier(socket: "/nonexistent/ztp/notify"))
        XCTAssertFalse(notifier.send("READY=1"))
    }

    // MARK: Watchdog

    func testWatchdogIsFedOnlyWhenEveryLoopWentRound() {
        XCTAssertTrue(NotifyWatchdog.alive(previous: [1, 1, 1], current: [2, 5, 9]))
        XCTAssertFalse(NotifyWatchdog.alive(previous: [1, 1, 1], current: [2, 1, 9]), "the UDP loop stood still")
        XCTAssertFalse(NotifyWatchdog.alive(previous: [3, 3, 3], current: [3, 3, 3]))
        XCTAssertFalse(NotifyWatchdog.alive(previous: [], current: [1, 1, 1]))
    }

    // MARK: Log lines

    func testJSONLogLineCarriesLevelMessageAndMetadataAndParses() throws {
        let line = LineLogHandler.jsonLine(
            level: .warning, label: "ztpd", message: "reload \"refused\"\nline two",
            metadata: ["interface": "ztp0", "peers": .stringConvertible(3), "list": .array(["a", "b"])],
            time: Date(timeIntervalSince1970: 1_800_000_000.25))
        XCTAssertFalse(line.contains("\n"), "one record, one line")
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        XCTAssertEqual(object["level"] as? String, "warning")
        XCTAssertEqual(object["label"] as? String, "ztpd")
        XCTAssertEqual(object["message"] as? String, "reload \"refused\"\nline two")
        XCTAssertEqual(object["time"] as? String, "2027-01-15T08:00:00.250Z")
        let metadata = try XCTUnwrap(object["metadata"] as? [String: Any])
        XCTAssertEqual(metadata["interface"] as? String, "ztp0")
        XCTAssertEqual(metadata["peers"] as? String, "3")
        XCTAssertEqual(metadata["list"] as? [String], ["a", "b"])
    }

    func testJournalLineStartsWithTheSyslogPriorityAndStaysOneLine() {
        XCTAssertEqual(LineLogHandler.journalLine(level: .error, message: "a\nb", metadata: ["k": "v"]), "<3>a\\nb k=v")
        XCTAssertEqual(LineLogHandler.journalLine(level: .info, message: "up", metadata: [:]), "<6>up")
        XCTAssertEqual(LineLogHandler.syslogPriority(.critical), 2)
        XCTAssertEqual(LineLogHandler.syslogPriority(.notice), 5)
        XCTAssertEqual(LineLogHandler.syslogPriority(.trace), 7)
    }

    func testAutoLogFormatIsTextUnlessStandardErrorIsTheJournalStream() {
        XCTAssertEqual(LogFormat.auto.resolved(environment: [:]), .text)
        XCTAssertEqual(LogFormat.auto.resolved(environment: ["JOURNAL_STREAM": "1:1"]), .text, "another stream")
        var info = stat()
        XCTAssertEqual(fstat(STDERR_FILENO, &info), 0)
        XCTAssertEqual(LogFormat.auto.resolved(environment: ["JOURNAL_STREAM": "\(info.st_dev):\(info.st_ino)"]), .journal)
        XCTAssertEqual(LogFormat.json.resolved(environment: [:]), .json)
    }

    // MARK: Version

    func testVersionIsOneStringForBothCommandsAndTheMetric() throws {
        XCTAssertEqual(ZTPD.configuration.version, BuildInfo.versionLine)
        XCTAssertTrue(BuildInfo.versionLine.hasPrefix(BuildInfo.version + " (commit "), BuildInfo.versionLine)
        let text = String(decoding: EdgeMetrics().render(), as: UTF8.self)
        XCTAssertTrue(
            text.contains("ztp_build_info{version=\"\(BuildInfo.version)\",commit=\"\(BuildInfo.commit)\"} 1")
                || text.contains("ztp_build_info{commit=\"\(BuildInfo.commit)\",version=\"\(BuildInfo.version)\"} 1"),
            text)
    }
}

/// A datagram socket the test binds where ztpd's notifier sends: a path, or an abstract name.
final class NotifyListener {
    private let fd: Int32
    private let path: String?

    convenience init(path: String) throws {
        try self.init(name: Array(path.utf8) + [0], path: path)
    }

    convenience init(abstract name: String) throws {
        try self.init(name: [0] + Array(name.utf8), path: nil)
    }

    private init(name: [UInt8], path: String?) throws {
        self.path = path
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: name) }
        // An abstract name's length is exact (no terminator); a path's includes its NUL.
        let length = socklen_t(MemoryLayout<sa_family_t>.size + name.count)
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard rc == 0 else {
            let e = errno
            Glibc.close(fd)
            throw POSIXError(.init(rawValue: e) ?? .EIO)
        }
        if let path { chmod(path, 0o666) }
    }

    /// The next datagram, or nil if none arrives within `timeout` seconds.
    func next(timeout: Double) -> String? {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&p, 1, Int32(timeout * 1000)) == 1 else { return nil }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = recv(fd, &buffer, buffer.count, 0)
        return n >= 0 ? String(decoding: buffer[0..<n], as: UTF8.self) : nil
    }

    /// Every datagram that arrives within `seconds`.
    func collect(for seconds: Double) -> [String] {
        var messages: [String] = []
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline, let m = next(timeout: max(0.01, deadline.timeIntervalSinceNow)) { messages.append(m) }
        return messages
    }

    func close() {
        Glibc.close(fd)
        if let path { unlink(path) }
    }
}
