/// A policy file's lines with what a YAML reader would not see in them: comments and blanks.
///
/// Yams' node API keeps no comments, so the formatter finds them here, with a scan that knows
/// quoting: `#` starts a comment at the start of a line or after a blank, outside quotes.
struct SourceLines {
    /// The text of each line, without its newline; index 0 is line 1.
    var text: [String]
    /// Per line: the trailing comment (from `#`) and the column (0-based, in Unicode scalars) it starts at.
    var comments: [Int: (column: Int, text: String)] = [:]
    /// Lines holding nothing but a comment or blanks.
    var trivia: Set<Int> = []

    init(_ source: String) {
        text = source.split(separator: "\n", omittingEmptySubsequences: false).map {
            $0.hasSuffix("\r") ? String($0.dropLast()) : String($0)
        }
        if text.last == "" { text.removeLast() }
        var inDouble = false, inSingle = false
        for (index, line) in text.enumerated() {
            let scalars = Array(line.unicodeScalars)
            var i = 0
            var previous: Unicode.Scalar? = nil
            var lastSolid: Unicode.Scalar? = nil
            var comment: Int? = nil
            while i < scalars.count {
                let c = scalars[i]
                if inDouble {
                    if c == "\\" { i += 1 } else if c == "\"" { inDouble = false }
                } else if inSingle {
                    if c == "'" {
                        if i + 1 < scalars.count && scalars[i + 1] == "'" { i += 1 } else { inSingle = false }
                    }
                } else if c == "#" && (previous == nil || previous == " " || previous == "\t") {
                    comment = i
                    break
                } else if (c == "\"" || c == "'") && Self.startsScalar(lastSolid) {
                    if c == "\"" { inDouble = true } else { inSingle = true }
                }
                previous = c
                if c != " " && c != "\t" { lastSolid = c }
                i += 1
            }
            let line = index + 1
            if let comment {
                comments[line] = (comment, String(String.UnicodeScalarView(scalars[comment...])))
            }
            let content = String(String.UnicodeScalarView(scalars[..<(comment ?? scalars.count)]))
            if content.allSatisfy({ $0 == " " || $0 == "\t" }) { trivia.insert(line) }
        }
    }

    /// A quote opens a quoted scalar only where a scalar can start.
    private static func startsScalar(_ before: Unicode.Scalar?) -> Bool {
        guard let before else { return true }
        return [":", "-", "[", "{", ",", "?"].contains(before)
    }

    func isBlank(_ line: Int) -> Bool { trivia.contains(line) && comments[line] == nil }
}
