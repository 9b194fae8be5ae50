import Foundation

/// Renders diagnostics the way compilers do: `file:line:col: severity: message [code]`, the source
/// line, and a caret under the fault, then notes and help.
package struct HumanDiagnosticRenderer: Sendable {
    /// Source texts by path, to quote lines from.
    package var sources: [String: SourceFile]

    /// A renderer quoting lines from `sources` (by path); a diagnostic whose file is missing gets no excerpt.
    package init(sources: [String: SourceFile]) {
        self.sources = sources
    }

    /// Every diagnostic in order, each with its excerpt, notes and help.
    package func render(_ diagnostics: [Diagnostic]) -> String {
        diagnostics.map(render).joined()
    }

    /// One diagnostic: header line, quoted source line with a caret, then notes and help.
    package func render(_ d: Diagnostic) -> String {
        var out = ""
        out += header(d.span, d.severity.rawValue, "\(d.message) [\(d.code.rawValue)]")
        out += excerpt(d.span)
        for note in d.notes {
            out += header(note.span, "note", note.message)
            out += excerpt(note.span)
        }
        if let help = d.help {
            out += "  = help: \(help)\n"
        }
        return out
    }

    private func header(_ span: SourceSpan?, _ label: String, _ message: String) -> String {
        if let span { return "\(span.start): \(label): \(message)\n" }
        return "\(label): \(message)\n"
    }

    private func excerpt(_ span: SourceSpan?) -> String {
        guard let span, let file = sources[span.start.file], let line = file.line(span.start.line) else {
            return ""
        }
        let number = String(span.start.line)
        let gutter = String(repeating: " ", count: number.count)
        // Foundation's replacement bridges the line to NSString and back even when there is
        // nothing to replace, which is nearly always.
        let text = line.utf8.contains(UInt8(ascii: "\t")) ? line.replacingOccurrences(of: "\t", with: " ") : String(line)
        let column = max(1, min(span.start.column, text.count + 1))
        let width = max(1, min(span.length, text.count - column + 1))
        let marker = String(repeating: " ", count: column - 1) + "^" + String(repeating: "~", count: width - 1)
        return " \(number) | \(text)\n \(gutter) | \(marker)\n"
    }
}

/// Renders diagnostics as one JSON document: `{"diagnostics": [...], "errors": N, "warnings": N}`.
package struct JSONDiagnosticRenderer: Sendable {
    /// A renderer; JSON needs no sources.
    package init() {}

    /// The whole list as one JSON document, with error and warning counts.
    package func render(_ diagnostics: [Diagnostic]) -> String {
        document(diagnostics).text + "\n"
    }

    /// The document ``render(_:)`` prints.
    package func document(_ diagnostics: [Diagnostic]) -> JSONValue {
        let items: [JSONValue] = diagnostics.map { d in
            var item: [String: JSONValue] = [
                "severity": .string(d.severity.rawValue),
                "code": .string(d.code.rawValue),
                "message": .string(d.message),
            ]
            if let span = d.span { item["location"] = Self.location(span) }
            if let help = d.help { item["help"] = .string(help) }
            if !d.notes.isEmpty {
                item["notes"] = .array(
                    d.notes.map { note in
                        var n: [String: JSONValue] = ["message": .string(note.message)]
                        if let span = note.span { n["location"] = Self.location(span) }
                        return .object(n)
                    })
            }
            return .object(item)
        }
        return .object([
            "diagnostics": .array(items),
            "errors": .int(diagnostics.filter { $0.severity == .error }.count),
            "warnings": .int(diagnostics.filter { $0.severity == .warning }.count),
        ])
    }

    static func location(_ span: SourceSpan) -> JSONValue {
        .object([
            "file": .string(span.start.file), "line": .int(span.start.line), "column": .int(span.start.column),
            "length": .int(span.length),
        ])
    }
}

/// Renders diagnostics as a SARIF 2.1.0 log, the format code-scanning services ingest.
package struct SARIFDiagnosticRenderer: Sendable {
    /// The `tool.driver.version` the log reports.
    package var toolVersion: String

    /// A renderer reporting `toolVersion` as the driver's version.
    package init(toolVersion: String) {
        self.toolVersion = toolVersion
    }

    /// The whole list as one SARIF run, with every diagnostic code as a rule.
    package func render(_ diagnostics: [Diagnostic]) -> String {
        document(diagnostics).text + "\n"
    }

    /// The log ``render(_:)`` prints.
    package func document(_ diagnostics: [Diagnostic]) -> JSONValue {
        let results: [JSONValue] = diagnostics.map { d in
            var result: [String: JSONValue] = [
                "ruleId": .string(d.code.rawValue),
                "level": .string(level(d.severity)),
                "message": .object(["text": .string(d.help.map { "\(d.message) (\($0))" } ?? d.message)]),
            ]
            if let span = d.span { result["locations"] = .array([.object(physical(span))]) }
            let related = d.notes.compactMap { note -> JSONValue? in
                guard let span = note.span else { return nil }
                var location = physical(span)
                location["message"] = .object(["text": .string(note.message)])
                return .object(location)
            }
            if !related.isEmpty { result["relatedLocations"] = .array(related) }
            return .object(result)
        }
        return .object([
            "$schema": .string("https://json.schemastore.org/sarif-2.1.0.json"),
            "version": .string("2.1.0"),
            "runs": .array([
                .object([
                    "tool": .object([
                        "driver": .object([
                            "name": .string("ztpc"),
                            "version": .string(toolVersion),
                            "informationUri": .string("https://example.invalid/ztp"),
                            "rules": Self.rules,
                        ])
                    ]),
                    "results": .array(results),
                ])
            ]),
        ])
    }

    /// Every diagnostic code with its summary: the same in every log, so built and written once,
    /// at the depth of `runs[0].tool.driver.rules` (five levels in).
    private static let rules: JSONValue = .prewritten(
        PrewrittenJSON(
            .array(
                DiagnosticCode.allCases.map { code in
                    .object(["id": .string(code.rawValue), "shortDescription": .object(["text": .string(code.summary)])])
                }),
            indent: 5))

    private func level(_ s: Severity) -> String {
        switch s {
        case .error: "error"
        case .warning: "warning"
        case .note: "note"
        }
    }

    private func physical(_ span: SourceSpan) -> [String: JSONValue] {
        [
            "physicalLocation": .object([
                "artifactLocation": .object(["uri": .string(span.start.file)]),
                "region": .object([
                    "startLine": .int(span.start.line),
                    "startColumn": .int(span.start.column),
                    "endColumn": .int(span.start.column + span.length),
                ]),
            ])
        ]
    }
}
