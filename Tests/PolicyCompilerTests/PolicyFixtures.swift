import Foundation
import PolicyCompiler
import PolicyLang

/// Writes policy texts into a fresh temporary directory and compiles them.
enum PolicyFixtures {
    static let keys = [
        "2p5TPYIYr9VbaYCnwQTP01qipoVdOiHJMRbwAHXIIh4=", "vdi2GU6KcYDBSO1SuIqwWn7EyEpVjuyl3m35R8IqPkw=",
        "d1lZKB/SMO+Wod6QF9zf1lYp5Hp8fQEeWflcfrdCLhE=", "3jQNPXQ8x0/V5Kx/CUJTHf1dtQmsITjK9H3gvpeu/CQ=",
        "74EpirVsn59kBLUiXGS4C3Xuxt43y4EAoTJIx90rTSs=", "H116OEDWn/TCvgHvySSus2HBUfRzZSTaIDsCSDfQ4HA=",
    ]

    static func directory(_ files: [String: String]) -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ztp-test-\(UUID().uuidString)").path
        try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for (name, text) in files {
            FileManager.default.createFile(atPath: "\(dir)/\(name)", contents: Data(text.utf8))
        }
        return dir
    }

    static func compile(_ files: [String: String], lint: Bool = true, tests: Bool = true) -> Compilation {
        var options = PolicyCompiler.Options()
        options.lint = lint
        options.runTests = tests
        options.now = 1_795_424_400_000  // Monday 2026-11-23 09:00 UTC
        let dir = directory(files)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        return PolicyCompiler.compile(paths: [dir], options: options)
    }

    /// A small organisation: identities with users and tags, nested groups, v4 and v6 hosts.
    static func organisation(rules: [String], tests: [String] = []) -> String {
        """
        policy: org
        identities:
          alice-laptop: { key: "\(keys[0])", user: alice@example.com, tags: [managed, eu] }
          bob-phone:    { key: "\(keys[1])", user: bob@example.com, tags: [unmanaged] }
          carol-laptop: { key: "\(keys[2])", user: carol@example.com, tags: [managed] }
          erin-laptop:  { key: "\(keys[3])", user: erin@example.com, tags: [managed] }
        groups:
          eng: [alice@example.com, bob@example.com]
          sre: [carol@example.com]
          oncall: [group:sre, erin@example.com]
        hosts:
          prod-db: 10.10.0.0/24
          ci: 10.20.1.5
          web: [10.30.0.0/16, fd00:30::/64]
        rules:
        \(rules.map { "  - \($0)" }.joined(separator: "\n"))
        tests:
        \(tests.map { "  - \($0)" }.joined(separator: "\n"))

        """
    }
}

extension Compilation {
    /// Decides for an identity by name at a fixed instant; `destination` as in tests: `10.0.0.1:22/tcp`.
    func decide(_ who: String, _ destination: String, at seconds: Int64 = 1_795_424_400) -> Decision {
        var parser = RuleParser("\(who) -> \(destination)", at: SourceLocation(file: "-", line: 1, column: 1))
        let (_, request, _) = try! parser.parseRequestLine()
        return tables!.decide(identityNamed: who, request, at: seconds * 1000)
    }

    func ruleIDs(_ d: Decision) -> [String] { tables!.rules(of: d).map { tables!.rules[Int($0)].id } }
    var codes: [DiagnosticCode] { diagnostics.map(\.code) }
}
