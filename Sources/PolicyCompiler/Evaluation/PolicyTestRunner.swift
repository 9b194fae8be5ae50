import PolicyLang

/// The outcome of one line of a `tests:` block.
package struct PolicyTestResult: Sendable {
    /// The test line.
    package var test: PolicyTest
    /// What the compiled tables decided for it.
    package var decision: Decision
    /// Whether the decision's verdict is the expected one.
    package var passed: Bool { decision.verdict == test.expect }
    /// The error to report when it failed, pointing at the test and at the rules involved.
    package var diagnostic: Diagnostic?
}

/// Runs the policy's own `tests:` against the compiled tables, so that what is tested is what
/// the enforcer will run.
package enum PolicyTestRunner {
    /// Runs every test of `set` against `tables`, tests without `at` decided at `now` (Unix ms); one result
    /// per test, in file order.
    package static func run(_ set: ResolvedPolicySet, _ tables: DecisionTables, now: Int64) -> [PolicyTestResult] {
        do {
            return try run(set, tables, now: now, budget: nil)
        } catch {
            preconditionFailure("a test run without a budget cannot be interrupted")
        }
    }

    /// ``run(_:_:now:)`` under a compile budget, checked per test.
    package static func run(
        _ set: ResolvedPolicySet, _ tables: DecisionTables, now: Int64, budget: CompileBudget?
    ) throws(CompileInterrupted) -> [PolicyTestResult] {
        var results: [PolicyTestResult] = []
        for file in set.parsed.files {
            for test in file.tests {
                try budget?.check()
                let identity =
                    tables.identity(named: test.subject.value)
                    ?? (try? PublicKey(base64: test.subject.value)).flatMap { tables.identity(forKey: $0) }
                let at = test.at.map { $0 * 1000 } ?? now
                let d = tables.decide(
                    identity: identity, address: test.request.address, port: test.request.port,
                    ipProtocol: test.request.proto.ipProtocolNumber, at: at)
                var result = PolicyTestResult(test: test, decision: d, diagnostic: nil)
                if !result.passed {
                    result.diagnostic = .error(
                        .testFailed,
                        "test expects \(test.expect.rawValue) for \(test.subject.value) -> \(test.request), but the decision is \(d.verdict.rawValue) (\(explain(d, tables)))",
                        at: test.span, notes: notes(d, set, tables))
                }
                results.append(result)
            }
        }
        return results
    }

    /// A short account of why a decision came out as it did.
    package static func explain(_ d: Decision, _ tables: DecisionTables) -> String {
        let ids = tables.rules(of: d).map { tables.rules[Int($0)].id }.joined(separator: ", ")
        switch d.reason {
        case .allowed: return "allowed by \(ids)"
        case .denied:
            let lost = tables.overridden(of: d).map { tables.rules[Int($0)].id }
            return "denied by \(ids)" + (lost.isEmpty ? "" : "; it overrides \(lost.joined(separator: ", "))")
        case .noRuleMatched: return "default deny: no rule matches"
        case .unknownIdentity: return "the identity is not in the policy"
        }
    }

    static func notes(_ d: Decision, _ set: ResolvedPolicySet, _ tables: DecisionTables) -> [Diagnostic.Note] {
        tables.rules(of: d).map { Diagnostic.Note("\(d.verdict == .allow ? "allowed" : "denied") by rule \(set.rules[Int($0)].id)", at: set.rules[Int($0)].rule.span) }
            + tables.overridden(of: d).map { Diagnostic.Note("rule \(set.rules[Int($0)].id) matched but lost to the deny", at: set.rules[Int($0)].rule.span) }
    }
}
