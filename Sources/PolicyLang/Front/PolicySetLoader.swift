import Foundation

/// All the files of a policy directory, parsed: the unit that names are resolved in.
public struct ParsedPolicySet: Sendable {
    public var files: [PolicyFile]
    /// Source texts by path, for diagnostics and for the bundle's source hash.
    public var sources: [String: SourceFile]

    public init(files: [PolicyFile], sources: [String: SourceFile]) {
        self.files = files
        self.sources = sources
    }
}

/// Finds and parses policy files.
public enum PolicySetLoader {
    /// Loads every `*.yaml` and `*.yml` file in a directory (not recursively), or the files named.
    /// Files are taken in path order so that the same directory always compiles to the same bytes.
    public static func load(paths: [String]) -> (ParsedPolicySet, [Diagnostic]) {
        var diagnostics: [Diagnostic] = []
        var filePaths: [String] = []
        let fm = FileManager.default
        for path in paths {
            var isDirectory: ObjCBool = false
            guard fm.fileExists(atPath: path, isDirectory: &isDirectory) else {
                diagnostics.append(.error(.io, "no such file or directory: \(path)", at: nil))
                continue
            }
            if isDirectory.boolValue {
                guard let entries = try? fm.contentsOfDirectory(atPath: path) else {
                    diagnostics.append(.error(.io, "cannot list directory \(path)", at: nil))
                    continue
                }
                let yaml = entries.filter { ($0.hasSuffix(".yaml") || $0.hasSuffix(".yml")) && !$0.hasPrefix(".") }.sorted()
                if yaml.isEmpty {
                    diagnostics.append(.error(.io, "no .yaml policy files in \(path)", at: nil))
                }
                let dir = path.hasSuffix("/") ? String(path.dropLast()) : path
                filePaths += yaml.map { "\(dir)/\($0)" }
            } else {
                filePaths.append(path)
            }
        }
        var files: [PolicyFile] = []
        var sources: [String: SourceFile] = [:]
        for path in filePaths {
            guard let data = fm.contents(atPath: path) else {
                diagnostics.append(.error(.io, "cannot read \(path)", at: nil))
                continue
            }
            guard let text = String(data: data, encoding: .utf8) else {
                diagnostics.append(
                    .error(.io, "\(path) is not UTF-8 text", at: SourceSpan(SourceLocation(file: path, line: 1, column: 1))))
                continue
            }
            let (file, diags) = parse(text: text, path: path)
            sources[path] = SourceFile(path: path, text: text)
            diagnostics += diags
            if let file { files.append(file) }
        }
        return (ParsedPolicySet(files: files, sources: sources), diagnostics)
    }

    /// Parses one file's text, as if it had been read from `path`.
    public static func parse(text: String, path: String) -> (PolicyFile?, [Diagnostic]) {
        PolicyFileParser.parse(SourceFile(path: path, text: text))
    }
}
