import Foundation
import XCTest
@testable import PolicyLang

final class PolicyFileParserTests: XCTestCase {
    static let aliceKey = "2p5TPYIYr9VbaYCnwQTP01qipoVdOiHJMRbwAHXIIh4="
    static let bobKey = "vdi2GU6KcYDBSO1SuIqwWn7EyEpVjuyl3m35R8IqPkw="

    /// The example of the specification, with real keys in place of `<base64>`
    /// (Tests/Fixtures/specification-example.yaml, shared with the compiler's tests).
    static let specificationExample = try! String(
        contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/specification-example.yaml"), encoding: .utf8)

    func parse(_ text: String) -> (PolicyFile?, [Diagnostic]) {
        PolicySetLoader.parse(text: text, path: "p.yaml")
    }

    func testTheSpecificationExampleParsesCompletely() throws {
        let (file, diagnostics) = parse(Self.specificationExample)
        XCTAssertEqual(diagnostics, [])
        let f = try XCTUnwrap(file)
        XCTAssertEqual(f.name.value, "engineering")
        XCTAssertEqual(f.description, "Engineering access to production")
        XCTAssertEqual(f.defaults.cacheTTL, .seconds(5))
        XCTAssertEqual(f.defaults.rateLimit, Rate(count: 100, seconds: 1))
        XCTAssertEqual(f.identities.map(\.name.value), ["alice-laptop", "bob-phone"])
        XCTAssertEqual(f.identities[0].tags.map(\.value), ["managed", "eu"])
        XCTAssertEqual(f.groups.first { $0.name.value == "oncall" }?.members.map(\.value), [.group("sre"), .user("erin@example.com")])
        XCTAssertEqual(f.hosts.first { $0.name.value == "web" }?.prefixes.map(\.value.description), ["10.30.0.0/16", "fd00:30::/64"])
        XCTAssertEqual(f.rules.map(\.id), (1...6).map { "engineering/\($0)" } + ["engineering/office-hours-ops"])
        XCTAssertEqual(f.tests.count, 3)
        // Column of a rule inside the sequence item: "  - allow" puts the rule at column 5.
        XCTAssertEqual(f.rules[0].span.start, SourceLocation(file: "p.yaml", line: 18, column: 5))
        XCTAssertEqual(f.rules[6].span.start, SourceLocation(file: "p.yaml", line: 25, column: 11))
    }

    func testQuotedRuleColumnsSkipTheQuote() throws {
        let (_, d) = parse("policy: p\nrules:\n  - \"allow * -> web:99999/tcp\"\n")
        XCTAssertEqual(d.first?.span?.start, SourceLocation(file: "p.yaml", line: 3, column: 21))
    }

    func testYAMLSyntaxErrorsAreLocated() {
        let (file, d) = parse("policy: p\nrules:\n  - allow * -> a:1\n   - bad: [\n")
        XCTAssertNil(file)
        XCTAssertEqual(d.first?.code, .yaml)
        XCTAssertEqual(d.first?.span?.start.line, 4)
    }

    func testUnknownKeysSuggestTheKnownOne() {
        let (_, d) = parse("policy: p\nrule:\n  - allow * -> a:1\n")
        XCTAssertEqual(d.first?.code, .schema)
        XCTAssertEqual(d.first?.help, "did you mean 'rules'?")
        XCTAssertEqual(d.first?.span?.start, SourceLocation(file: "p.yaml", line: 2, column: 1))
    }

    func testMissingPolicyNameIsAnError() {
        let (file, d) = parse("rules:\n  - allow * -> a:1\n")
        XCTAssertNil(file)
        XCTAssertEqual(d.first?.code, .schema)
    }

    func testSchemaFaultsAreAllReportedInOnePass() {
        let text = """
            policy: p
            defaults: { cache_ttl: forever, rate_limit: lots, colour: red }
            identities:
              a: { user: a@example.com }
              b: { key: "k", tag: [x] }
            groups:
              g: "not a list"
            hosts:
              h: 10.0.0.0/33
            rules:
              - allow: everything
              - name: n
            tests:
              - allow a -> 10.0.0.1/tcp
            """
        let (_, d) = parse(text)
        let codes = d.map(\.code)
        XCTAssertEqual(codes.filter { $0 == .invalidDuration }.count, 1)
        XCTAssertEqual(codes.filter { $0 == .invalidRate }.count, 1)
        XCTAssertEqual(codes.filter { $0 == .invalidAddress }.count, 1)
        XCTAssertGreaterThanOrEqual(codes.filter { $0 == .schema }.count, 6)
        XCTAssertTrue(d.allSatisfy { $0.span != nil }, "every diagnostic has a location")
    }

    func testBlockListsOuterPrefixesAndRefusesHostBits() throws {
        let (file, d) = parse("policy: p\nblock:\n  - 203.0.113.0/24\n  - 198.51.100.7\n  - 192.0.2.1/24\n")
        XCTAssertEqual(try XCTUnwrap(file).blocks.map(\.value.description), ["203.0.113.0/24", "198.51.100.7/32"])
        XCTAssertEqual(d.map(\.code), [.hostBitsSet])
        XCTAssertEqual(d.first?.span?.start, SourceLocation(file: "p.yaml", line: 5, column: 5))
    }

    func testEmptySectionsAreAllowed() throws {
        let (file, d) = parse("policy: p\nidentities:\ngroups:\nrules:\n")
        XCTAssertEqual(d, [])
        XCTAssertEqual(try XCTUnwrap(file).rules.count, 0)
    }
}
