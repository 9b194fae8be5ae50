import Foundation
import PolicyLang

/// The outcome of compiling a policy set: the tables (when there were no errors), the resolved
/// set (for explain and lint), and every diagnostic of every stage.
public struct Compilation: Sendable {
    /// The compiled tables; nil when any stage reported an error (including a failing policy test).
    public var tables: DecisionTables?
    /// The resolved set, for explain, lint and diff; nil when parsing or resolution stopped early.
    public var resolved: ResolvedPolicySet?
    /// Every diagnostic of every stage, in the order the stages ran.
    public var diagnostics: [Diagnostic]
    /// Source texts by path, for rendering diagnostics with their lines.
    package var sources: [String: SourceFile]

    /// Whether any diagnostic is an error: then ``tables`` is nil and nothing may be installed.
    public var hasErrors: Bool { diagnostics.contains { $0.severity == .error } }
}

/// Front door of the compiler: parse, resolve, lint, lower, and run the policy's own tests.
public enum PolicyCompiler {
    /// What a compile does beyond parsing, resolving and lowering, and within which bounds.
    public struct Options: Sendable {
        /// Run the lint checks (warnings).
        public var lint: Bool = true
        /// Run the `tests:` blocks; a failing test is an error.
        public var runTests: Bool = true
        /// The instant tests without `at` are decided at, in Unix milliseconds.
        public var now: Int64 = Int64(Date().timeIntervalSince1970 * 1000)
        /// Bounds on the input (sizes, entries, nesting); past one, the compile fails with its
        /// diagnostic.
        package var limits: PolicyLimits = .default
        /// A deadline and cancellation token checked through every stage; nil for none. A
        /// compile that runs out of it fails with `policy-too-complex` (or `compile-cancelled`).
        package var budget: CompileBudget? = nil

        /// Lint and tests on, tests decided at the current time, the default limits, no budget.
        public init() {}
    }

    /// Compiles the policy files found at `paths` (directories or files).
    public static func compile(paths: [String], options: Options = Options()) -> Compilation {
        let parsed: ParsedPolicySet, parseDiagnostics: [Diagnostic]
        do {
            (parsed, parseDiagnostics) = try PolicySetLoader.load(paths: paths, limits: options.limits, budget: options.budget)
        } catch {
            return Compilation(tables: nil, resolved: nil, diagnostics: [error.diagnostic], sources: [:])
        }
        return compile(parsed, initialDiagnostics: parseDiagnostics, options: options)
    }

    /// Compiles already parsed files.
    public static func compile(
        _ parsed: ParsedPolicySet, initialDiagnostics: [Diagnostic] = [], options: Options = Options()
    ) -> Compilation {
        var diagnostics = initialDiagnostics
        var resolved: ResolvedPolicySet? = nil
        do {
            return try stages(parsed, &diagnostics, &resolved, options)
        } catch {
            return Compilation(
                tables: nil, resolved: resolved, diagnostics: diagnostics + [error.diagnostic], sources: parsed.sources)
        }
    }

    /// Resolve, lint, lower and test, under the options' budget.
    private static func stages(
        _ parsed: ParsedPolicySet, _ diagnostics: inout [Diagnostic], _ resolvedOut: inout ResolvedPolicySet?,
        _ options: Options
    ) throws(CompileInterrupted) -> Compilation {
        let budget = options.budget
        let (resolved, resolveDiagnostics) = try Resolver.resolve(parsed, limits: options.limits, budget: budget)
        resolvedOut = resolved
        diagnostics += resolveDiagnostics
        // Lint a set only once it parses and resolves: a rule dropped for a syntax error would
        // make its hosts and groups look unused.
        if options.lint && !diagnostics.contains(where: { $0.severity == .error }) {
            diagnostics += try Linter.lint(resolved, budget: budget)
        }
        let errors = diagnostics.contains { $0.severity == .error }
        guard !errors else {
            return Compilation(tables: nil, resolved: resolved, diagnostics: diagnostics, sources: parsed.sources)
        }
        let tables = try TableBuilder.build(resolved, sourceHash: sourceHash(parsed), limits: options.limits, budget: budget)
        if options.runTests {
            diagnostics += try PolicyTestRunner.run(resolved, tables, now: options.now, budget: budget).compactMap(\.diagnostic)
        }
        let failed = diagnostics.contains { $0.severity == .error }
        return Compilation(
            tables: failed ? nil : tables, resolved: resolved, diagnostics: diagnostics, sources: parsed.sources)
    }

    /// SHA-256 over each file's path and text, in path order.
    static func sourceHash(_ parsed: ParsedPolicySet) -> [UInt8] {
        var bytes: [UInt8] = []
        for path in parsed.sources.keys.sorted() {
            bytes += Array(path.utf8) + [0] + Array(parsed.sources[path]!.text.utf8) + [0]
        }
        return SHA256.hash(bytes)
    }
}
