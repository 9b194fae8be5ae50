import ArgumentParser
import PolicyCompiler
import PolicyLang

/// `ztpc check`: parse, resolve, lint and test.
struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Parse, resolve and lint policies, and run their tests.",
        discussion: """
            Prints every finding as file:line:column with the source line and a caret. Errors: syntax, \
            undefined names, duplicates, group cycles, invalid keys/addresses/ports/rates/durations/time \
            zones, failing tests. Warnings: unreachable and redundant rules, unused groups/hosts/identities, \
            allow-all rules.
            """)

    @Argument(help: "Policy directories or files.")
    var paths: [String]

    @Option(help: "Output format: human, json or sarif (SARIF 2.1.0).")
    var format: OutputFormat = .human

    @Flag(help: "Treat warnings as errors for the exit status.")
    var strict = false

    @Flag(help: "Do not run the policies' tests: blocks.")
    var noTests = false

    func run() throws {
        var options = PolicyCompiler.Options()
        options.runTests = !noTests
        let compilation = PolicyCompiler.compile(paths: paths, options: options)
        DiagnosticPrinter(format: format).print(compilation.diagnostics, sources: compilation.sources)
        if compilation.diagnostics.contains(where: { $0.code == .io }) { throw ExitCode(Status.usage) }
        let failing = compilation.diagnostics.contains {
            $0.severity == .error || (strict && $0.severity == .warning)
        }
        if failing { throw ExitCode(Status.findings) }
        if format == .human && compilation.diagnostics.isEmpty {
            let rules = compilation.resolved?.rules.count ?? 0
            let files = compilation.sources.count
            Console.out("ok: \(files) file\(files == 1 ? "" : "s"), \(rules) rule\(rules == 1 ? "" : "s"), no findings\n")
        }
    }
}
