import XCTest
@testable import FuzzTargets

/// The `policy-parse` target cuts its text into lines at the bytes; it must feed the rule parser
/// exactly the lines the `Character` split did.
final class PolicyParseTargetTests: XCTestCase {
    func testLineFeedLinesAreTheCharacterSplitsLines() {
        let pieces = ["a", " ", "-", "\n", "\r", "\r\n", "\n\r", "\u{85}", "\u{2028}", "\u{301}", "é", "🛡", "\u{0}", "allow x -> y"]
        var state: UInt64 = 42
        func next(_ bound: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(bound))
        }
        let texts = (0..<3000).map { _ in (0..<next(12)).map { _ in pieces[next(pieces.count)] }.joined() } + ["", "\n", "\r\n"]
        for text in texts {
            XCTAssertEqual(
                FuzzTargets.lineFeedLines(text), text.split(separator: "\n", omittingEmptySubsequences: false),
                "\(text.unicodeScalars.map { $0.value })")
        }
    }
}
