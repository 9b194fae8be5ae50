import Foundation
import PolicyCompiler
import PolicyLang

/// A policy set named on the command line: a directory or file of policies, a compiled bundle,
/// or `git:REV[:PATH]`, a directory or file as it is in a git revision (read with `git show`).
struct PolicyInput {
    var tables: DecisionTables
    /// The resolved set, when the input was sources (a bundle carries no groups or tags).
    var resolved: ResolvedPolicySet?
    /// How to name the input in output.
    var label: String

    /// Loads `argument`; `defaultGitPath` is the path a `git:REV` without one reads.
    static func load(_ argument: String, defaultGitPath: String) throws -> PolicyInput {
        guard argument.hasPrefix("git:") else {
            let (tables, compilation) = try TableSource.load(argument, printer: DiagnosticPrinter(format: .human))
            return PolicyInput(tables: tables, resolved: compilation?.resolved, label: argument)
        }
        let spec = argument.dropFirst(4)
        let parts = spec.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        let revision = String(parts[0])
        guard !revision.isEmpty else { throw UsageFailure("'\(argument)': write git:REV or git:REV:PATH") }
        let path = parts.count > 1 && !parts[1].isEmpty ? String(parts[1]) : defaultGitPath
        let directory = try GitSnapshot.extract(revision: revision, path: path)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (tables, compilation) = try TableSource.load(directory, printer: DiagnosticPrinter(format: .human))
        return PolicyInput(tables: tables, resolved: compilation?.resolved, label: "\(revision):\(path)")
    }
}

extension PolicyInput {
    /// Loads two inputs at once, one a thread: compiling a large set is most of a diff's time,
    /// and the two sides do not depend on each other. The first failure (in argument order) is thrown.
    static func loadPair(_ a: (String, String), _ b: (String, String)) throws -> (PolicyInput, PolicyInput) {
        final class Results: @unchecked Sendable {
            let lock = NSLock()
            var values: [Result<PolicyInput, Error>?] = [nil, nil]
        }
        let results = Results()
        let arguments = [a, b]
        DispatchQueue.concurrentPerform(iterations: 2) { i in
            let r = Result { try PolicyInput.load(arguments[i].0, defaultGitPath: arguments[i].1) }
            results.lock.withLock { results.values[i] = r }
        }
        return (try results.values[0]!.get(), try results.values[1]!.get())
    }
}

/// Copies a policy directory or file out of a git revision into a temporary directory.
enum GitSnapshot {
    /// The temporary directory holding the policy files of `path` at `revision`; the caller removes it.
    static func extract(revision: String, path: String) throws -> String {
        // `REV:./PATH` is read relative to the current directory, as the user typed it.
        let relative = path.hasPrefix("/") ? path : "./" + path.trimmingPrefix("./")
        let object = "\(revision):\(relative.hasSuffix("/") ? String(relative.dropLast()) : relative)"
        let kind = try git(["cat-file", "-t", object]).trimmingCharacters(in: .whitespacesAndNewlines)
        let names: [String]
        switch kind {
        case "tree":
            // A policy set is the *.yaml and *.yml files directly inside the directory.
            names = try git(["ls-tree", "--name-only", object]).split(separator: "\n").map(String.init)
                .filter { !$0.hasPrefix(".") && ($0.hasSuffix(".yaml") || $0.hasSuffix(".yml")) }
        case "blob":
            names = []
        default:
            throw UsageFailure("git:\(revision):\(path) is neither a directory nor a file")
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ztpc-git-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        if kind == "blob" {
            let name = (path as NSString).lastPathComponent
            try write(git(["show", object]), to: "\(directory)/\(name)")
        } else {
            for name in names {
                try write(git(["show", "\(object)/\(name)"]), to: "\(directory)/\(name)")
            }
        }
        return directory
    }

    private static func write(_ text: String, to path: String) throws {
        guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8)) else {
            throw UsageFailure("cannot write \(path)")
        }
    }

    private static func git(_ arguments: [String]) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["git"] + arguments
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        do {
            try p.run()
        } catch {
            throw UsageFailure("cannot run git: \(error.localizedDescription)")
        }
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            let message = String(decoding: e, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            throw UsageFailure("git \(arguments.joined(separator: " ")): \(message)")
        }
        return String(decoding: o, as: UTF8.self)
    }
}

/// Names of host aliases by prefix, to annotate destinations.
struct HostNames {
    private var names: [IPPrefix: [String]] = [:]

    init(_ sets: [ResolvedPolicySet?]) {
        for set in sets.compactMap({ $0 }) {
            for (name, host) in set.hosts {
                for p in host.prefixes where !(names[p.value]?.contains(name) ?? false) {
                    names[p.value, default: []].append(name)
                }
            }
        }
        for k in names.keys { names[k]!.sort() }
    }

    /// `(prod-db)` when every prefix of the span is one of a host alias's, else empty.
    func annotation(_ span: AddressSpan) -> String {
        let found = span.prefixes.map { names[$0]?.first }
        guard !found.isEmpty, found.allSatisfy({ $0 != nil }) else { return "" }
        return " (\(Array(Set(found.compactMap { $0 })).sorted().joined(separator: ", ")))"
    }
}
