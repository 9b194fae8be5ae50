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
        let text = line.replacingOccurrences(of: "\t", with: " ")
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
        let items: [[String: Any]] = diagnostics.map { d in
            var item: [String: Any] = [
                "severity": d.severity.rawValue,
                "code": d.code.rawValue,
                "message": d.message,
            ]
            if let span = d.span { item["location"] = Self.location(span) }
            if let help = d.help { item["help"] = help }
            if !d.notes.isEmpty {
                item["notes"] = d.notes.map { note -> [String: Any] in
                    var n: [String: Any] = ["message": note.message]
                    if let span = note.span { n["location"] = Self.location(span) }
                    return n
                }
            }
            return item
        }
        let document: [String: Any] = [
            "diagnostics": items,
            "errors": diagnostics.filter { $0.severity == .error }.count,
            "warnings": diagnostics.filter { $0.severity == .warning }.count,
        ]
        return Self.serialize(document)
    }

    static func location(_ span: SourceSpan) -> [String: Any] {
        ["file": span.start.file, "line": span.start.line, "column": span.start.column, "length": span.length]
    }

    static func serialize(_ object: Any) -> String {
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys]),
            let text = String(data: data, encoding: .utf8)
        else { return "{}" }
        return text + "\n"
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
        let rules: [[String: Any]] = DiagnosticCode.allCases.map { code in
            ["id": code.rawValue, "shortDescription": ["text": code.summary]]
        }
        let results: [[String: Any]] = diagnostics.map { d in
            var result: [String: Any] = [
                "ruleId": d.code.rawValue,
                "level": level(d.severity),
                "message": ["text": d.help.map { "\(d.message) (\($0))" } ?? d.message],
            ]
            if let span = d.span { result["locations"] = [physical(span)] }
            let related = d.notes.compactMap { note -> [String: Any]? in
                guard let span = note.span else { return nil }
                var location = physical(span)
                location["message"] = ["text": note.message]
                return location
            }
            if !related.isEmpty { result["relatedLocations"] = related }
            return result
        }
        let log: [String: Any] = [
            "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
            "version": "2.1.0",
            "runs": [
                [
                    "tool": [
                        "driver": [
                            "name": "ztpc",
                            "version": toolVersion,
                            "informationUri": "https://example.invalid/ztp",
                            "rules": rules,
                        ]
                    ],
                    "results": results,
                ]
            ],
        ]
        return JSONDiagnosticRenderer.serialize(log)
    }

    private func level(_ s: Severity) -> String {
        switch s {
        case .error: "error"
        case .warning: "warning"
        case .note: "note"
        }
    }

    private func physical(_ span: SourceSpan) -> [String: Any] {
        [
            "physicalLocation": [
                "artifactLocation": ["uri": span.start.file],
                "region": [
                    "startLine": span.start.line,
                    "startColumn": span.start.column,
                    "endColumn": span.start.column + span.length,
                ],
            ]
        ]
    }
}
