import Foundation
import XCTest
@testable import PolicyLang

final class DiagnosticRendererTests: XCTestCase {
    let source = SourceFile(path: "p.yaml", text: "policy: p\nrules:\n  - allow * -> web:99999/tcp\n")
    var diagnostic: Diagnostic {
        .error(
            .invalidPort, "'99999' is not a port", at: SourceSpan(SourceLocation(file: "p.yaml", line: 3, column: 20), length: 5),
            notes: [.init("see here", at: SourceSpan(SourceLocation(file: "p.yaml", line: 1, column: 1)))], help: "use 0-65535")
    }

    func testHumanOutputQuotesTheLineWithACaretUnderTheFault() {
        let out = HumanDiagnosticRenderer(sources: ["p.yaml": source]).render(diagnostic)
        let lines = out.split(separator: "\n", omittingEmptySubsequences: false)
        XCTAssertEqual(lines[0], "p.yaml:3:20: error: '99999' is not a port [invalid-port]")
        XCTAssertEqual(lines[1], " 3 |   - allow * -> web:99999/tcp")
        XCTAssertEqual(lines[2], "   |                    ^~~~~")
        XCTAssertEqual(lines[3], "p.yaml:1:1: note: see here")
        XCTAssertTrue(out.contains("  = help: use 0-65535\n"))
    }

    func testJSONOutputCarriesLocationsAndCounts() throws {
        let out = JSONDiagnosticRenderer().render([diagnostic])
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any])
        XCTAssertEqual(json["errors"] as? Int, 1)
        let first = try XCTUnwrap((json["diagnostics"] as? [[String: Any]])?.first)
        XCTAssertEqual(first["code"] as? String, "invalid-port")
        let loc = try XCTUnwrap(first["location"] as? [String: Any])
        XCTAssertEqual(loc["line"] as? Int, 3)
        XCTAssertEqual(loc["column"] as? Int, 20)
    }

    func testSARIFOutputIsVersion210WithRulesAndRegions() throws {
        let out = SARIFDiagnosticRenderer(toolVersion: "1").render([diagnostic])
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any])
        XCTAssertEqual(json["version"] as? String, "2.1.0")
        let run = try XCTUnwrap((json["runs"] as? [[String: Any]])?.first)
        let rules = try XCTUnwrap(((run["tool"] as? [String: Any])?["driver"] as? [String: Any])?["rules"] as? [[String: Any]])
        XCTAssertEqual(rules.count, DiagnosticCode.allCases.count)
        let result = try XCTUnwrap((run["results"] as? [[String: Any]])?.first)
        XCTAssertEqual(result["ruleId"] as? String, "invalid-port")
        XCTAssertEqual(result["level"] as? String, "error")
        let region = try XCTUnwrap(
            (((result["locations"] as? [[String: Any]])?.first?["physicalLocation"] as? [String: Any])?["region"]) as? [String: Any])
        XCTAssertEqual(region["startLine"] as? Int, 3)
        XCTAssertEqual(region["startColumn"] as? Int, 20)
    }

    func testDidYouMeanFindsCloseNamesOnly() {
        XCTAssertEqual(Suggest.closest(to: "engg", among: ["eng", "sre"]), "eng")
        XCTAssertNil(Suggest.closest(to: "finance", among: ["eng", "sre"]))
    }

    func testEditDistanceCountsAnAdjacentTranspositionAsOneEdit() {
        XCTAssertEqual(Suggest.distance("tpc", "tcp"), 1)
        XCTAssertEqual(Suggest.distance("kitten", "sitting"), 3)
        XCTAssertEqual(Suggest.distance("CA", "abc"), 3)  // optimal string alignment, not full Damerau (2)
        XCTAssertEqual(Suggest.distance("", "abc"), 3)
        XCTAssertEqual(Suggest.distance("Europe/Berln", "europe/berlin"), 1)
        XCTAssertEqual(Suggest.closest(to: "Europe/Berln", among: RuleParser.zoneSuggestions), "Europe/Berlin")
    }

    /// The renderers write their JSON themselves; it must be the very text Foundation's
    /// serializer prints for the same document, escapes, key order and layout included.
    func testJSONAndSARIFTextIsWhatJSONSerializationPrints() throws {
        let awkward = (0..<0x20).map { String(UnicodeScalar(UInt8($0))) }.joined() + "\"\\/ \u{7f} é 🛡 e\u{301} \r\n end"
        let span = SourceSpan(SourceLocation(file: "dir/p \"q\".yaml", line: 7, column: 3), length: 4)
        let diagnostics = [
            diagnostic,
            .warning(.unusedHost, awkward, at: span, notes: [.init(awkward, at: nil), .init("here", at: span)]),
            .error(.syntax, "no location", at: nil, help: awkward),
        ]
        let documents = [
            JSONDiagnosticRenderer().document(diagnostics), JSONDiagnosticRenderer().document([]),
            SARIFDiagnosticRenderer(toolVersion: "1.0/\u{1}").document(diagnostics), SARIFDiagnosticRenderer(toolVersion: "").document([]),
        ]
        for document in documents {
            let data = try JSONSerialization.data(withJSONObject: Self.foundationObject(document), options: [.prettyPrinted, .sortedKeys])
            XCTAssertEqual(document.text, String(decoding: data, as: UTF8.self))
        }
        XCTAssertEqual(JSONDiagnosticRenderer().render(diagnostics), documents[0].text + "\n")
    }

    /// The `[String: Any]` tree `JSONSerialization` takes for `value`.
    static func foundationObject(_ value: JSONValue) -> Any {
        switch value {
        case .string(let s): s
        case .int(let n): n
        case .array(let items): items.map(foundationObject)
        case .object(let members): members.mapValues(foundationObject)
        case .prewritten(let value): foundationObject(value.value)
        }
    }
}
