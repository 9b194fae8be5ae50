import XCTest
import PolicyLang
@testable import PolicyCompiler

final class ResolverTests: XCTestCase {
    func testANameDefinedTwiceAcrossFilesPointsAtBothPlaces() throws {
        let a = "policy: a\nhosts:\n  db: 10.0.0.0/24\nrules:\n  - allow * -> db:5432/tcp\n"
        let b = "policy: b\nhosts:\n  db: 10.1.0.0/24\n"
        let c = PolicyFixtures.compile(["a.yaml": a, "b.yaml": b])
        let d = try XCTUnwrap(c.diagnostics.first { $0.code == .duplicateName })
        XCTAssertEqual(d.span?.start.file.hasSuffix("b.yaml"), true)
        XCTAssertEqual(d.span?.start.line, 3)
        XCTAssertEqual(d.notes.first?.span?.start.file.hasSuffix("a.yaml"), true)
        XCTAssertEqual(d.notes.first?.span?.start.line, 3)
    }

    func testTwoFilesWithTheSamePolicyNameAreAnError() {
        let c = PolicyFixtures.compile(["a.yaml": "policy: x\n", "b.yaml": "policy: x\n"])
        XCTAssertTrue(c.codes.contains(.duplicateName))
    }

    func testNamesAreGlobalAcrossFiles() {
        let hosts = "policy: infra\nhosts:\n  db: 10.0.0.0/24\n"
        let rules = PolicyFixtures.organisation(rules: ["allow group:eng -> db:5432/tcp"])
        let c = PolicyFixtures.compile(["hosts.yaml": hosts, "org.yaml": rules], lint: false)
        XCTAssertFalse(c.hasErrors, "\(c.diagnostics.map(\.message))")
        XCTAssertEqual(c.decide("alice-laptop", "10.0.0.9:5432/tcp").verdict, .allow)
    }

    func testUndefinedReferencesSuggestTheClosestName() throws {
        let c = PolicyFixtures.compile(["p.yaml": PolicyFixtures.organisation(rules: [
            "allow group:engg -> prod-db:5432/tcp", "allow group:eng -> prod-bd:5432/tcp",
            "allow alice-laptp -> ci:22/tcp", "allow * -> ci:22/tcp if group:oncal",
        ], tests: ["allow alice -> 10.0.0.1:1/tcp"])])
        let undefined = c.diagnostics.filter { $0.code == .undefinedReference }
        XCTAssertEqual(undefined.map(\.help), [
            "did you mean 'eng'?", "did you mean 'prod-db'?", "did you mean 'alice-laptop'?", "did you mean 'oncall'?", nil,
        ])
        XCTAssertTrue(undefined.allSatisfy { $0.span != nil })
    }

    func testGroupCyclesAreErrors() throws {
        let text = "policy: p\ngroups:\n  a: [group:b]\n  b: [group:c]\n  c: [group:a, x@example.com]\nrules:\n  - allow group:a -> 10.0.0.1:1/tcp\n"
        let c = PolicyFixtures.compile(["p.yaml": text])
        let cycles = c.diagnostics.filter { $0.code == .groupCycle }
        XCTAssertEqual(cycles.count, 1, "one cycle, reported once")
        XCTAssertTrue(cycles[0].message.contains("a -> b -> c -> a"), cycles[0].message)
    }

    func testNestedGroupsAreFlattened() throws {
        let c = PolicyFixtures.compile(["p.yaml": PolicyFixtures.organisation(rules: ["allow group:oncall -> ci:22/tcp"])], lint: false)
        XCTAssertEqual(c.resolved?.groupUsers["oncall"], ["carol@example.com", "erin@example.com"])
        XCTAssertEqual(c.decide("carol-laptop", "10.20.1.5:22/tcp").verdict, .allow)
    }

    func testInvalidAndDuplicateKeysAreErrors() {
        let k = PolicyFixtures.keys[0]
        let text = "policy: p\nidentities:\n  a: { key: \"\(k)\" }\n  b: { key: \"\(k)\" }\n  c: { key: \"AAAA\" }\n  d: { key: \"\(String(k.dropLast(2)))==\" }\n"
        let c = PolicyFixtures.compile(["p.yaml": text])
        XCTAssertEqual(c.codes.filter { $0 == .duplicateKey }.count, 1)
        XCTAssertEqual(c.codes.filter { $0 == .invalidKey }.count, 2)
    }

    func testAFailingTestIsAnErrorThatNamesTheRules() throws {
        let c = PolicyFixtures.compile(["p.yaml": PolicyFixtures.organisation(
            rules: ["allow group:eng -> ci:22/tcp", "deny tag:unmanaged -> ci:*"],
            tests: ["allow bob-phone -> 10.20.1.5:22/tcp", "allow alice-laptop -> 10.20.1.5:22/tcp"])], lint: false)
        XCTAssertNil(c.tables, "a policy whose tests fail produces no tables")
        let failures = c.diagnostics.filter { $0.code == .testFailed }
        XCTAssertEqual(failures.count, 1)
        XCTAssertTrue(failures[0].message.contains("denied by org/2"), failures[0].message)
        XCTAssertEqual(failures[0].notes.count, 2, "the deny, and the allow it overrode")
        XCTAssertEqual(failures[0].span?.start.line, 19)
    }
}
