import Foundation
import NetTestSupport
import XCTest
@testable import Edge

/// The Debian package from `scripts/package`, installed on this machine with `dpkg -i`, used,
/// and removed with `dpkg -r` and `dpkg -P`. This changes the machine (it installs
/// /usr/sbin/ztpd and friends), so it runs only as root, refuses to touch a ztp package that
/// was installed before it, and purges what it installed even when an assertion fails.
///
/// `scripts/package` makes a release build (a few minutes); set `ZTP_PACKAGE_DEB` to a .deb it
/// made to test that one instead.
final class PackageTests: XCTestCase {
    func testPackageInstallsRunsAndRemovesCleanly() throws {
        guard getuid() == 0 else { throw XCTSkip("PACKAGE TEST SKIPPED: not root (dpkg -i installs into this machine)") }
        for tool in ["dpkg", "dpkg-deb", "dpkg-query", "ip", "wg"] where Command.which(tool) == nil {
            throw XCTSkip("PACKAGE TEST SKIPPED: \(tool) is not installed")
        }
        let before = try Command.run("dpkg-query", ["-W", "-f=${Status}", "ztp"])
        if before.succeeded && !before.output.contains("not-installed") {
            throw XCTSkip("PACKAGE TEST SKIPPED: a ztp package is already on this machine (\(before.output)); not touching it")
        }

        let output = FileManager.default.temporaryDirectory.appendingPathComponent("ztp-deb-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: output) }
        var deb = ProcessInfo.processInfo.environment["ZTP_PACKAGE_DEB"] ?? ""
        if deb.isEmpty {
            let built = try Command.run(
                SystemdUnitTests.repository.appendingPathComponent("scripts/package").path, ["--output", output], timeout: 3600)
            guard built.succeeded else { return XCTFail("scripts/package failed: \(built.output.suffix(4000))") }
            deb = built.output.split(separator: "\n").last.map(String.init) ?? ""
        }
        try check(deb)
    }

    private func check(_ deb: String) throws {
        XCTAssertTrue(FileManager.default.fileExists(atPath: deb), deb)
        let info = try Command.run("dpkg-deb", ["--field", deb, "Package", "Version", "Depends"])
        XCTAssertTrue(info.output.contains("Version: \(BuildInfo.version)"), info.output)
        for library in ["libsodium23", "libbpf1", "libc6"] {
            XCTAssertTrue(info.output.contains(library), "Depends lacks \(library): \(info.output)")
        }
        XCTAssertFalse(info.output.contains("swift"), "the Swift runtime is linked in, not a dependency: \(info.output)")

        let install = try Command.run("dpkg", ["-i", deb], timeout: 120)
        // From here on, whatever happens, the package goes.
        defer { _ = try? Command.run("dpkg", ["-P", "ztp"], timeout: 120) }
        XCTAssertTrue(install.succeeded, "dpkg -i: \(install)")
        guard install.succeeded else { return }

        // Binaries, with the commit compiled in.
        let version = try Command.run("/usr/sbin/ztpd", ["--version"])
        XCTAssertTrue(version.succeeded, "\(version)")
        XCTAssertTrue(version.output.hasPrefix("\(BuildInfo.version) (commit "), version.output)
        XCTAssertFalse(version.output.contains("commit unknown"), version.output)
        if let head = try? Command.run("git", ["-C", SystemdUnitTests.repository.path, "rev-parse", "--short=12", "HEAD"]), head.succeeded {
            XCTAssertTrue(version.output.contains(head.output.trimmingCharacters(in: .whitespacesAndNewlines)), version.output)
        }
        let ztpcVersion = try Command.run("/usr/bin/ztpc", ["--version"])
        XCTAssertEqual(ztpcVersion.output, version.output, "one version for both commands")
        let linked = try Command.run("ldd", ["/usr/sbin/ztpd"])
        XCTAssertFalse(linked.output.contains("not found"), linked.output)
        XCTAssertFalse(linked.output.contains("libswift"), "the Swift runtime should be static: \(linked.output)")

        // The examples: policies that check, a daemon configuration, all of /etc/ztp conffiles.
        let check = try Command.run("/usr/bin/ztpc", ["check", "/etc/ztp/policies"])
        XCTAssertTrue(check.succeeded, "ztpc check /etc/ztp/policies: \(check)")
        let conffiles = try Command.run("dpkg-query", ["-W", "-f=${Conffiles}\n", "ztp"]).output
        for file in ["/etc/ztp/ztp0.yaml", "/etc/ztp/policies/engineering.yaml", "/etc/ztp/policies/finance.yaml"] {
            XCTAssertTrue(conffiles.contains(file), "\(file) is not a conffile: \(conffiles)")
        }
        for file in ["/usr/lib/ztp/ztp_xdp.o", "/lib/systemd/system/ztpd@.service", "/usr/share/man/man8/ztpd.8.gz",
                     "/usr/share/man/man1/ztpc.1.gz", "/usr/share/man/man1/ztpc.check.1.gz",
                     "/usr/share/bash-completion/completions/ztpc", "/usr/share/bash-completion/completions/ztpd",
                     "/usr/share/zsh/vendor-completions/_ztpc", "/usr/share/fish/vendor_completions.d/ztpd.fish",
                     "/usr/share/ztp/grafana/ztp.json", "/usr/share/ztp/prometheus/alerts.yaml"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: file), "the package did not install \(file)")
        }
        if Command.which("man") != nil {
            let page = try Command.run("man", ["-P", "cat", "/usr/share/man/man8/ztpd.8.gz"], environment: ["MANWIDTH": "100"])
            XCTAssertTrue(page.output.contains("--daemon-config"), "ztpd(8): \(page.output.prefix(2000))")
        }
        if Command.which("systemd-analyze") != nil {
            let verify = try Command.run("systemd-analyze", ["verify", "--man=no", "ztpd@ztp0.service"], timeout: 60)
            XCTAssertTrue(verify.succeeded, "\(verify)")
            XCTAssertFalse(verify.output.contains("ztpd@"), "systemd-analyze verify on the installed unit: \(verify.output)")
        }

