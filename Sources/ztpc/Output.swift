import ArgumentParser
import Foundation
import PolicyCompiler
import PolicyLang

/// Output formats for diagnostics.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case human, json, sarif
}

/// Writes to standard output and standard error.
enum Console {
    static func out(_ s: String) {
        FileHandle.standardOutput.write(Data(s.utf8))
    }

    static func err(_ s: String) {
        FileHandle.standardError.write(Data(s.utf8))
    }
}

/// Renders a compilation's diagnostics in the chosen format, and the summary line.
struct DiagnosticPrinter {
    var format: OutputFormat

    func print(_ diagnostics: [Diagnostic], sources: [String: SourceFile]) {
        var bag = DiagnosticBag()
        bag.append(contentsOf: diagnostics)
        let sorted = bag.sorted
        switch format {
        case .human:
            Console.out(HumanDiagnosticRenderer(sources: sources).render(sorted))
            let e = bag.errorCount, w = bag.warningCount
            if e + w > 0 {
                Console.out("\(e) error\(e == 1 ? "" : "s"), \(w) warning\(w == 1 ? "" : "s")\n")
            }
        case .json:
            Console.out(JSONDiagnosticRenderer().render(sorted))
        case .sarif:
            Console.out(SARIFDiagnosticRenderer(toolVersion: ZTPC.version).render(sorted))
        }
    }
}

/// Where decisions come from: a compiled bundle, or policy sources compiled on the spot.
enum TableSource {
    /// Loads `path` as a bundle if it starts with the bundle magic, else compiles it.
    static func load(_ path: String, printer: DiagnosticPrinter) throws -> (DecisionTables, Compilation?) {
        if let handle = FileHandle(forReadingAtPath: path) {
            let head = (try? handle.read(upToCount: 8)) ?? Data()
            try? handle.close()
            var isDirectory: ObjCBool = false
            FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
            if !isDirectory.boolValue && [UInt8](head) == PolicyBundle.magic {
                do {
                    return (try PolicyBundle.load(path: path), nil)
                } catch {
                    throw UsageFailure("\(path): \(error)")
                }
            }
        }
        var options = PolicyCompiler.Options()
        options.lint = false
        options.runTests = false
        let compilation = PolicyCompiler.compile(paths: [path], options: options)
        guard let tables = compilation.tables else {
            printer.print(compilation.diagnostics.filter { $0.severity == .error }, sources: compilation.sources)
            if compilation.diagnostics.contains(where: { $0.code == .io }) { throw ExitCode(Status.usage) }
            throw ExitCode(Status.findings)
        }
        return (tables, compilation)
    }
}

extension Decision {
    /// `allow (allowed by engineering/1; ttl 5s)`.
    func summary(_ tables: DecisionTables) -> String {
        "\(verdict.rawValue) (\(PolicyTestRunner.explain(self, tables)))"
    }
}

extension Duration {
    init(ms: Int64) { self.init(milliseconds: ms) }
}

/// Formats Unix milliseconds as an ISO 8601 UTC instant.
func iso8601(milliseconds: Int64) -> String {
    if milliseconds == .max { return "never" }
    let f = ISO8601DateFormatter()
    f.formatOptions = [.withInternetDateTime]
    return f.string(from: Date(timeIntervalSince1970: Double(milliseconds) / 1000))
}
