import XCTest
import PolicyLang
@testable import PolicyCompiler

final class CompileBudgetTests: XCTestCase {
    func compile(_ text: String, budget: CompileBudget) -> Compilation {
        var options = PolicyCompiler.Options()
        options.budget = budget
        let dir = PolicyFixtures.directory(["p.yaml": text])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        return PolicyCompiler.compile(paths: [dir], options: options)
    }

    func testACompilePastItsTimeLimitFailsAsTooComplex() throws {
        let c = compile(PolicyFixtures.organisation(rules: ["allow group:eng -> web:443/tcp"]), budget: CompileBudget(seconds: 0))
        XCTAssertNil(c.tables)
        let d = try XCTUnwrap(c.diagnostics.first { $0.code == .tooComplex })
        XCTAssertEqual(d.message, "policy too complex: compiling took longer than 0 s")
        XCTAssertNotNil(d.help)
    }

    func testACancelledCompileStopsWithItsOwnCode() {
        let budget = CompileBudget(seconds: nil)
        budget.cancel()
        let c = compile(PolicyFixtures.organisation(rules: ["allow group:eng -> web:443/tcp"]), budget: budget)
        XCTAssertNil(c.tables)
        XCTAssertEqual(c.codes, [.compileCancelled])
    }

    func testAGenerousBudgetChangesNothing() {
        let c = compile(
            PolicyFixtures.organisation(rules: ["allow group:oncall -> ci:22/tcp"], tests: ["allow erin-laptop -> 10.20.1.5:22/tcp"]),
            budget: CompileBudget(seconds: 600))
        XCTAssertNotNil(c.tables, "\(c.diagnostics.map(\.message))")
        XCTAssertEqual(c.decide("carol-laptop", "10.20.1.5:22/tcp").verdict, .allow)
    }
}
