import Foundation
import XCTest
import PolicyLang
@testable import PolicyCompiler

final class PolicyFormatterTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Every key out of order, block and flow styles mixed, comments everywhere, odd spacing.
    static let messy = """
        # header comment: stays first
        rules:   # the rules
          - allow   group:eng ->  ci:443/tcp    # spaced out
          # a comment above a named rule
          - {rule: "allow group:sre -> ci:22/tcp", name: sre-ssh}
          - "allow * -> 10.0.0.53:53"
          - allow group:eng
            -> web:80/tcp
          - rule: "allow group:eng -> ci:8443/tcp if tag:managed"
          - 'deny user:bob@example.com -> ci:8443/tcp'


        tests:
          - allow alice-laptop ->   10.20.1.5:443/tcp
          - "deny bob-phone -> 10.20.1.5:8443/tcp"   # the deny wins
        identities:
          bob-phone:
            user: bob@example.com   # bob's user
            key: vdi2GU6KcYDBSO1SuIqwWn7EyEpVjuyl3m35R8IqPkw=
            tags: [unmanaged]
          alice-laptop: { tags: [managed], key: '2p5TPYIYr9VbaYCnwQTP01qipoVdOiHJMRbwAHXIIh4=', user: alice@example.com, allowed_ips: ["fd00:99::2/128", 10.99.0.2/32] }
        policy: messy
        description: "a file: every shape at once"
        defaults: { rate_limit: 50/s, cache_ttl: 3s }   # flow defaults
        hosts:
          ci: 10.20.1.5
          web:
            - 10.30.0.0/16
            - fd00:30::/64    # v6
        block: [203.0.113.0/24]
        groups:
          eng: [alice@example.com, bob@example.com]
          sre:
            - carol@example.com
          empty: []
        # trailing comment at the end

        """

    private func shippedFiles() throws -> [String] {
        var files: [String] = []
        for dir in ["policies", "Tests/Fixtures"] {
            let path = Self.root.appendingPathComponent(dir).path
            for name in try FileManager.default.contentsOfDirectory(atPath: path).sorted() where name.hasSuffix(".yaml") {
                files.append("\(path)/\(name)")
            }
        }
        return files
    }

    /// The bundle bytes with what depends on layout and place (source hash, rule files and positions) cleared.
    private func layoutFreeBundle(_ files: [String: String]) throws -> [UInt8] {
        let c = PolicyFixtures.compile(files, lint: false, tests: true)
        XCTAssertFalse(c.hasErrors, "\(c.diagnostics.map(\.message))")
        var t = try XCTUnwrap(c.tables)
        t.sourceHash = []
        for i in t.rules.indices {
            t.rules[i].file = ""
            t.rules[i].line = 0
            t.rules[i].column = 0
        }
        return PolicyBundle.encode(t)
    }

    private func comments(_ text: String) -> [String] {
        let lines = SourceLines(text)
        return lines.comments.keys.sorted().map { lines.comments[$0]!.text }
    }

    func testShippedPolicyFilesAreInTheCanonicalLayout() throws {
        let files = try shippedFiles()
        XCTAssertGreaterThanOrEqual(files.count, 5)
        for file in files {
            let text = try String(contentsOfFile: file, encoding: .utf8)
            XCTAssertEqual(try PolicyFormatter.format(text), text, "\(file) is not formatted: run ztpc fmt")
        }
    }

    func testFormattingKeepsEveryDecisionAndEveryComment() throws {
        let formatted = try PolicyFormatter.format(Self.messy)
        XCTAssertNotEqual(formatted, Self.messy)
        XCTAssertTrue(try layoutFreeBundle(["p.yaml": formatted]) == layoutFreeBundle(["p.yaml": Self.messy]), "the same tables")
        XCTAssertEqual(Set(comments(formatted)), Set(comments(Self.messy)))
        XCTAssertTrue(formatted.hasPrefix("# header comment: stays first\npolicy: messy\ndescription: \"a file: every shape at once\"\n"), formatted)
        XCTAssertTrue(formatted.contains("\n  - name: sre-ssh\n    rule: allow group:sre -> ci:22/tcp\n"), formatted)
        XCTAssertTrue(formatted.contains("\n  - allow group:eng -> web:80/tcp\n"), "one rule a line: \(formatted)")
        XCTAssertTrue(formatted.contains("\n  bob-phone:    { key: vdi2GU6KcYDBSO1SuIqwWn7EyEpVjuyl3m35R8IqPkw=, user: bob@example.com, tags: [unmanaged] }\n"), formatted)
        XCTAssertTrue(formatted.contains("\ndefaults:"), formatted)
        XCTAssertTrue(formatted.contains("\n  cache_ttl: 3s\n  rate_limit: 50/s\n"), formatted)
        XCTAssertTrue(formatted.hasSuffix("# trailing comment at the end\n"), formatted)
    }

    func testFormattingTwiceChangesNothing() throws {
        var texts = [Self.messy]
        for file in try shippedFiles() { texts.append(try String(contentsOfFile: file, encoding: .utf8)) }
        for text in texts {
            let once = try PolicyFormatter.format(text)
            XCTAssertEqual(try PolicyFormatter.format(once), once)
        }
    }

    func testTheExamplePoliciesFormatToTheSameTables() throws {
        var original: [String: String] = [:], formatted: [String: String] = [:]
        for file in try shippedFiles() where file.contains("/policies/") {
            let name = (file as NSString).lastPathComponent
            let text = try String(contentsOfFile: file, encoding: .utf8)
            // Scramble the layout first (lines with comments aside: those are kept as written).
            let scrambled = text.split(separator: "\n", omittingEmptySubsequences: false).map { line in
                line.contains("#") ? String(line) : line.replacingOccurrences(of: " -> ", with: "  ->   ").replacingOccurrences(of: ": [", with: ":    [")
            }.joined(separator: "\n")
            XCTAssertNotEqual(scrambled, text, "\(name): the formatter must have work to do")
            original[name] = scrambled
            formatted[name] = try PolicyFormatter.format(scrambled)
            XCTAssertEqual(formatted[name], text, "\(name) comes back to its canonical form")
        }
        XCTAssertTrue(try layoutFreeBundle(formatted) == layoutFreeBundle(original), "the same tables")
    }

    func testRandomRulesFormatToTheSameTables() throws {
        var rng = SplitMix(seed: 11)
        let pieces = ["allow", "deny"]
        let subjects = ["*", "group:eng", "tag:managed", "user:bob@example.com", "alice-laptop", "group:eng,alice-laptop"]
        let targets = ["ci:22/tcp", "web:80-90/tcp", "[fd00:30::/80]:*", "*:*/icmp", "10.0.0.0/8:443 ci:8443/tcp", "prod-db:*"]
        let tails = ["", " if tag:managed", " rate 5/s ttl 2s", " if time mon-fri 08:00-18:00 Europe/Berlin", " if not (tag:eu or group:sre)"]
        for _ in 0..<20 {
            var rules: [String] = []
            for _ in 0..<6 {
                let blank = String(repeating: " ", count: Int(rng.next() % 3) + 1)
                let rule = [pieces.randomElement(using: &rng)!, subjects.randomElement(using: &rng)!, "->", targets.randomElement(using: &rng)!].joined(separator: blank)
                    + tails.randomElement(using: &rng)!
                rules.append(rng.next() % 3 == 0 ? "\"\(rule)\"" : rng.next() % 4 == 0 ? "{ name: r\(rules.count), rule: \"\(rule)\" }" : rule)
            }
            let text = PolicyFixtures.organisation(rules: rules)
            let formatted = try PolicyFormatter.format(text)
            XCTAssertEqual(try PolicyFormatter.format(formatted), formatted)
            XCTAssertTrue(try layoutFreeBundle(["p.yaml": formatted]) == layoutFreeBundle(["p.yaml": text]), formatted)
        }
    }

    func testEmptyCollectionsQuotedHashesAndBlockDescriptionsSurvive() throws {
        let text = """
            tests: []
            identities: {}
            rules:
              - 'allow * -> 10.0.0.3:22/tcp if tag:a'   # real
            description: |
              two lines
              # of text, not a comment

            policy: "p"
            hosts:
              db: "10.0.0.1"   # a quoted value: # stays quoted

            """
        let formatted = try PolicyFormatter.format(text)
        XCTAssertEqual(formatted, """
            description: |
              two lines
              # of text, not a comment

            policy: "p"
            identities: {}
            hosts:
              db: "10.0.0.1"   # a quoted value: # stays quoted
            rules:
              - allow * -> 10.0.0.3:22/tcp if tag:a     # real
            tests: []

            """.replacingOccurrences(of: "description: |\n  two lines\n  # of text, not a comment\n\npolicy: \"p\"\n", with: "policy: \"p\"\ndescription: |\n  two lines\n  # of text, not a comment\n\n"))
        XCTAssertEqual(try PolicyFormatter.format(formatted), formatted)
        XCTAssertTrue(try layoutFreeBundle(["p.yaml": formatted]) == layoutFreeBundle(["p.yaml": text]))
    }

    func testUnreadableYAMLIsRefused() {
        XCTAssertThrowsError(try PolicyFormatter.format("policy: p\nrules: [unclosed\n"))
        XCTAssertThrowsError(try PolicyFormatter.format("- just\n- a list\n"))
        XCTAssertThrowsError(try PolicyFormatter.format("policy: p\nrules:\n  - |\n    allow * -> 10.0.0.1:22/tcp\n"))
    }
}
