import Foundation
import NetTestSupport
import XCTest

/// Issue 12's soak under faults, one minute of it: `Benchmarks/soak/soak.sh 1` against the
/// ztpd and ztpc built beside this bundle. The script builds its own namespaces (an edge with
/// XDP and a policy, 20 clients, an origin) and asserts that the edge survives iperf3, pings,
/// roams, restarts, a reload every 2 s, a junk and initiation flood and status polling with no
/// lost ping outside the fault windows, flat RSS and fds, every reload applied or refused with
/// file:line:col, and the denied port never reached; it exits 0 only when every assertion held.
/// The ten-minute run is recorded in BENCHMARKS.md ("Soak under faults").
///
/// It takes no lock itself: run it alone (CI runs the tests serially; locally, under
/// `flock /tmp/ztp-netns.lock`).
final class SoakTests: XCTestCase {
    func testEdgeSurvivesOneMinuteOfFaultsWithEveryAssertionHeld() throws {
        _ = try NetEnvironment.require(
            tools: ["ip", "wg", "wireguard-go", "iperf3", "ping", "python3", "bash"], for: "SOAK TEST")
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
        guard FileManager.default.fileExists(atPath: "\(root)/bpf/ztp_xdp.o") else {
            throw XCTSkip("SOAK TEST SKIPPED: \(root)/bpf/ztp_xdp.o is missing (run bpf/build.sh)")
        }
        let ztpd = try NetEnvironment.builtProduct("ztpd"), ztpc = try NetEnvironment.builtProduct("ztpc")
        let r = try Command.run(
            "bash", ["\(root)/Benchmarks/soak/soak.sh", "1"], timeout: 360,
            environment: ["ZTPD": ztpd, "ZTPC": ztpc])
        // The summary (one PASS or FAIL line per assertion) goes to the test log either way.
        FileHandle.standardError.write(Data(("--- soak.sh 1 ---\n" + r.output.suffix(12000) + "\n").utf8))
        XCTAssertEqual(r.status, 0, "soak.sh 1 failed (status \(r.status)); see its summary above")
        XCTAssertTrue(r.output.contains("soak: all assertions passed"), "no passing summary from soak.sh")
    }
}
