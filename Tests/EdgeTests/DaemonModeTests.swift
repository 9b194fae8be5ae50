import Foundation
import NetTestSupport
import XCTest

/// `ztpd --daemon` (and the background default): returns once the interface is up, leaves a pid
/// file and a log, keeps running in its own session, and stops cleanly on SIGTERM; with
/// WG_PROCESS_FOREGROUND=1 (wireguard-go's variable) it stays in the foreground.
final class DaemonModeTests: XCTestCase {
    func testDaemonModeReturnsOnceUpAndStopsOnSIGTERM() throws {
        _ = try NetEnvironment.require(tools: ["ip", "wg"], for: "DAEMON MODE TEST")
        let ztpd = try NetEnvironment.builtProduct("ztpd")
        let lab = try NetworkLab(roles: ["edge"])
        defer { lab.tearDown() }
        let keys = try WireGuardKeyPair.generate()
        let key = try lab.write("edge.key", keys.privateKey + "\n")
        let interface = "ztpd\(lab.suffix)"
        let pidFile = lab.path("ztpd.pid"), logFile = lab.path("ztpd.log")
        let r = try lab.exec("edge", [
            ztpd, interface, "--private-key", key, "--listen-port", "51820", "--daemon", "--pid-file", pidFile,
            "--log-file", logFile,
        ], timeout: 30)
        XCTAssertTrue(r.succeeded, "\(r)")
        XCTAssertTrue(r.output.contains("running in the background"), r.output)
        let pidText = try String(contentsOfFile: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let pid = try XCTUnwrap(pid_t(pidText))
        XCTAssertEqual(kill(pid, 0), 0, "the daemon is not running")
        XCTAssertNotEqual(getsid(pid), getsid(0), "the daemon must have its own session")
        let show = try lab.exec("edge", ["wg", "show", interface, "public-key"])
        XCTAssertEqual(show.output.trimmingCharacters(in: .whitespacesAndNewlines), keys.publicKey)

        kill(pid, SIGTERM)
        XCTAssertTrue(eventually(10) { kill(pid, 0) != 0 }, "the daemon did not stop on SIGTERM")
        let log = try String(contentsOfFile: logFile, encoding: .utf8)
        XCTAssertTrue(log.contains("interface up"), log)
        XCTAssertTrue(log.contains("stopped"), log)
        XCTAssertFalse(log.contains(keys.privateKey), "the private key must never be logged")
        XCTAssertFalse(FileManager.default.fileExists(atPath: "/var/run/wireguard/\(interface).sock"))
    }

    func testWGProcessForegroundKeepsTheBareFormInTheForegroundWithNoKey() throws {
        try checkStaysInTheForeground(environment: ["WG_PROCESS_FOREGROUND": "1"])
    }

    /// systemd's notify services supervise the process they start: it must not fork away.
    func testASystemdNotifySocketKeepsItInTheForeground() throws {
        try checkStaysInTheForeground(environment: ["NOTIFY_SOCKET": "/run/ztp-test-no-such-notify-socket"])
    }

    private func checkStaysInTheForeground(environment: [String: String]) throws {
        _ = try NetEnvironment.require(tools: ["ip", "wg"], for: "DAEMON MODE TEST")
        let ztpd = try NetEnvironment.builtProduct("ztpd")
        let lab = try NetworkLab(roles: ["edge"])
        defer { lab.tearDown() }
        let interface = "ztpf\(lab.suffix)"
        let process = try lab.spawn("edge", [ztpd, interface], log: "ztpd.log", environment: environment)
        let socket = "/var/run/wireguard/\(interface).sock"
        XCTAssertTrue(eventually(10) { FileManager.default.fileExists(atPath: socket) }, lab.log("ztpd.log"))
        XCTAssertTrue(process.isRunning, "ztpd left the foreground with \(environment): \(lab.log("ztpd.log"))")
        let show = try lab.exec("edge", ["wg", "show", interface, "private-key"])
        XCTAssertEqual(show.output.trimmingCharacters(in: .whitespacesAndNewlines), "(none)", "\(show)")
        XCTAssertTrue(lab.stop(process), "ztpd did not stop on SIGTERM")
        XCTAssertEqual(process.terminationStatus, 0, lab.log("ztpd.log"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: "/var/run/ztp/\(interface).pid"), "a foreground ztpd writes no pid file")
    }
}