        try runInstalledDaemon()

        // dpkg -r: the programs go, the administrator's configuration stays.
        let remove = try Command.run("dpkg", ["-r", "ztp"], timeout: 120)
        XCTAssertTrue(remove.succeeded, "dpkg -r: \(remove)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: "/usr/sbin/ztpd"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: "/usr/lib/ztp/ztp_xdp.o"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: "/etc/ztp/ztp0.yaml"), "dpkg -r must keep the conffiles")
        XCTAssertTrue(try Command.run("dpkg-query", ["-W", "-f=${Status}", "ztp"]).output.contains("config-files"))

        // dpkg -P: nothing left.
        let purge = try Command.run("dpkg", ["-P", "ztp"], timeout: 120)
        XCTAssertTrue(purge.succeeded, "dpkg -P: \(purge)")
        for path in ["/etc/ztp", "/usr/lib/ztp", "/lib/systemd/system/ztpd@.service", "/usr/share/ztp", "/usr/share/doc/ztp"] {
            XCTAssertFalse(FileManager.default.fileExists(atPath: path), "\(path) is left after dpkg -P")
        }
        let after = try Command.run("dpkg-query", ["-W", "-f=${Status}", "ztp"])
        XCTAssertTrue(!after.succeeded || after.output.contains("not-installed"), "\(after)")
    }

    /// The installed ztpd, started from / with no ZTP_XDP_OBJECT (so neither a checkout's bpf/ nor
    /// the environment can supply the program), attaches XDP from /usr/lib/ztp and enforces the
    /// example policies.
    private func runInstalledDaemon() throws {
        let lab = try NetworkLab(roles: ["edge", "peer"])
        defer { lab.tearDown() }
        try lab.link("edge", "172.31.8.2/24", "peer", "172.31.8.1/24")
        let key = try lab.write("edge.key", try WireGuardKeyPair.generate().privateKey + "\n")
        let ztpd = try lab.spawn("edge", [
            "/usr/bin/env", "-u", "ZTP_XDP_OBJECT", "-C", "/", "/usr/sbin/ztpd", "ztpk\(lab.suffix)", "--foreground", "--private-key", key,
            "--policies", "/etc/ztp/policies", "--xdp-interface", "to-peer", "--xdp-mode", "generic", "--metrics", "off",
            "--control-socket", lab.path("edge.sock"), "--decision-log", "off", "--log-format", "json",
        ], log: "edge.log")
        XCTAssertTrue(eventually(20) { lab.log("edge.log").contains("\"interface up\"") || !ztpd.isRunning }, lab.log("edge.log"))
        XCTAssertTrue(ztpd.isRunning, lab.log("edge.log"))
        XCTAssertTrue(lab.log("edge.log").contains("program /usr/lib/ztp/ztp_xdp.o"), lab.log("edge.log"))
        let status = try lab.exec("edge", ["/usr/bin/ztpc", "status", "--socket", lab.path("edge.sock"), "--json"])
        XCTAssertTrue(status.succeeded, "\(status)")
        XCTAssertTrue(lab.stop(ztpd, grace: 10), "the installed ztpd did not stop on SIGTERM")
    }
}
