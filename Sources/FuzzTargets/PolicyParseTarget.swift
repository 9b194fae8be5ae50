import PolicyLang

extension FuzzTargets {
    /// The front end alone: the text as one policy file through `PolicySetLoader.parse` (YAML
    /// front, rule DSL, every diagnostic the parser collects), the human renderer over what it
    /// reports, and each line of the text through `RuleParser` on its own, as a rule and as a
    /// request line.
    ///
    /// The whole pipeline (``policyPipeline(_:)``) goes on to resolution, lint, lowering, the
    /// file's tests and the JSON and SARIF renderers, but only for the inputs that parse, and
    /// most mutated inputs do not: since the renderers stopped bridging through Foundation the two
    /// targets cost about the same per input (FUZZING.md). What this one adds is reach: the line
    /// by line pass feeds the DSL parser without a YAML mutation having to survive first.
    ///
    /// Invariants: a file that does not come out is explained by an error; every diagnostic (and
    /// note) points into the one file, at a line it has, column >= 1; a line's parse either gives a
    /// rule whose subject and host spans lie inside the line, or a failure located inside it or just
    /// past its end.
    public static func policyParse(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        let path = "fuzz.yaml"
        let source = SourceFile(path: path, text: text)
        let (file, diagnostics) = PolicySetLoader.parse(text: text, path: path)
        precondition(file != nil || diagnostics.contains { $0.severity == .error }, "no file but no error")
        checkLocations(diagnostics, path: path, lineCount: max(1, source.lines.count))
        _ = HumanDiagnosticRenderer(sources: [path: source]).render(diagnostics)

        for (index, line) in lineFeedLines(text).enumerated() {
            // The rule as a YAML list item writes it: `  - allow ...`.
            var rule = line.drop { $0 == " " }
            if rule.hasPrefix("- ") { rule = rule.dropFirst(2) }
            checkRuleLine(rule, line: index + 1)
        }
    }

    /// `text.split(separator: "\n", omittingEmptySubsequences: false)`, cut at the UTF-8 bytes
    /// instead of comparing every `Character` with "\n" (a twentieth of an execution): the
    /// `Character` "\n" is exactly a line feed not preceded by a carriage return (CR LF is one
    /// `Character`, and a line feed never joins anything else).
    static func lineFeedLines(_ text: String) -> [Substring] {
        var lines: [Substring] = []
        let utf8 = text.utf8
        var start = utf8.startIndex
        var previous: UInt8 = 0
        var i = start
        while i < utf8.endIndex {
            let byte = utf8[i]
            let next = utf8.index(after: i)
            if byte == UInt8(ascii: "\n") && previous != UInt8(ascii: "\r") {
                lines.append(text[start..<i])
                start = next
            }
            previous = byte
            i = next
        }
        lines.append(text[start..<utf8.endIndex])
        return lines
    }

    /// Parses `text` as a rule and as a request line, checking where every span lands.
    static func checkRuleLine(_ text: Substring, line: Int) {
        let origin = SourceLocation(file: "line", line: line, column: 1)
        let width = text.count
        func inside(_ span: SourceSpan, allowingEnd: Bool) {
            precondition(span.start.file == "line" && span.start.line == line, "span on another line: \(span)")
            let last = allowingEnd ? width + 1 : width
            precondition((1...max(1, last)).contains(span.start.column), "span outside the line: \(span) in \(width)")
        }
        var parser = RuleParser(text, at: origin)
        do {
            let rule = try parser.parseRule(id: "fuzz.r", defaults: Defaults())
            precondition(!rule.subjects.isEmpty && !rule.targets.isEmpty, "a rule without subjects or targets")
            for subject in rule.subjects { inside(subject.span, allowingEnd: false) }
            for target in rule.targets { inside(target.host.span, allowingEnd: true) }
        } catch {
            inside(error.diagnostic.span ?? SourceSpan(origin), allowingEnd: true)
        }
        var request = RuleParser(text, at: origin)
        do {
            let (subject, _, _) = try request.parseRequestLine()
            inside(subject.span, allowingEnd: false)
        } catch {
            inside(error.diagnostic.span ?? SourceSpan(origin), allowingEnd: true)
        }
    }

    /// Every diagnostic and note names `path`, at a line from 1 to `lineCount`, column >= 1.
    static func checkLocations(_ diagnostics: [Diagnostic], path: String, lineCount: Int) {
        for diagnostic in diagnostics {
            for span in [diagnostic.span] + diagnostic.notes.map(\.span) {
                guard let span else { continue }
                precondition(span.start.file == path, "diagnostic names another file: \(diagnostic)")
                precondition((1...lineCount).contains(span.start.line), "diagnostic past the file's lines: \(diagnostic)")
                precondition(span.start.column >= 1, "diagnostic before column 1: \(diagnostic)")
            }
        }
    }
}
