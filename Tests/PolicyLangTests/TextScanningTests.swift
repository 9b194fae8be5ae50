import XCTest
@testable import PolicyLang

/// The byte scans that replaced `Character` loops (line splitting, rule lexing) must cut exactly
/// where the `Character` versions did, on any text: ASCII, CR LF, the Unicode line breaks,
/// combining marks, emoji and controls.
final class TextScanningTests: XCTestCase {
    /// Pieces the generated texts are made of; each is chosen to sit next to any other.
    static let pieces = [
        "a", "Z", "9", " ", "\t", "-", ">", "->", "(", ")", ":", "/", "\n", "\r", "\r\n", "\u{85}", "\u{2028}",
        "\u{2029}", "\u{301}", "é", "e\u{301}", "🛡", "👩‍👩‍👧", "\u{0}", "\u{7f}", "\u{a0}", "allow", "group:eng",
        "\u{feff}", "\u{200d}", "—",
    ]

    /// A repeatable pseudo-random text of up to `maxPieces` pieces.
    static func texts(count: Int, maxPieces: Int) -> [String] {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next(_ bound: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(bound))
        }
        return (0..<count).map { _ in (0..<next(maxPieces + 1)).map { _ in pieces[next(pieces.count)] }.joined() }
    }

    func testLinesAreCutWhereTheCharacterSplitCutThem() {
        let breaks: Set<Character> = ["\n", "\r", "\r\n", "\u{85}", "\u{2028}", "\u{2029}"]
        for text in Self.texts(count: 3000, maxPieces: 12) + ["", "\n", "\r\n\r", "a\u{2028}\u{2029}b\u{85}"] {
            let expected = text.split(omittingEmptySubsequences: false, whereSeparator: { breaks.contains($0) })
            XCTAssertEqual(SourceFile.lines(of: text), expected, "\(text.unicodeScalars.map { $0.value })")
        }
    }

    func testTheASCIILexerGivesTheCharacterLexersTokens() {
        var fastPathTaken = 0
        let rules = ["allow group:eng -> prod-db:5432/tcp if (tag:managed and not time mon-fri 08:00-18:00 UTC)", "a->b", "-", "->->", ""]
        for text in Self.texts(count: 3000, maxPieces: 10) + rules {
            let line = Substring(text)
            let expected = RuleLexer.tokenizeCharacters(line)
            XCTAssertEqual(RuleLexer.tokenize(line), expected, "\(text.unicodeScalars.map { $0.value })")
            if let fast = RuleLexer.tokenizeASCII(line) {
                fastPathTaken += 1
                XCTAssertEqual(fast, expected)
            }
        }
        XCTAssertGreaterThan(fastPathTaken, 100, "the generated texts should exercise the ASCII path")
    }
}

extension TextScanningTests {
    /// JSON keys sort as `(key.lowercased(), key)` pairs, as `JSONSerialization`'s `.sortedKeys`
    /// sorted the renderers' keys; the byte comparison must agree with that on any pair.
    func testJSONKeyOrderIsTheLowercasedPairOrder() {
        let keys = Self.texts(count: 400, maxPieces: 4) + ["a", "A", "b", "B", "ab", "aB", "Ab", "", "_", "Z", "z", "é", "e\u{301}"]
        for a in keys {
            for b in keys.prefix(60) {
                XCTAssertEqual(JSONValue.precedes(a, b), (a.lowercased(), a) < (b.lowercased(), b), "\(a) \(b)")
            }
        }
    }
}
