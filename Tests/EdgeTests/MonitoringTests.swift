import Foundation
import NetTestSupport
import XCTest

/// `deploy/prometheus/alerts.yaml` and `deploy/grafana/ztp.json` against Prometheus's own
/// checker and against what a running ztpd exports.
final class MonitoringTests: XCTestCase {
    static let deploy = SystemdUnitTests.repository.appendingPathComponent("deploy")
    static let alertsPath = deploy.appendingPathComponent("prometheus/alerts.yaml").path
    static let dashboardPath = deploy.appendingPathComponent("grafana/ztp.json").path

    func testAlertRulesPassPromtoolAndItsUnitTests() throws {
        guard let promtool = Command.which("promtool") else {
            throw XCTSkip("ALERT RULES TEST SKIPPED: promtool is not installed (Debian's prometheus package; scripts/setup installs it)")
        }
        let r = try Command.run(promtool, ["check", "rules", Self.alertsPath])
        XCTAssertTrue(r.succeeded, "\(r)")
        XCTAssertTrue(r.output.contains("SUCCESS"), r.output)
        // Each alert fires on the series that should raise it, and not on a healthy edge.
        let unit = try Command.run(promtool, ["test", "rules", Self.deploy.appendingPathComponent("prometheus/alerts_test.yaml").path])
        XCTAssertTrue(unit.succeeded, "\(unit)")
        for alert in ["ZTPPolicyReloadFailing", "ZTPEdgeEnforcingOldPolicy", "ZTPHighDropRatio", "ZTPHandshakeFlood", "ZTPNoSessions"] {
            XCTAssertTrue(try String(contentsOfFile: Self.alertsPath, encoding: .utf8).contains("alert: \(alert)"), alert)
        }
    }

    func testDashboardIsGrafanaJSONWithAPanelForEachConcern() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: Self.dashboardPath))
        let dashboard = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
        let panels = try XCTUnwrap(dashboard["panels"] as? [[String: Any]])
        let titles = panels.compactMap { $0["title"] as? String }
        for title in ["Decisions by verdict", "Decisions by rule (top 10)", "Decision cache hit ratio", "Sessions", "Handshakes",
                      "Enforcer drops by reason", "Tunnel drops by reason", "XDP verdicts", "Reloads and refusals", "Tunnel traffic"] {
            XCTAssertTrue(titles.contains(title), "no panel '\(title)' in \(titles)")
        }
        if Command.which("python3") != nil {
            let generated = try Command.run("python3", [Self.deploy.appendingPathComponent("grafana/dashboard.py").path])
            XCTAssertEqual(generated.output, String(decoding: data, as: UTF8.self),
                           "ztp.json is not what dashboard.py writes: run python3 deploy/grafana/dashboard.py > deploy/grafana/ztp.json")
        }
        for panel in panels where panel["type"] as? String != "row" {
            let targets = panel["targets"] as? [[String: Any]] ?? []
            XCTAssertFalse(targets.isEmpty, "panel '\(panel["title"] ?? "?")' has no query")
        }
    }

    /// Every `ztp_` metric that a dashboard query or an alert names is in the scrape of a
    /// running edge (the end-to-end stack: policy, sessions, XDP guard, traffic), so that no panel
    /// stays empty and no alert watches a series that does not exist.
    func testEveryMetricTheDashboardAndAlertsNameIsExportedByZtpd() throws {
        let stack = try EndToEndStack()
        defer { stack.tearDown() }
        let scrape = try stack.metrics()
        let exported = Set(scrape.split(separator: "\n").compactMap { line -> String? in
            guard !line.hasPrefix("#"), let name = line.split(whereSeparator: { $0 == "{" || $0 == " " }).first else { return nil }
            return String(name)
        })
        XCTAssertTrue(scrape.contains("ztp_build_info{"), scrape)

        let named = try Self.metricNames(in: String(contentsOfFile: Self.dashboardPath, encoding: .utf8))
            .union(Self.metricNames(in: String(contentsOfFile: Self.alertsPath, encoding: .utf8)))
        XCTAssertGreaterThan(named.count, 15, "\(named)")
        let missing = named.subtracting(exported).sorted()
        XCTAssertEqual(missing, [], "named in deploy/ but not exported; the scrape was:\n\(scrape)")
    }

    /// The `ztp_...` identifiers in a text (queries in JSON strings or YAML).
    static func metricNames(in text: String) throws -> Set<String> {
        let regex = try NSRegularExpression(pattern: "\\bztp_[a-z0-9_]+")
        let range = NSRange(text.startIndex..., in: text)
        return Set(regex.matches(in: text, range: range).compactMap { Range($0.range, in: text).map { String(text[$0]) } })
    }
}
