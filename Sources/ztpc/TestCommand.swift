import ArgumentParser
import PolicyCompiler
import PolicyLang

/// `ztpc test`: run the policies' `tests:` blocks.
struct TestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test",
        abstract: "Run the tests: blocks of a policy set against its compiled tables.")

    @Argument(help: "Policy directories or files.")
    var paths: [String]

    @Option(help: "Decide tests that have no 'at' at this ISO 8601 instant instead of now.")
    var at: String?

    func run() throws {
        var options = PolicyCompiler.Options()
        options.runTests = false
        options.lint = false
        if let at {
            guard let seconds = RuleParser.parseInstant(at) else { throw UsageFailure("invalid --at time '\(at)'") }
            options.now = seconds * 1000
        }
        let compilation = PolicyCompiler.compile(paths: paths, options: options)
        let printer = DiagnosticPrinter(format: .human)
        guard let tables = compilation.tables, let resolved = compilation.resolved else {
            printer.print(compilation.diagnostics, sources: compilation.sources)
            throw ExitCode(compilation.diagnostics.contains { $0.code == .io } ? Status.usage : Status.findings)
        }
        let results = PolicyTestRunner.run(resolved, tables, now: options.now)
        var failed: [Diagnostic] = []
        for r in results {
            let line = "\(r.test.expect.rawValue) \(r.test.subject.value) -> \(r.test.request)"
            if r.passed {
                Console.out("PASS \(line): \(r.decision.summary(tables))\n")
            } else {
                Console.out("FAIL \(line): expected \(r.test.expect.rawValue), got \(r.decision.summary(tables))\n")
                if let d = r.diagnostic { failed.append(d) }
            }
        }
        if !failed.isEmpty { printer.print(failed, sources: compilation.sources) }
        Console.out("\(results.count - failed.count) passed, \(failed.count) failed\n")
        if !failed.isEmpty { throw ExitCode(Status.findings) }
    }
}
