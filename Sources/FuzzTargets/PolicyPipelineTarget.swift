import PolicyCompiler
import PolicyLang

extension FuzzTargets {
    /// The instant the policies' own `tests:` are decided at, fixed so that a replay decides the
    /// same way on any day (2026-11-23T09:00:00Z).
    static let policyTestInstant: Int64 = 1_795_424_400_000

    /// The whole check pipeline on one policy file: YAML front, rule DSL, resolution, lint,
    /// lowering, the file's tests, the three diagnostic renderers and, when tables come out,
    /// the bundle round trip.
    ///
    /// Invariants: the pipeline ends in tables or in an error, never both or neither; every
    /// diagnostic (and note) points into the one file, at a line it has; tables survive
    /// `PolicyBundle.encode` then `decode` unchanged.
    public static func policyPipeline(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        let path = "fuzz.yaml"
        let source = SourceFile(path: path, text: text)
        let (file, parseDiagnostics) = PolicySetLoader.parse(text: text, path: path)
        let parsed = ParsedPolicySet(files: file.map { [$0] } ?? [], sources: [path: source])
        var options = PolicyCompiler.Options()
        options.now = policyTestInstant
        let compilation = PolicyCompiler.compile(parsed, initialDiagnostics: parseDiagnostics, options: options)

        checkLocations(compilation.diagnostics, path: path, lineCount: max(1, source.lines.count))
        _ = HumanDiagnosticRenderer(sources: compilation.sources).render(compilation.diagnostics)
        _ = JSONDiagnosticRenderer().render(compilation.diagnostics)
        _ = SARIFDiagnosticRenderer(toolVersion: "fuzz").render(compilation.diagnostics)

        if let tables = compilation.tables {
            precondition(!compilation.hasErrors, "tables despite an error")
            precondition((try? PolicyBundle.decode(PolicyBundle.encode(tables))) == tables, "bundle round trip changed the tables")
        } else {
            precondition(compilation.hasErrors, "no tables but no error")
        }
    }
}
