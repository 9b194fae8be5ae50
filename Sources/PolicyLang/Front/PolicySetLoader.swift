import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// All the files of a policy directory, parsed: the unit that names are resolved in.
public struct ParsedPolicySet: Sendable {
    /// The parsed files, in the order they were loaded (sorted paths within a directory).
    public var files: [PolicyFile]
    /// Source texts by path, for diagnostics and for the bundle's source hash.
    package var sources: [String: SourceFile]

    /// A set of already-parsed files and the texts they came from.
    public init(files: [PolicyFile], sources: [String: SourceFile]) {
        self.files = files
        self.sources = sources
    }
}

/// Finds and parses policy files.
public enum PolicySetLoader {
    /// Loads every `*.yaml` and `*.yml` file in a directory (not recursively), or the files named.
    /// Files are taken in path order so that the same directory always compiles to the same bytes.
    ///
    /// Sizes are measured before anything is read: a file over `limits.maxFileBytes`, or a set
    /// over `limits.maxTotalBytes`, is refused without reading it.
    public static func load(paths: [String], limits: PolicyLimits = .default) -> (ParsedPolicySet, [Diagnostic]) {
        do {
            return try load(paths: paths, limits: limits, budget: nil)
        } catch {
            preconditionFailure("a load without a budget cannot be interrupted")
        }
    }

    /// ``load(paths:limits:)`` under a compile budget, checked between and inside files.
    public static func load(
        paths: [String], limits: PolicyLimits, budget: CompileBudget?
    ) throws(CompileInterrupted) -> (ParsedPolicySet, [Diagnostic]) {
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
                guard yaml.count <= limits.maxFilesPerDirectory else {
                    diagnostics.append(
                        .error(
                            .tooManyFiles,
                            "\(path) holds \(yaml.count) policy files; the limit is \(limits.maxFilesPerDirectory)",
                            at: nil, help: "merge small files, or split the set into several directories"))
                    continue
                }
                let dir = path.hasSuffix("/") ? String(path.dropLast()) : path
                filePaths += yaml.map { "\(dir)/\($0)" }
            } else {
                filePaths.append(path)
            }
        }

        // Measure first: a refused size costs a stat, not a read.
        var sizes: [String: Int] = [:]
        var total = 0
        var oversized = false
        for path in filePaths {
            guard let size = regularFileSize(path) else {
                diagnostics.append(.error(.io, "\(path) is not a regular file", at: nil))
                oversized = true
                continue
            }
            sizes[path] = size
            total += size
            if size > limits.maxFileBytes {
                diagnostics.append(tooLarge(path, size: size, limit: limits.maxFileBytes))
                oversized = true
            }
        }
        if !oversized && total > limits.maxTotalBytes {
            diagnostics.append(
                .error(
                    .fileTooLarge,
                    "the policy files together are \(bytesText(total)); the limit is \(bytesText(limits.maxTotalBytes))",
                    at: nil, help: "a policy set is at most \(bytesText(limits.maxTotalBytes)) of YAML"))
            oversized = true
        }
        guard !oversized else { return (ParsedPolicySet(files: [], sources: [:]), diagnostics) }

        var files: [PolicyFile] = []
        var sources: [String: SourceFile] = [:]
        var counts = SectionCounts()
        for path in filePaths {
            try budget?.check()
            // Read at most one byte past the limit, in case the file grew since it was measured.
            guard let handle = FileHandle(forReadingAtPath: path),
                let data = try? handle.read(upToCount: limits.maxFileBytes + 1)
            else {
                diagnostics.append(.error(.io, "cannot read \(path)", at: nil))
                continue
            }
            try? handle.close()
            guard data.count <= limits.maxFileBytes else {
                diagnostics.append(tooLarge(path, size: data.count, limit: limits.maxFileBytes))
                continue
            }
            guard let text = String(data: data, encoding: .utf8) else {
                diagnostics.append(
                    .error(.io, "\(path) is not UTF-8 text", at: SourceSpan(SourceLocation(file: path, line: 1, column: 1))))
                continue
            }
            let source = SourceFile(path: path, text: text)
            let (file, diags) = try PolicyFileParser.parse(source, limits: limits, budget: budget)
            sources[path] = source
            diagnostics += diags
            if let file {
                diagnostics += counts.add(file, limit: limits.maxSectionEntries)
                files.append(file)
            }
        }
        return (ParsedPolicySet(files: files, sources: sources), diagnostics)
    }

    /// Parses one file's text, as if it had been read from `path`.
    public static func parse(text: String, path: String, limits: PolicyLimits = .default) -> (PolicyFile?, [Diagnostic]) {
        PolicyFileParser.parse(SourceFile(path: path, text: text), limits: limits)
    }

    /// The size of a regular file (following links), or nil for anything else: a FIFO or a
    /// device could block a read or never end.
    private static func regularFileSize(_ path: String) -> Int? {
        var s = stat()
        guard stat(path, &s) == 0, (s.st_mode & S_IFMT) == S_IFREG else { return nil }
        return Int(s.st_size)
    }

    private static func tooLarge(_ path: String, size: Int, limit: Int) -> Diagnostic {
        .error(
            .fileTooLarge, "\(path) is \(bytesText(size)); a policy file is at most \(bytesText(limit))",
            at: SourceSpan(SourceLocation(file: path, line: 1, column: 1)),
            help: "split the policy into several files, or check that this is the file you meant")
    }

    static func bytesText(_ n: Int) -> String {
        if n >= 1 << 20 { return String(format: "%.1f MiB", Double(n) / Double(1 << 20)) }
        if n >= 1 << 10 { return String(format: "%.1f KiB", Double(n) / Double(1 << 10)) }
        return "\(n) bytes"
    }
}

/// Entries of each section over the files of a set so far, against the section limit.
private struct SectionCounts {
    var counts: [String: Int] = [:]

    /// Adds a file's entries; reports each section the first time the set's total passes the
    /// limit, at the entry that passes it.
    mutating func add(_ file: PolicyFile, limit: Int) -> [Diagnostic] {
        var out: [Diagnostic] = []
        func count(_ section: String, _ spans: [SourceSpan]) {
            let before = counts[section, default: 0]
            let after = before + spans.count
            counts[section] = after
            guard before <= limit, after > limit else { return }
            out.append(
                .error(
                    .tooManyEntries, "the policy set has more than \(limit) \(section) entries", at: spans[limit - before],
                    help: "the limit is per section over all files of a set"))
        }
        count("identities", file.identities.map(\.name.span))
        count("groups", file.groups.map(\.name.span))
        count("hosts", file.hosts.map(\.name.span))
        count("rules", file.rules.map(\.span))
        count("tests", file.tests.map(\.span))
        count("block", file.blocks.map(\.span))
        return out
    }
}
