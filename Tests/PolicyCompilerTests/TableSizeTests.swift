import XCTest
import PolicyLang
@testable import PolicyCompiler

/// The decision tables are held to ``PolicyLimits/maxTableEntries`` before they take the memory.
final class TableSizeTests: XCTestCase {
    func compile(_ text: String, maxTableEntries: Int) -> Compilation {
        var options = PolicyCompiler.Options()
        options.limits.maxTableEntries = maxTableEntries
        options.lint = false
        let dir = PolicyFixtures.directory(["p.yaml": text])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        return PolicyCompiler.compile(paths: [dir], options: options)
    }

    func testIdentitiesWithRulesOfTheirOwnOverManyAddressesPassTheLimit() throws {
        var text = "policy: p\nidentities:\n"
        for n in 0..<4 { text += "  i\(n): { key: \"\(PolicyFixtures.keys[n])\", tags: [t\(n)] }\n" }
        text += "rules:\n"
        for n in 0..<4 { text += "  - allow tag:t\(n) -> " + (0..<4).map { "10.0.\(n).\($0 * 2):22/tcp" }.joined(separator: " ") + "\n" }
        let refused = compile(text, maxTableEntries: 100)
        let d = try XCTUnwrap(refused.diagnostics.first { $0.code == .tableTooLarge }, "\(refused.diagnostics.map(\.message))")
        XCTAssertTrue(d.message.hasPrefix("the decision tables would need 4 identity classes × "), d.message)
        XCTAssertNil(refused.tables)
        XCTAssertNotNil(compile(text, maxTableEntries: 1_000).tables, "the same set within a larger limit")
    }

    func testManyRulesOnAWidePrefixOverManyNarrowTargetsPassTheLimit() throws {
        var text = "policy: p\nrules:\n"
        for _ in 0..<20 { text += "  - allow * -> 10.0.0.0/8:1/tcp\n" }
        for n in 0..<20 { text += "  - allow * -> 10.0.0.\(n * 2):2/tcp\n" }
        let refused = compile(text, maxTableEntries: 500)
        XCTAssertEqual(refused.codes, [.tableTooLarge])
        XCTAssertTrue(refused.diagnostics[0].message.hasPrefix("the address partition would list more than 500"))
        XCTAssertNotNil(compile(text, maxTableEntries: 5_000).tables)
    }
}
