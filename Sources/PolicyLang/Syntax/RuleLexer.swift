/// A token of the rule DSL, with its offset inside the rule string.
struct RuleToken: Equatable {
    enum Kind: Equatable {
        case word
        case arrow
        case leftParen
        case rightParen
    }

    var kind: Kind
    var text: Substring
    /// Character offset from the start of the rule string.
    var offset: Int
    var length: Int { max(1, text.count) }
}

/// Splits a rule line into words, `->` and parentheses. Words are maximal runs of anything else
/// that is not blank, so `10.0.0.0/8:*` and `group:eng` are single words that later stages split.
enum RuleLexer {
    static func tokenize(_ text: Substring) -> [RuleToken] {
        var tokens: [RuleToken] = []
        var i = text.startIndex
        var offset = 0
        var wordStart: (String.Index, Int)? = nil

        func flush(_ end: String.Index) {
            if let (start, startOffset) = wordStart {
                tokens.append(RuleToken(kind: .word, text: text[start..<end], offset: startOffset))
                wordStart = nil
            }
        }

        while i < text.endIndex {
            let c = text[i]
            let next = text.index(after: i)
            if c == " " || c == "\t" {
                flush(i)
            } else if c == "(" || c == ")" {
                flush(i)
                tokens.append(RuleToken(kind: c == "(" ? .leftParen : .rightParen, text: text[i..<next], offset: offset))
            } else if c == "-" && next < text.endIndex && text[next] == ">" {
                flush(i)
                let after = text.index(after: next)
                tokens.append(RuleToken(kind: .arrow, text: text[i..<after], offset: offset))
                i = after
                offset += 2
                continue
            } else if wordStart == nil {
                wordStart = (i, offset)
            }
            i = next
            offset += 1
        }
        flush(text.endIndex)
        return tokens
    }
}
