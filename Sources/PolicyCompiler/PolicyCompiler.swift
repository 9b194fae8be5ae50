import Foundation
import PolicyLang

/// The outcome of compiling a policy set: the tables (when there were no errors), the resolved
/// set (for explain and lint), and every diagnostic of every stage.
public struct Compilation: Sendable {
    public var tables: DecisionTables?
    public var resolved: ResolvedPolicySet?
    public var diagnostics: [Diagnostic]
    public var sources: [String: SourceFile]

    public var hasErrors: Bool { diagnostics.contains { $0.severity == .error } }
}

/// Front door of the compiler: parse, resolve, lint, lower, and run the policy's own tests.
public enum PolicyCompiler {
    public struct Options: Sendable {
        /// Run the lint checks (warnings).
        public var lint: Bool = true
        /// Run the `tests:` blocks; a failing test is an error.
        public var runTests: Bool = true
        /// The instant tests without `at` are decided at, in Unix milliseconds.
        public var now: Int64 = Int64(Date().timeIntervalSince1970 * 1000)

        public init() {}
    }

    /// Compiles the policy files found at `paths` (directories or files).
    public static func compile(paths: [String], options: Options = Options()) -> Compilation {
        let (parsed, parseDiagnostics) = PolicySetLoader.load(paths: paths)
        return compile(parsed, initialDiagnostics: parseDiagnostics, options: options)
    }

    /// Compiles already parsed files.
    public static func compile(
        _ parsed: ParsedPolicySet, initialDiagnostics: [Diagnostic] = [], options: Options = Options()
    ) -> Compilation {
        var diagnostics = initialDiagnostics
        let (resolved, resolveDiagnostics) = Resolver.resolve(parsed)
        diagnostics += resolveDiagnostics
        // Lint a set only once it parses and resolves: a rule dropped for a syntax error would
        // make its hosts and groups look unused.
        if options.lint && !diagnostics.contains(where: { $0.severity == .error }) {
            diagnostics += Linter.lint(resolved)
        }
        let errors = diagnostics.contains { $0.severity == .error }
        guard !errors else {
            return Compilation(tables: nil, resolved: resolved, diagnostics: diagnostics, sources: parsed.sources)
        }
        let tables = TableBuilder.build(resolved, sourceHash: sourceHash(parsed))
        if options.runTests {
            diagnostics += PolicyTestRunner.run(resolved, tables, now: options.now).compactMap(\.diagnostic)
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
