import XCTest
import PolicyLang
@testable import PolicyCompiler

final class LintTests: XCTestCase {
    func warnings(_ rules: [String]) -> [Diagnostic] {
        PolicyFixtures.compile(["p.yaml": PolicyFixtures.organisation(rules: rules)], tests: false).diagnostics
            .filter { $0.severity == .warning }
    }

    /// Rules that use every group, host and identity of the fixture, so that only the rule under test warns.
    let baseline = ["allow group:oncall -> ci:22/tcp", "allow group:eng -> prod-db:5432/tcp web:80/tcp"]

    func testTheBaselineIsClean() {
        XCTAssertEqual(warnings(baseline).map(\.message), [])
    }

    func testAnAllowCoveredByADenyIsUnreachable() throws {
        let w = warnings(baseline + ["allow user:bob@example.com -> 10.20.1.5:443/tcp", "deny group:eng -> ci:*"])
        let d = try XCTUnwrap(w.first { $0.code == .unreachableRule })
        XCTAssertTrue(d.message.contains("org/3") && d.message.contains("org/4"), d.message)
        XCTAssertEqual(d.notes.first?.span?.start.line, 19)
    }

    func testAConditionalDenyDoesNotMakeAnAllowUnreachable() {
        let w = warnings(baseline + ["allow user:bob@example.com -> ci:443/tcp", "deny group:eng -> ci:* if tag:unmanaged"])
        XCTAssertFalse(w.contains { $0.code == .unreachableRule })
    }

    func testARuleCoveredByAWiderOneIsRedundant() throws {
        let w = warnings(baseline + ["allow group:eng -> 10.30.1.0/24:80/tcp if tag:managed", "allow * -> web:*"])
        let d = try XCTUnwrap(w.first { $0.code == .redundantRule })
        XCTAssertTrue(d.message.hasPrefix("rule org/3 is redundant"), d.message)
        XCTAssertEqual(w.filter { $0.code == .redundantRule }.count, 1, "org/2 also reaches prod-db, which org/4 does not cover")
    }

    func testIdenticalRulesAreReportedOnce() {
        let w = warnings(baseline + ["allow * -> 10.9.9.9:9/udp", "allow * -> 10.9.9.9:9/udp"])
        let redundant = w.filter { $0.code == .redundantRule }
        XCTAssertEqual(redundant.count, 1)
        XCTAssertTrue(redundant[0].message.hasPrefix("rule org/4"), redundant[0].message)
    }

    func testDifferentLimitsAreNotRedundant() {
        let w = warnings(baseline + ["allow * -> 10.9.9.9:9/udp rate 5/s", "allow * -> 10.9.9.0/24:*"])
        XCTAssertFalse(w.contains { $0.code == .redundantRule })
    }

    func testUnusedGroupsHostsAndIdentitiesAreReported() {
        let w = warnings(["allow group:sre -> ci:22/tcp"])
        XCTAssertEqual(Set(w.filter { $0.code == .unusedGroup }.map(\.message)), ["group 'oncall' is used by no rule and no other group", "group 'eng' is used by no rule and no other group"])
        XCTAssertEqual(Set(w.filter { $0.code == .unusedHost }.map(\.message)), ["host 'prod-db' is used by no rule", "host 'web' is used by no rule"])
        XCTAssertEqual(w.filter { $0.code == .unusedIdentity }.count, 3, "only carol is in sre")
    }

    func testAllowAllIsReported() {
        XCTAssertTrue(warnings(baseline + ["allow * -> *:*"]).contains { $0.code == .allowAll })
        XCTAssertFalse(warnings(baseline + ["allow * -> *:443/tcp"]).contains { $0.code == .allowAll })
        XCTAssertFalse(warnings(baseline + ["deny * -> *:*"]).contains { $0.code == .allowAll })
    }

    func testTheExamplePoliciesAreLintClean() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("policies").path
        var options = PolicyCompiler.Options()
        options.now = 1_795_424_400_000
        let c = PolicyCompiler.compile(paths: [root], options: options)
        XCTAssertEqual(c.diagnostics.map { "\($0.span?.start.description ?? ""): \($0.message)" }, [])
        XCTAssertNotNil(c.tables)
    }
}

private extension PolicyFixtures {
    static func compile(_ files: [String: String], tests: Bool) -> Compilation {
        compile(files, lint: true, tests: tests)
    }
}
