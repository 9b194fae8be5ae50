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
        tokenizeASCII(text) ?? tokenizeCharacters(text)
    }

    /// ``tokenize(_:)`` for the common line: ASCII without a carriage return, where every byte
    /// is one `Character`, so byte offsets are the character offsets the tokens carry. Comparing
    /// `Character`s goes through string comparison; bytes are compared as integers, which made
    /// lexing several times cheaper. Nil for any other line, which ``tokenizeCharacters(_:)``
    /// takes (a CR followed by LF is one `Character` of two bytes; `RuleLexerTests` compares the
    /// two paths).
    static func tokenizeASCII(_ text: Substring) -> [RuleToken]? {
        let bytes = text.utf8
        var tokens: [RuleToken] = []
        // Room for a usual rule's tokens in one allocation, instead of growing 1, 2, 4, 8, 16.
        tokens.reserveCapacity(16)
        var i = bytes.startIndex
        var offset = 0
        var wordStart: (String.Index, Int)? = nil

        func flush(_ end: String.Index) {
            if let (start, startOffset) = wordStart {
                tokens.append(RuleToken(kind: .word, text: text[start..<end], offset: startOffset))
                wordStart = nil
            }
        }

        while i < bytes.endIndex {
            let b = bytes[i]
            guard b < 0x80, b != UInt8(ascii: "\r") else { return nil }
            let next = bytes.index(after: i)
            switch b {
            case UInt8(ascii: " "), UInt8(ascii: "\t"):
                flush(i)
            case UInt8(ascii: "("), UInt8(ascii: ")"):
                flush(i)
                tokens.append(
                    RuleToken(kind: b == UInt8(ascii: "(") ? .leftParen : .rightParen, text: text[i..<next], offset: offset))
            case UInt8(ascii: "-") where next < bytes.endIndex && bytes[next] == UInt8(ascii: ">"):
                flush(i)
                let after = bytes.index(after: next)
                tokens.append(RuleToken(kind: .arrow, text: text[i..<after], offset: offset))
                i = after
                offset += 2
                continue
            default:
                if wordStart == nil { wordStart = (i, offset) }
            }
            i = next
            offset += 1
        }
        flush(bytes.endIndex)
        return tokens
    }

    /// ``tokenize(_:)`` over `Character`s, for any text.
    static func tokenizeCharacters(_ text: Substring) -> [RuleToken] {
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
