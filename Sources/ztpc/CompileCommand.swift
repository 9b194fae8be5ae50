import ArgumentParser
import Foundation
import PolicyCompiler
import PolicyLang

/// `ztpc compile`: write a bundle.
struct CompileCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compile",
        abstract: "Compile a policy set to a versioned, checksummed decision-table bundle.",
        discussion: """
            The policy must check without errors and pass its tests. The file is replaced atomically. \
            With --sign, an Ed25519 signature by that key (ztpc keygen) is appended; edges with \
            trusted_publishers: load only bundles a trusted key signed.
            """)

    @Argument(help: "Policy directories or files.")
    var paths: [String]

    @Option(name: .shortAndLong, help: "The bundle file to write.")
    var output: String

    @Option(help: "Output format for diagnostics: human, json or sarif.")
    var format: OutputFormat = .human

    @Option(help: ArgumentHelp(
        "Sign the bundle with this secret key (from ztpc keygen; mode 0600). Repeat to add signatures.",
        valueName: "key"))
    var sign: [String] = []

    func run() throws {
        // Keys first: a refused key file stops the command before any compile or write.
        let keys = try loadSigningKeys(sign)
        let compilation = PolicyCompiler.compile(paths: paths)
        let errors = compilation.diagnostics.filter { $0.severity == .error }
        guard let tables = compilation.tables, errors.isEmpty else {
            DiagnosticPrinter(format: format).print(compilation.diagnostics, sources: compilation.sources)
            throw ExitCode(errors.contains { $0.code == .io } ? Status.usage : Status.findings)
        }
        var bytes = PolicyBundle.encode(tables)
        // encode's output is a well-formed bundle, which is all sign refuses.
        for key in keys { bytes = try SignedBundle.sign(bytes, with: key) }
        let temporary = output + ".tmp-\(getpid())"
        guard FileManager.default.createFile(atPath: temporary, contents: Data(bytes)) else {
            throw UsageFailure("cannot write \(temporary)")
        }
        guard rename(temporary, output) == 0 else {
            unlink(temporary)
            throw UsageFailure("cannot replace \(output): \(String(cString: strerror(errno)))")
        }
        let warnings = compilation.diagnostics.filter { $0.severity == .warning }.count
        Console.out(
            "wrote \(output): \(bytes.count) bytes, \(tables.rules.count) rules, \(tables.identities.count) identities, \(tables.classCount) classes"
                + keys.map { ", signed by \($0.publicKey)" }.joined()
                + (warnings > 0 ? " (\(warnings) warnings; run ztpc check)" : "") + "\n")
    }
}
