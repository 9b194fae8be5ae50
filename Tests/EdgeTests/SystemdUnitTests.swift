import Foundation
import NetTestSupport
import XCTest
@testable import Edge

/// `deploy/systemd/ztpd@.service` and the example configuration it starts ztpd with.
final class SystemdUnitTests: XCTestCase {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let unitPath = repository.appendingPathComponent("deploy/systemd/ztpd@.service").path

    /// `systemd-analyze verify` on an instance of the unit, in a root made of the machine's own
    /// units, the unit and the built ztpd at /usr/sbin/ztpd (verify checks that ExecStart exists).
    /// Any complaint it prints about the unit fails the test, warnings included: it exits 0 on
    /// an unknown key or a bad value, which it only reports.
    func testUnitPassesSystemdAnalyzeVerify() throws {
        guard let analyze = Command.which("systemd-analyze") else {
            throw XCTSkip("SYSTEMD UNIT TEST SKIPPED: systemd-analyze is not installed (Debian's systemd package has it)")
        }
        let systemUnits = ["/lib/systemd/system", "/usr/lib/systemd/system"].first {
            FileManager.default.fileExists(atPath: "\($0)/sysinit.target")
        }
        guard let systemUnits else { throw XCTSkip("SYSTEMD UNIT TEST SKIPPED: no systemd units on this machine to verify against") }
        let ztpd = try NetEnvironment.builtProduct("ztpd")
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("ztp-unit-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: root) }
        let fm = FileManager.default
        try fm.createDirectory(at: root.appendingPathComponent("usr/sbin"), withIntermediateDirectories: true)
        try fm.createDirectory(at: root.appendingPathComponent("bin"), withIntermediateDirectories: true)
        try fm.createDirectory(at: root.appendingPathComponent("lib/systemd"), withIntermediateDirectories: true)
        try fm.copyItem(atPath: systemUnits, toPath: root.appendingPathComponent("lib/systemd/system").path)
        try fm.copyItem(atPath: Self.unitPath, toPath: root.appendingPathComponent("lib/systemd/system/ztpd@.service").path)
        try fm.copyItem(atPath: ztpd, toPath: root.appendingPathComponent("usr/sbin/ztpd").path)
        try fm.copyItem(atPath: try XCTUnwrap(Command.which("kill")), toPath: root.appendingPathComponent("bin/kill").path)

        let r = try Command.run(analyze, ["verify", "--man=no", "--root=\(root.path)", "ztpd@ztp0.service"], timeout: 60)
        XCTAssertTrue(r.succeeded, "\(r)")
        let complaints = r.output.split(separator: "\n").filter { $0.contains("ztpd@") }
        XCTAssertEqual(complaints, [], "systemd-analyze verify: \(r.output)")

        // The check has teeth: the same unit with a misspelt value is reported.
        let broken = try String(contentsOfFile: Self.unitPath, encoding: .utf8).replacingOccurrences(of: "Type=notify", with: "Type=notfy")
        try broken.write(toFile: root.appendingPathComponent("lib/systemd/system/ztpd@.service").path, atomically: true, encoding: .utf8)
        let b = try Command.run(analyze, ["verify", "--man=no", "--root=\(root.path)", "ztpd@ztp0.service"], timeout: 60)
        XCTAssertTrue(b.output.contains("notfy"), "a broken unit passed: \(b)")
    }

    /// The settings the issue asks of the unit, read back from the file.
    func testUnitIsANotifyServiceWithWatchdogReloadAndHardening() throws {
        let unit = try String(contentsOfFile: Self.unitPath, encoding: .utf8)
        let settings = Dictionary(
            unit.split(separator: "\n").filter { !$0.hasPrefix("#") && $0.contains("=") }.map {
                let parts = $0.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                return (String(parts[0]), String(parts[1]))
            }, uniquingKeysWith: { $1 })
        XCTAssertEqual(settings["Type"], "notify")
        XCTAssertEqual(settings["ExecStart"], "/usr/sbin/ztpd %i --foreground --daemon-config /etc/ztp/%i.yaml")
        XCTAssertEqual(settings["ExecReload"], "/bin/kill -HUP $MAINPID")
        XCTAssertNotNil(settings["WatchdogSec"])
        XCTAssertEqual(settings["CapabilityBoundingSet"], "CAP_NET_ADMIN CAP_BPF CAP_PERFMON")
        for capability in ["CAP_NET_ADMIN", "CAP_BPF", "CAP_PERFMON"] {
            XCTAssertTrue(unit.contains("#   \(capability)"), "\(capability) is given without a reason")
        }
        XCTAssertEqual(settings["ProtectSystem"], "strict")
        XCTAssertEqual(settings["ProtectHome"], "yes")
        XCTAssertEqual(settings["PrivateTmp"], "yes")
        XCTAssertEqual(settings["NoNewPrivileges"], "yes")
        // Everything ztpd writes is under the paths the unit leaves writable.
        let writable = try XCTUnwrap(settings["ReadWritePaths"]).split(separator: " ").map(String.init)
        let config = try EdgeConfig.load(path: Self.repository.appendingPathComponent("deploy/etc/ztp0.yaml").path)
        for path in [config.controlSocketPath, "/run/wireguard/\(config.interface).sock", try XCTUnwrap(config.decisionLog)] {
            XCTAssertTrue(writable.contains { path.hasPrefix($0 + "/") }, "\(path) is not under ReadWritePaths \(writable)")
        }
    }

    /// The package's /etc/ztp/ztp0.yaml is a valid daemon configuration for ztp0, pointing at
    /// the example policies it ships.
    func testExampleDaemonConfigurationLoads() throws {
        let config = try EdgeConfig.load(path: Self.repository.appendingPathComponent("deploy/etc/ztp0.yaml").path)
        XCTAssertEqual(config.interface, "ztp0")
        XCTAssertEqual(config.policies, "/etc/ztp/policies")
        XCTAssertEqual(config.privateKeyFile, "/etc/ztp/ztp0.key")
        XCTAssertEqual(config.metrics, "127.0.0.1:9586")
    }
}
