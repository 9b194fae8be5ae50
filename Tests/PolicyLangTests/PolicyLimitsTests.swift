import Foundation
import XCTest
@testable import PolicyLang

/// Each limit of ``PolicyLimits``, passed, gives its own code at the place that passes it.
final class PolicyLimitsTests: XCTestCase {
    var dir = ""

    override func setUp() {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("limits-\(UUID().uuidString)").path
        try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: dir)
    }

    func write(_ name: String, _ text: String) {
        XCTAssertTrue(FileManager.default.createFile(atPath: "\(dir)/\(name)", contents: Data(text.utf8)))
    }

    func load(_ limits: PolicyLimits = .default) -> (ParsedPolicySet, [Diagnostic]) {
        PolicySetLoader.load(paths: [dir], limits: limits)
    }

    func parse(_ text: String, _ limits: PolicyLimits) -> [Diagnostic] {
        PolicySetLoader.parse(text: text, path: "p.yaml", limits: limits).1
    }

    func testAFiftyMegabyteHostsFileIsRefusedUnread() throws {
        let path = "\(dir)/hosts.yaml"
        FileManager.default.createFile(atPath: path, contents: Data("policy: big\nhosts:\n".utf8))
        let handle = try XCTUnwrap(FileHandle(forWritingAtPath: path))
        handle.seekToEndOfFile()
        let block = Data((0..<10_000).map { "  h\($0): 10.\($0 >> 8 & 255).\($0 & 255).1\n" }.joined().utf8)
        while handle.offsetInFile < 50_000_000 { handle.write(block) }
        try handle.close()

        let (set, diagnostics) = load()
        XCTAssertEqual(diagnostics.map(\.code), [.fileTooLarge])
        let d = diagnostics[0]
        XCTAssertTrue(d.message.hasPrefix("\(path) is 47."), d.message)
        XCTAssertTrue(d.message.hasSuffix("MiB; a policy file is at most 8.0 MiB"), d.message)
        XCTAssertEqual(d.span?.start, SourceLocation(file: path, line: 1, column: 1))
        XCTAssertTrue(set.files.isEmpty && set.sources.isEmpty, "nothing was read or parsed")
    }

    func testFilesTogetherPastTheTotalAreRefused() {
        write("a.yaml", "policy: a\ndescription: \(String(repeating: "x", count: 60))\n")
        write("b.yaml", "policy: b\ndescription: \(String(repeating: "x", count: 60))\n")
        var limits = PolicyLimits()
        limits.maxTotalBytes = 100
        let (set, diagnostics) = load(limits)
        XCTAssertEqual(diagnostics.map(\.code), [.fileTooLarge])
        XCTAssertEqual(diagnostics.first?.message, "the policy files together are 168 bytes; the limit is 100 bytes")
        XCTAssertTrue(set.files.isEmpty)
    }

    func testADirectoryWithTooManyFilesIsRefused() {
        for n in 1...3 { write("p\(n).yaml", "policy: p\(n)\n") }
        var limits = PolicyLimits()
        limits.maxFilesPerDirectory = 2
        let (set, diagnostics) = load(limits)
        XCTAssertEqual(diagnostics.map(\.code), [.tooManyFiles])
        XCTAssertEqual(diagnostics.first?.message, "\(dir) holds 3 policy files; the limit is 2")
        XCTAssertTrue(set.files.isEmpty)
    }

    func testASectionPastTheEntryLimitIsReportedAtTheSection() throws {
        var limits = PolicyLimits()
        limits.maxSectionEntries = 3
        let d = parse("policy: p\nhosts:\n  a: 10.0.0.1\n  b: 10.0.0.2\n  c: 10.0.0.3\n  d: 10.0.0.4\n", limits)
        XCTAssertEqual(d.map(\.code), [.tooManyEntries])
        XCTAssertEqual(d.first?.message, "4 hosts; the limit is 3")
        XCTAssertEqual(d.first?.span?.start.line, 3)
        XCTAssertEqual(d.first?.span?.start.column, 3)
    }

    func testTheEntryLimitCountsOverAllFilesOfASet() throws {
        write("a.yaml", "policy: a\nrules:\n  - allow * -> 10.0.0.1:1/tcp\n  - allow * -> 10.0.0.1:2/tcp\n")
        write("b.yaml", "policy: b\nrules:\n  - allow * -> 10.0.0.1:3/tcp\n  - allow * -> 10.0.0.1:4/tcp\n")
        var limits = PolicyLimits()
        limits.maxSectionEntries = 3
        let (_, diagnostics) = load(limits)
        XCTAssertEqual(diagnostics.map(\.code), [.tooManyEntries])
        XCTAssertEqual(diagnostics.first?.message, "the policy set has more than 3 rules entries")
        XCTAssertEqual(diagnostics.first?.span?.start, SourceLocation(file: "\(dir)/b.yaml", line: 4, column: 5), "the fourth rule")
    }

    func testAGroupWithTooManyMembersIsRefused() {
        var limits = PolicyLimits()
        limits.maxListItems = 2
        let d = parse("policy: p\ngroups:\n  eng: [a@example.com, b@example.com, c@example.com]\n", limits)
        XCTAssertEqual(d.map(\.code), [.tooManyEntries])
        XCTAssertEqual(d.first?.message, "3 members of group 'eng'; the limit is 2")
        XCTAssertEqual(d.first?.span?.start.line, 3)
        XCTAssertEqual(d.first?.span?.start.column, 8)
    }

    func testYAMLNestedPastTheLimitIsRefused() {
        var limits = PolicyLimits()
        limits.maxYAMLNesting = 4
        let d = parse("policy: p\nrules: [[[[allow]]]]\n", limits)
        XCTAssertEqual(d.map(\.code), [.yamlTooDeep])
        XCTAssertEqual(d.first?.span?.start.line, 2)
        XCTAssertEqual(d.first?.span?.start.column, 10, "at the collection that passes the limit")
        XCTAssertEqual(parse("policy: p\nrules: [[allow]]\n", limits).map(\.code), [.schema], "within it: parsed as usual")
    }

    func testAliasesThatExpandTheFileFarBeyondItsSizeAreRefused() {
        var text = "policy: p\nx0: &x0 [a, a, a, a, a, a, a, a]\n"
        for n in 1...8 { text += "x\(n): &x\(n) [\(Array(repeating: "*x\(n - 1)", count: 8).joined(separator: ", "))]\n" }
        text += "tags: *x8\n"
        let d = parse(text, .default)
        XCTAssertEqual(d.map(\.code), [.tooManyEntries])
        XCTAssertTrue(d.first?.message.hasPrefix("the file's YAML aliases expand to more than") == true, d.first?.message ?? "")
    }

    func testARuleLinePastTheLengthLimitIsRefusedAtTheRule() {
        var limits = PolicyLimits()
        limits.maxRuleLength = 30
        let d = parse("policy: p\nrules:\n  - allow * -> 10.0.0.1:22/tcp\n  - allow * -> 10.0.0.1:22/tcp, 10.0.0.2:22/tcp\n", limits)
        XCTAssertEqual(d.map(\.code), [.ruleTooLong])
        XCTAssertEqual(d.first?.message, "a rule of 43 characters; the limit is 30")
        XCTAssertEqual(d.first?.span?.start.line, 4)
        XCTAssertEqual(d.first?.span?.start.column, 5)
    }

    func testTenThousandRulesAndIdentitiesAreWellWithinTheDefaults() throws {
        var text = "policy: big\nidentities:\n"
        for n in 0..<10_000 {
            var key = [UInt8](repeating: 0, count: 32)
            key[0] = UInt8(n & 255)
            key[1] = UInt8(n >> 8)
            text += "  id\(n): { key: \"\(Data(key).base64EncodedString())\", user: u\(n)@example.com, tags: [t\(n % 9)] }\n"
        }
        text += "groups:\n" + (0..<100).map { g in "  g\(g): [\((0..<100).map { "u\(g * 100 + $0)@example.com" }.joined(separator: ", "))]\n" }.joined()
        text += "rules:\n" + (0..<10_000).map { "  - allow group:g\($0 % 100) -> 10.\($0 >> 8 & 255).\($0 & 255).0/24:\($0 % 1000 + 1)/tcp\n" }.joined()
        write("big.yaml", text)
        let (set, diagnostics) = load()
        XCTAssertEqual(diagnostics, [])
        XCTAssertEqual(set.files.first?.rules.count, 10_000)
        XCTAssertEqual(set.files.first?.identities.count, 10_000)
    }

    func testABudgetStopsTheLoad() {
        write("p.yaml", "policy: p\nrules:\n  - allow * -> 10.0.0.1:22/tcp\n")
        let budget = CompileBudget(seconds: nil)
        budget.cancel()
        XCTAssertThrowsError(try PolicySetLoader.load(paths: [dir], limits: .default, budget: budget)) {
            XCTAssertEqual($0 as? CompileInterrupted, .cancelled)
        }
    }
}
