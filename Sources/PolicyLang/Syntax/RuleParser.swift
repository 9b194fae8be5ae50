import Foundation
import Synchronization

/// A parse failure, carrying the diagnostic that explains it.
package struct ParseFailure: Error, Sendable {
    /// The diagnostic explaining where and why parsing stopped.
    package var diagnostic: Diagnostic
    /// A failure carrying `diagnostic`.
    package init(_ diagnostic: Diagnostic) { self.diagnostic = diagnostic }
}

/// Recursive-descent parser for one line of the rule DSL (a rule, a test, or an eval request).
///
/// `base` is where the string's first character sits in the file, so that every span the parser
/// produces points inside the YAML scalar.
///
/// This file holds the entry points, the small pieces between them and the token stream; the
/// grammar's larger parts sit beside it: `RuleParser+Subjects.swift` (who),
/// `RuleParser+Destinations.swift` (targets, addresses, ports, protocols, request destinations) and
/// `RuleParser+Conditions.swift` (`if` conditions and time windows).
package struct RuleParser {
    private let text: Substring
    /// Where the text's first character sits in the file; every span is an offset from it.
    let base: SourceLocation
    private let tokens: [RuleToken]
    private var position = 0
    /// How deep the condition being parsed is nested (see ``maximumConditionDepth``).
    var depth = 0

    /// Conditions nest at most this deep: enough for any real rule, and it keeps both this
    /// parser's recursion and the evaluator's 64-bit stack bounded on hostile input.
    static let maximumConditionDepth = 24

    static let keywords: Set<Substring> = ["if", "rate", "ttl", "and", "or", "not", "time", "at"]

    /// A parser over `text` (one rule, test or request line) whose first character sits at `base`; lexes the
    /// whole line up front.
    package init(_ text: some StringProtocol, at base: SourceLocation) {
        self.text = Substring(text)
        self.base = base
        self.tokens = RuleLexer.tokenize(Substring(text))
    }

    // MARK: Entry points

    /// Parses `ACTION SUBJECTS -> TARGETS [OPTIONS] [if CONDITION] [OPTIONS]`.
    package mutating func parseRule(id: String, defaults: Defaults) throws(ParseFailure) -> Rule {
        let action = try parseVerdict()
        let subjects = try parseSubjects()
        try expectArrow()
        var targets: [Target] = []
        while let t = peek(), t.kind == .word, !Self.keywords.contains(t.text) {
            targets.append(try parseTarget(advance()))
        }
        if targets.isEmpty {
            throw failure("expected a target such as 'prod-db:5432/tcp' after '->'", at: peek())
        }
        var rate: Rate? = nil
        var ttl: Duration? = nil
        var condition: Condition? = nil
        while let t = peek() {
            switch t.text {
            case "rate" where t.kind == .word:
                advance()
                if rate != nil { throw failure("'rate' is given twice", at: t) }
                rate = try parseRate()
            case "ttl" where t.kind == .word:
                advance()
                if ttl != nil { throw failure("'ttl' is given twice", at: t) }
                ttl = try parseDuration()
            case "if" where t.kind == .word:
                advance()
                if condition != nil { throw failure("a rule has one 'if'; combine conditions with 'and'/'or'", at: t) }
                condition = try parseOr()
            default:
                throw failure(
                    "unexpected '\(t.text)'; after the targets come 'rate N/s', 'ttl D' or 'if CONDITION'", at: t)
            }
        }
        return Rule(
            id: id, action: action, subjects: subjects, targets: targets, condition: condition, rate: rate, ttl: ttl,
            span: SourceSpan(base, length: text.count), defaults: defaults)
    }

    /// Parses a test line: `VERDICT IDENTITY -> ADDRESS[:PORT]/PROTO [at TIME]`.
    mutating func parseTest() throws(ParseFailure) -> PolicyTest {
        let verdict = try parseVerdict()
        let (subject, request, at) = try parseRequestLine()
        return PolicyTest(
            expect: verdict, subject: subject, request: request, at: at, span: SourceSpan(base, length: text.count))
    }

    /// Parses a request line for `ztpc eval` and `ztpc explain`: `IDENTITY -> ADDRESS[:PORT]/PROTO [at TIME]`.
    package mutating func parseRequestLine() throws(ParseFailure) -> (Located<String>, Request, Int64?) {
        guard let s = peek(), s.kind == .word else { throw failure("expected an identity name or key", at: peek()) }
        advance()
        let subject = Located(String(s.text), span(s))
        try expectArrow()
        guard let d = peek(), d.kind == .word else {
            throw failure("expected a destination such as '10.0.0.7:5432/tcp'", at: peek())
        }
        advance()
        let request = try parseRequest(d)
        var at: Int64? = nil
        if let t = peek(), t.text == "at" {
            advance()
            guard let w = peek(), w.kind == .word else {
                throw failure("expected a time such as 2026-11-23T09:00:00Z after 'at'", at: peek())
            }
            advance()
            guard let seconds = Self.parseInstant(w.text) else {
                throw failure(
                    "invalid time '\(w.text)'", at: w, code: .invalidTime,
                    help: "write an ISO 8601 UTC time such as 2026-11-23T09:00:00Z")
            }
            at = seconds
        }
        if let extra = peek() { throw failure("unexpected '\(extra.text)' after the request", at: extra) }
        return (subject, request, at)
    }

    /// Parses ISO 8601 instants (`2026-11-23T09:00:00Z`, with an optional offset) to Unix seconds.
    package static func parseInstant(_ text: some StringProtocol) -> Int64? {
        let string = String(text)
        guard let date = instantFormatter.withLock({ $0.date(from: string) }) else { return nil }
        return Int64(date.timeIntervalSince1970.rounded(.down))
    }

    /// One formatter for the process, behind a lock (a formatter is not documented as safe to
    /// share between threads): creating one opens ICU's date format, calendar and number
    /// formatter, which cost more than parsing the whole test line it was made for.
    private static let instantFormatter: Mutex<ISO8601DateFormatter> = {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return Mutex(formatter)
    }()

    // MARK: Pieces

    mutating func parseVerdict() throws(ParseFailure) -> Verdict {
        guard let t = peek() else { throw failure("empty rule; expected 'allow' or 'deny'", at: nil) }
        advance()
        switch t.text {
        case "allow": return .allow
        case "deny": return .deny
        default:
            let guess = Suggest.closest(to: String(t.text), among: ["allow", "deny"])
            throw failure(
                "expected 'allow' or 'deny', found '\(t.text)'", at: t, help: guess.map { "did you mean '\($0)'?" })
        }
    }

    mutating func expectArrow() throws(ParseFailure) {
        guard let t = peek(), t.kind == .arrow else {
            throw failure("expected '->' between who and where", at: peek())
        }
        advance()
    }

    mutating func parseRate() throws(ParseFailure) -> Rate {
        guard let t = peek(), t.kind == .word else { throw failure("expected a rate such as 50/s after 'rate'", at: peek()) }
        advance()
        guard let r = Rate.parse(t.text) else {
            throw failure(
                "invalid rate '\(t.text)'", at: t, code: .invalidRate,
                help: "write a count from 1 to 10000000 per s, m or h, such as 50/s")
        }
        return r
    }

    mutating func parseDuration() throws(ParseFailure) -> Duration {
        guard let t = peek(), t.kind == .word else { throw failure("expected a duration such as 2s after 'ttl'", at: peek()) }
        advance()
        guard let d = Duration.parse(t.text) else {
            throw failure(
                "invalid duration '\(t.text)'", at: t, code: .invalidDuration,
                help: "write a positive number of ms, s, m or h, at most a day, such as 2s")
        }
        return d
    }

    // MARK: Token stream

    func peek() -> RuleToken? { position < tokens.count ? tokens[position] : nil }

    @discardableResult
    mutating func advance() -> RuleToken {
        defer { position += 1 }
        return tokens[position]
    }

    func span(_ t: RuleToken) -> SourceSpan { SourceSpan(base.advanced(by: t.offset), length: t.length) }

    func failure(
        _ message: String, at token: RuleToken?, code: DiagnosticCode = .syntax, help: String? = nil
    ) -> ParseFailure {
        let sp = token.map(span) ?? SourceSpan(base.advanced(by: text.count), length: 1)
        return ParseFailure(.error(code, token == nil ? message + " (at end of rule)" : message, at: sp, help: help))
    }
}
