// The who of a rule: `*`, `user:`, `group:`, `tag:` or identity names, comma-separated or not.
extension RuleParser {
    mutating func parseSubjects() throws(ParseFailure) -> [Located<Subject>] {
        var subjects: [Located<Subject>] = []
        while let t = peek(), t.kind == .word {
            advance()
            var offset = t.offset
            for piece in t.text.split(separator: ",", omittingEmptySubsequences: false) {
                defer { offset += piece.count + 1 }
                if piece.isEmpty { continue }
                let sp = SourceSpan(base.advanced(by: offset), length: piece.count)
                subjects.append(Located(try parseSubject(piece, sp), sp))
            }
        }
        if subjects.isEmpty {
            throw failure("expected a subject ('*', user:, group:, tag: or an identity) before '->'", at: peek())
        }
        return subjects
    }

    func parseSubject(_ word: Substring, _ sp: SourceSpan) throws(ParseFailure) -> Subject {
        if word == "*" { return .any }
        if let colon = word.firstIndex(of: ":") {
            let kind = word[..<colon]
            let value = String(word[word.index(after: colon)...])
            guard !value.isEmpty else {
                throw ParseFailure(.error(.syntax, "'\(kind):' needs a name after the colon", at: sp))
            }
            switch kind {
            case "user": return .user(value)
            case "group": return .group(value)
            case "tag": return .tag(value)
            default:
                let guess = Suggest.closest(to: String(kind), among: ["user", "group", "tag"])
                throw ParseFailure(
                    .error(
                        .syntax, "unknown subject kind '\(kind):'", at: sp,
                        help: guess.map { "did you mean '\($0):'?" } ?? "subjects are *, user:, group:, tag: or an identity name"))
            }
        }
        guard Names.isValid(word) else {
            throw ParseFailure(.error(.syntax, "'\(word)' is not a valid identity name", at: sp))
        }
        return .identity(String(word))
    }
}
