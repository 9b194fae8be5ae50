import ArgumentParser
import Foundation
import PolicyCompiler

/// `ztpc fmt`: rewrite policy files in the canonical layout.
struct FmtCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fmt",
        abstract: "Rewrite policy files in the canonical layout, keeping comments.",
        discussion: """
            Key order as in Grammar.md, one identity, rule and test a line, flow lists for groups and \
            hosts, single spaces; comments stay beside or above what they were written with, and rules \
            keep their order (a rule's id can be its position). Formatting twice changes nothing. With \
            --check, nothing is written: the changes are printed as a diff and the exit status is 1 if \
            any file is not formatted.
            """)

    @Argument(help: "Policy directories or files.")
    var paths: [String]

    @Flag(help: "Write nothing; print a diff and exit 1 if a file is not formatted.")
    var check = false

    func run() throws {
        var files: [String] = []
        for path in paths {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                throw UsageFailure("\(path): no such file or directory")
            }
            if isDirectory.boolValue {
                let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
                files += names.filter { !$0.hasPrefix(".") && ($0.hasSuffix(".yaml") || $0.hasSuffix(".yml")) }.sorted()
                    .map { (path as NSString).appendingPathComponent($0) }
            } else {
                files.append(path)
            }
        }
        var unformatted = 0, failed = 0
        for file in files {
            guard let data = FileManager.default.contents(atPath: file), let text = String(data: data, encoding: .utf8) else {
                throw UsageFailure("\(file): cannot read it as UTF-8 text")
            }
            let formatted: String
            do {
                formatted = try PolicyFormatter.format(text)
            } catch {
                Console.err("\(file):\(error.line): error: \(error.message)\n")
                failed += 1
                continue
            }
            guard formatted != text else { continue }
            unformatted += 1
            if check {
                Console.out(LineDiff.unified(old: text, new: formatted, path: file))
            } else {
                let temporary = file + ".fmt-\(getpid())"
                guard FileManager.default.createFile(atPath: temporary, contents: Data(formatted.utf8)), rename(temporary, file) == 0 else {
                    unlink(temporary)
                    throw UsageFailure("\(file): cannot write it")
                }
                Console.out("formatted \(file)\n")
            }
        }
        if failed > 0 { throw ExitCode(Status.findings) }
        if check && unformatted > 0 {
            Console.err("\(unformatted) file\(unformatted == 1 ? " is" : "s are") not formatted; run ztpc fmt\n")
            throw ExitCode(Status.findings)
        }
    }
}

/// A unified diff of two texts, by longest common subsequence of lines (policy files are small).
enum LineDiff {
    static func unified(old: String, new: String, path: String, context: Int = 2) -> String {
        let a = old.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let b = new.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        // lcs[i][j]: length of the LCS of a[i...] and b[j...].
        var lcs = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in stride(from: a.count - 1, through: 0, by: -1) {
            for j in stride(from: b.count - 1, through: 0, by: -1) {
                lcs[i][j] = a[i] == b[j] ? lcs[i + 1][j + 1] + 1 : max(lcs[i + 1][j], lcs[i][j + 1])
            }
        }
        enum Op { case same(String), remove(String), add(String) }
        var ops: [Op] = []
        var i = 0, j = 0
        while i < a.count || j < b.count {
            if i < a.count && j < b.count && a[i] == b[j] {
                ops.append(.same(a[i])); i += 1; j += 1
            } else if i < a.count && (j == b.count || lcs[i + 1][j] >= lcs[i][j + 1]) {
                ops.append(.remove(a[i])); i += 1
            } else {
                ops.append(.add(b[j])); j += 1
            }
        }
        var out = "--- \(path)\n+++ \(path) (formatted)\n"
        // Hunks: changed ops with `context` unchanged lines around them.
        var k = 0
        var oldLine = 1, newLine = 1
        var positions: [(Int, Int)] = []
        for op in ops {
            positions.append((oldLine, newLine))
            switch op {
            case .same: oldLine += 1; newLine += 1
            case .remove: oldLine += 1
            case .add: newLine += 1
            }
        }
        while k < ops.count {
            guard case .same = ops[k] else {
                var start = k
                var back = 0
                while start > 0, back < context, case .same = ops[start - 1] { start -= 1; back += 1 }
                var end = k
                var quiet = 0
                while end < ops.count {
                    if case .same = ops[end] { quiet += 1 } else { quiet = 0 }
                    if quiet > 2 * context { break }
                    end += 1
                }
                end = min(ops.count, end - max(0, quiet - context))
                let (o, n) = positions[start]
                var oldCount = 0, newCount = 0, body = ""
                for op in ops[start..<end] {
                    switch op {
                    case .same(let s): body += " \(s)\n"; oldCount += 1; newCount += 1
                    case .remove(let s): body += "-\(s)\n"; oldCount += 1
                    case .add(let s): body += "+\(s)\n"; newCount += 1
                    }
                }
                out += "@@ -\(o),\(oldCount) +\(n),\(newCount) @@\n" + body
                k = end
                continue
            }
            k += 1
        }
        return out
    }
}
