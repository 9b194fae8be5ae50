import XCTest
import PolicyLang
@testable import PolicyCompiler

/// Group nesting at sizes and shapes that made flattening exponential (issue 15): it must be
/// linear, deterministic, and bounded by the limits. A regression here hangs rather than
/// fails (swift-corelibs-xctest has no `executionTimeAllowance`): the test finishing is the
/// proof of speed, its assertions the proof of correctness.
final class GroupFlatteningTests: XCTestCase {
    /// `g0: [zz@example.com]`, then each group lists the previous one `references` times.
    static func chain(levels: Int, references: Int, userPerLevel: Bool = false) -> String {
        var text = "policy: hostile\nidentities:\n"
        text += "  zz: { key: \"\(PolicyFixtures.keys[0])\", user: zz@example.com }\n"
        text += "  other: { key: \"\(PolicyFixtures.keys[1])\", user: other@example.com }\n"
        text += "groups:\n  g0: [zz@example.com]\n"
        for n in 1...levels {
            var members = Array(repeating: "group:g\(n - 1)", count: references)
            if userPerLevel { members.append("u\(n)@example.com") }
            text += "  g\(n): [\(members.joined(separator: ", "))]\n"
        }
        text += "rules:\n  - allow group:g\(levels) -> 10.0.0.0/8:22/tcp\n"
        text += "tests:\n  - allow zz -> 10.1.2.3:22/tcp\n  - deny other -> 10.1.2.3:22/tcp\n"
        return text
    }

    func testSixtyLevelsOfTripleReferencedGroupsCompileWithTheRightMembers() throws {
        let c = PolicyFixtures.compile(["p.yaml": Self.chain(levels: 60, references: 3)])
        XCTAssertFalse(c.hasErrors, "\(c.diagnostics.map(\.message))")
        let resolved = try XCTUnwrap(c.resolved)
        for n in 0...60 { XCTAssertEqual(resolved.groupUsers["g\(n)"], ["zz@example.com"], "g\(n)") }
        let zz = try XCTUnwrap(resolved.identities.first { $0.name == "zz" })
        XCTAssertEqual(zz.groups, Set((0...60).map { "g\($0)" }))
        XCTAssertEqual(resolved.identities.first { $0.name == "other" }?.groups, [])
        XCTAssertEqual(c.decide("zz", "10.9.9.9:22/tcp").verdict, .allow)
        XCTAssertEqual(c.decide("other", "10.9.9.9:22/tcp").verdict, .deny)
    }

    func testAThousandLevelChainFlattensEveryLevel() throws {
        let c = PolicyFixtures.compile(["p.yaml": Self.chain(levels: 1_000, references: 2, userPerLevel: true)])
        XCTAssertFalse(c.hasErrors, "\(c.diagnostics.map(\.message))")
        let resolved = try XCTUnwrap(c.resolved)
        XCTAssertEqual(resolved.groupUsers["g1000"]?.count, 1_001)
        XCTAssertEqual(resolved.groupUsers["g500"], Set(["zz@example.com"] + (1...500).map { "u\($0)@example.com" }))
        XCTAssertEqual(resolved.identities.first { $0.name == "zz" }?.groups.count, 1_001)
        XCTAssertEqual(c.decide("zz", "10.9.9.9:22/tcp").verdict, .allow)
    }

    func testAChainDeeperThanTheLimitIsRefusedAtTheGroupThatPassesIt() throws {
        var options = PolicyCompiler.Options()
        options.limits.maxGroupNesting = 10
        let dir = PolicyFixtures.directory(["p.yaml": Self.chain(levels: 12, references: 1)])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let c = PolicyCompiler.compile(paths: [dir], options: options)
        let deep = c.diagnostics.filter { $0.code == .groupNestingTooDeep }
        XCTAssertEqual(deep.count, 1, "reported once")
        XCTAssertEqual(deep.first?.message, "group 'g10' nests groups 11 deep; the limit is 10")
        XCTAssertEqual(deep.first?.span?.start.line, 16, "at g10's name")
        XCTAssertNil(c.tables)
    }

    func testACycleThroughRepeatedReferencesIsReportedOnceWithItsPath() throws {
        let text = """
            policy: p
            groups:
              a: [group:b, group:b, x@example.com]
              b: [group:c, group:c]
              c: [group:a, group:a, group:a]
            rules:
              - allow group:a -> 10.0.0.0/8:22/tcp

            """
        let c = PolicyFixtures.compile(["p.yaml": text])
        let cycles = c.diagnostics.filter { $0.code == .groupCycle }
        XCTAssertEqual(cycles.count, 1, "\(cycles.map(\.message))")
        XCTAssertEqual(cycles.first?.message, "group cycle: a -> b -> c -> a")
        XCTAssertEqual(cycles.first?.span?.start.line, 5)
        XCTAssertEqual(cycles.first?.span?.start.column, 7, "at the first reference that closes it")
    }

    func testCyclesAreReportedInNameOrder() throws {
        let text = """
            policy: p
            groups:
              zeta: [group:yota]
              yota: [group:zeta]
              beta: [group:alpha]
              alpha: [group:beta]
            rules:
              - allow group:zeta -> 10.0.0.0/8:22/tcp
              - allow group:alpha -> 10.0.0.0/8:22/tcp

            """
        for _ in 0..<3 {
            let c = PolicyFixtures.compile(["p.yaml": text])
            XCTAssertEqual(
                c.diagnostics.filter { $0.code == .groupCycle }.map(\.message),
                ["group cycle: alpha -> beta -> alpha", "group cycle: yota -> zeta -> yota"])
        }
    }

    func testFlattenedMembershipPastTheLimitIsRefused() throws {
        var text = "policy: p\ngroups:\n  all: [\((1...30).map { "u\($0)@example.com" }.joined(separator: ", "))]\n"
        for n in 1...5 { text += "  g\(n): [group:all]\n" }
        text += "rules:\n" + (1...5).map { "  - allow group:g\($0) -> 10.0.0.0/8:22/tcp\n" }.joined()
        var options = PolicyCompiler.Options()
        options.limits.maxMemberships = 100
        let dir = PolicyFixtures.directory(["p.yaml": text])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let c = PolicyCompiler.compile(paths: [dir], options: options)
        XCTAssertEqual(c.diagnostics.filter { $0.code == .tooManyMemberships }.count, 1, "\(c.diagnostics.map(\.message))")
        XCTAssertNil(c.tables)
        options.limits.maxMemberships = 180
        XCTAssertFalse(PolicyCompiler.compile(paths: [dir], options: options).hasErrors, "exactly at the limit is allowed")
    }
}
