import Foundation

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
package struct RuleParser {
    private let text: Substring
    private let base: SourceLocation
    private let tokens: [RuleToken]
    private var position = 0
    private var depth = 0

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
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        guard let date = formatter.date(from: String(text)) else { return nil }
        return Int64(date.timeIntervalSince1970.rounded(.down))
    }

    // MARK: Pieces

    private mutating func parseVerdict() throws(ParseFailure) -> Verdict {
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

    private mutating func expectArrow() throws(ParseFailure) {
        guard let t = peek(), t.kind == .arrow else {
            throw failure("expected '->' between who and where", at: peek())
        }
        advance()
    }

    private mutating func parseSubjects() throws(ParseFailure) -> [Located<Subject>] {
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

    private func parseSubject(_ word: Substring, _ sp: SourceSpan) throws(ParseFailure) -> Subject {
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

    /// Splits `HOST:PORTS[/PROTO]`; an IPv6 host is written in brackets: `[fd00::/64]:443/tcp`.
    private func parseTarget(_ t: RuleToken) throws(ParseFailure) -> Target {
        let word = t.text
        let hostText: Substring
        let hostOffset: Int
        let rest: Substring
        if word.hasPrefix("[") {
            guard let close = word.firstIndex(of: "]") else {
                throw failure("missing ']' after an IPv6 address", at: t)
            }
            hostText = word[word.index(after: word.startIndex)..<close]
            hostOffset = t.offset + 1
            rest = word[word.index(after: close)...]
        } else if let colon = word.firstIndex(of: ":") {
            hostText = word[..<colon]
            hostOffset = t.offset
            rest = word[colon...]
        } else {
            throw failure(
                "target '\(word)' has no ports", at: t, help: "write '\(word):*' for every port, or '\(word):443/tcp'")
        }
        let hostSpan = SourceSpan(base.advanced(by: hostOffset), length: hostText.count)
        let host = try parseHost(hostText, hostSpan, bracketed: word.hasPrefix("["))
        guard rest.hasPrefix(":"), rest.count > 1 else {
            throw failure(
                "target '\(word)' has no ports", at: t, help: "write '\(hostText):*' for every port, or add ':PORT'")
        }
        let portsOffset = t.offset + word.distance(from: word.startIndex, to: rest.startIndex) + 1
        let portsAndProto = rest.dropFirst()
        let split = portsAndProto.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        let ports = try parsePorts(split[0], offset: portsOffset)
        var proto: TransportProtocol? = nil
        if split.count == 2 {
            let protoOffset = portsOffset + split[0].count + 1
            proto = try parseProtocol(split[1], SourceSpan(base.advanced(by: protoOffset), length: split[1].count))
            if proto == .icmp && ports != [.all] {
                throw ParseFailure(
                    .error(
                        .invalidPort, "ICMP has no ports", at: SourceSpan(base.advanced(by: portsOffset), length: split[0].count),
                        help: "write '\(hostText):*/icmp'"))
            }
        }
        return Target(host: Located(host, hostSpan), ports: ports, proto: proto)
    }

    private func parseHost(_ text: Substring, _ sp: SourceSpan, bracketed: Bool) throws(ParseFailure) -> TargetHost {
        if text == "*" { return .any }
        if bracketed || text.first?.isNumber == true {
            return .prefix(try Self.parseCIDR(text, sp))
        }
        guard Names.isValid(text) else {
            throw ParseFailure(.error(.syntax, "'\(text)' is neither a host alias nor an address", at: sp))
        }
        return .alias(String(text))
    }

    /// Parses a CIDR or address, turning each failure into a located diagnostic.
    static func parseCIDR(_ text: Substring, _ sp: SourceSpan) throws(ParseFailure) -> IPPrefix {
        switch IPPrefix.parse(text) {
        case .success(let c): return c
        case .failure(.malformedAddress):
            throw ParseFailure(.error(.invalidAddress, "'\(text)' is not a valid IP address or CIDR", at: sp))
        case .failure(.badPrefixLength):
            throw ParseFailure(.error(.invalidAddress, "bad prefix length in '\(text)'", at: sp))
        case .failure(.hostBitsSet(let suggestion)):
            throw ParseFailure(
                .error(
                    .hostBitsSet, "'\(text)' has host bits set below its /\(suggestion.length) prefix", at: sp,
                    help: "did you mean '\(suggestion)'?"))
        }
    }

    private func parsePorts(_ text: Substring, offset: Int) throws(ParseFailure) -> [PortRange] {
        if text == "*" { return [.all] }
        var ranges: [PortRange] = []
        var o = offset
        for piece in text.split(separator: ",", omittingEmptySubsequences: false) {
            defer { o += piece.count + 1 }
            let sp = SourceSpan(base.advanced(by: o), length: piece.count)
            let bounds = piece.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
            guard let lo = Self.port(bounds[0]) else {
                throw ParseFailure(
                    .error(.invalidPort, "'\(piece)' is not a port (0-65535), a range like 80-90, or *", at: sp))
            }
            var hi = lo
            if bounds.count == 2 {
                guard let h = Self.port(bounds[1]) else {
                    throw ParseFailure(.error(.invalidPort, "'\(piece)' is not a valid port range", at: sp))
                }
                guard h >= lo else {
                    throw ParseFailure(
                        .error(.invalidPort, "port range '\(piece)' is reversed", at: sp, help: "write '\(h)-\(lo)'"))
                }
                hi = h
            }
            ranges.append(PortRange(lo, hi))
        }
        return ranges
    }

    static func port(_ s: Substring) -> UInt16? {
        guard !s.isEmpty, s.count <= 5, s.allSatisfy({ $0.isASCII && $0.isNumber }), let v = UInt32(s), v <= 65535
        else { return nil }
        return UInt16(v)
    }

    private func parseProtocol(_ text: Substring, _ sp: SourceSpan) throws(ParseFailure) -> TransportProtocol {
        if let p = TransportProtocol(rawValue: String(text)) { return p }
        let guess = Suggest.closest(to: String(text), among: TransportProtocol.allCases.map(\.rawValue))
        throw ParseFailure(
            .error(
                .syntax, "unknown protocol '\(text)'", at: sp,
                help: guess.map { "did you mean '\($0)'?" } ?? "protocols are tcp, udp and icmp"))
    }

    private func parseRequest(_ t: RuleToken) throws(ParseFailure) -> Request {
        let word = t.text
        guard let slash = word.lastIndex(of: "/") else {
            throw failure("destination '\(word)' needs a protocol", at: t, help: "write '\(word)/tcp'")
        }
        let protoText = word[word.index(after: slash)...]
        let protoSpan = SourceSpan(base.advanced(by: t.offset + word.distance(from: word.startIndex, to: slash) + 1), length: protoText.count)
        let proto = try parseProtocol(protoText, protoSpan)
        let left = word[..<slash]
        var addressText = left
        var addressOffset = t.offset
        var portText: Substring? = nil
        if left.hasPrefix("[") {
            guard let close = left.firstIndex(of: "]") else { throw failure("missing ']' after an IPv6 address", at: t) }
            addressText = left[left.index(after: left.startIndex)..<close]
            addressOffset += 1
            let after = left[left.index(after: close)...]
            if after.hasPrefix(":") { portText = after.dropFirst() } else if !after.isEmpty {
                throw failure("expected ':PORT' after ']'", at: t)
            }
        } else if let colon = left.firstIndex(of: ":") {
            addressText = left[..<colon]
            portText = left[left.index(after: colon)...]
        }
        let addressSpan = SourceSpan(base.advanced(by: addressOffset), length: addressText.count)
        guard let address = IPAddress(addressText) else {
            throw ParseFailure(.error(.invalidAddress, "'\(addressText)' is not a valid IP address", at: addressSpan))
        }
        var port: UInt16 = 0
        if proto == .icmp {
            if portText != nil { throw failure("ICMP has no ports: write '\(addressText)/icmp'", at: t, code: .invalidPort) }
        } else {
            guard let pt = portText, let p = Self.port(pt) else {
                throw failure("destination '\(word)' needs one port (0-65535)", at: t, code: .invalidPort)
            }
            port = p
        }
        return Request(address: address, port: port, proto: proto)
    }

    private mutating func parseRate() throws(ParseFailure) -> Rate {
        guard let t = peek(), t.kind == .word else { throw failure("expected a rate such as 50/s after 'rate'", at: peek()) }
        advance()
        guard let r = Rate.parse(t.text) else {
            throw failure(
                "invalid rate '\(t.text)'", at: t, code: .invalidRate,
                help: "write a count from 1 to 10000000 per s, m or h, such as 50/s")
        }
        return r
    }

    private mutating func parseDuration() throws(ParseFailure) -> Duration {
        guard let t = peek(), t.kind == .word else { throw failure("expected a duration such as 2s after 'ttl'", at: peek()) }
        advance()
        guard let d = Duration.parse(t.text) else {
            throw failure(
                "invalid duration '\(t.text)'", at: t, code: .invalidDuration,
                help: "write a positive number of ms, s, m or h, at most a day, such as 2s")
        }
        return d
    }

    // MARK: Conditions

    private mutating func parseOr() throws(ParseFailure) -> Condition {
        var left = try parseAnd()
        while let t = peek(), t.kind == .word, t.text == "or" {
            advance()
            left = .or(left, try parseAnd())
        }
        return left
    }

    private mutating func parseAnd() throws(ParseFailure) -> Condition {
        var left = try parseUnary()
        while let t = peek(), t.kind == .word, t.text == "and" {
            advance()
            left = .and(left, try parseUnary())
        }
        return left
    }

    private mutating func parseUnary() throws(ParseFailure) -> Condition {
        guard let t = peek() else { throw failure("expected a condition", at: nil) }
        depth += 1
        defer { depth -= 1 }
        if depth > Self.maximumConditionDepth {
            throw failure("condition nested deeper than \(Self.maximumConditionDepth) levels", at: t)
        }
        if t.kind == .leftParen {
            advance()
            let inner = try parseOr()
            guard let close = peek(), close.kind == .rightParen else {
                throw failure("expected ')' to close the '(' here", at: t)
            }
            advance()
            return inner
        }
        guard t.kind == .word else { throw failure("expected a condition, found '\(t.text)'", at: t) }
        if t.text == "not" {
            advance()
            return .not(try parseUnary())
        }
        if t.text == "time" {
            advance()
            return .time(try parseTimeWindow(after: t))
        }
        advance()
        if let colon = t.text.firstIndex(of: ":") {
            let kind = t.text[..<colon]
            let value = String(t.text[t.text.index(after: colon)...])
            let sp = span(t)
            if !value.isEmpty {
                switch kind {
                case "tag": return .tag(Located(value, sp))
                case "user": return .user(Located(value, sp))
                case "group": return .group(Located(value, sp))
                default: break
                }
            }
        }
        throw failure(
            "expected a condition (tag:X, user:X, group:X, time ..., not, or parentheses), found '\(t.text)'", at: t)
    }

    private mutating func parseTimeWindow(after keyword: RuleToken) throws(ParseFailure) -> TimeWindow {
        guard let daysToken = peek(), daysToken.kind == .word else {
            throw failure("expected days such as mon-fri after 'time'", at: peek() ?? keyword)
        }
        advance()
        let days = try parseDays(daysToken)
        guard let hoursToken = peek(), hoursToken.kind == .word else {
            throw failure("expected hours such as 08:00-18:00", at: peek() ?? daysToken)
        }
        advance()
        let hours = hoursToken.text.split(separator: "-", omittingEmptySubsequences: false)
        guard hours.count == 2, let start = Self.minuteOfDay(hours[0], allow24: false),
            let end = Self.minuteOfDay(hours[1], allow24: true), start != end
        else {
            throw failure(
                "invalid hours '\(hoursToken.text)'", at: hoursToken, code: .invalidTime,
                help: "write HH:MM-HH:MM in 24-hour time, such as 08:00-18:00 (22:00-06:00 runs past midnight)")
        }
        guard let zoneToken = peek(), zoneToken.kind == .word else {
            throw failure("expected a time zone such as Europe/Berlin or UTC", at: peek() ?? hoursToken)
        }
        advance()
        let zone = String(zoneToken.text)
        // Only IANA names: Foundation also takes abbreviations and "GMT+2", whose sign is the
        // opposite of IANA's Etc/GMT+2, which would silently shift a window by hours.
        guard zone == "UTC" || TimeZone.knownTimeZoneIdentifiers.contains(zone), TimeZone(identifier: zone) != nil else {
            throw failure(
                "unknown time zone '\(zone)'", at: zoneToken, code: .invalidTimeZone,
                help: Suggest.closest(to: zone, among: TimeZone.knownTimeZoneIdentifiers + ["UTC"]).map {
                    "did you mean '\($0)'?"
                } ?? "use an IANA zone such as Europe/Berlin or UTC")
        }
        // 24:00 is stored as 0: an end at or before the start means "into the next day".
        return TimeWindow(days: days, startMinute: start, endMinute: end == 1440 ? 0 : end, zone: zone)
    }

    private func parseDays(_ t: RuleToken) throws(ParseFailure) -> UInt8 {
        if t.text == "daily" || t.text == "*" { return 0x7f }
        var mask: UInt8 = 0
        for piece in t.text.split(separator: ",", omittingEmptySubsequences: false) {
            let ends = piece.split(separator: "-", omittingEmptySubsequences: false)
            guard ends.count <= 2, let a = TimeWindow.dayNames.firstIndex(of: String(ends[0])),
                let b = ends.count == 2 ? TimeWindow.dayNames.firstIndex(of: String(ends[1])) : a
            else {
                throw failure(
                    "invalid days '\(t.text)'", at: t, code: .invalidTime,
                    help: "write mon..sun as a list or range (mon-fri, sat,sun, fri-mon) or 'daily'")
            }
            var d = a
            while true {
                mask |= 1 << UInt8(d)
                if d == b { break }
                d = (d + 1) % 7
            }
        }
        return mask
    }

    static func minuteOfDay(_ s: Substring, allow24: Bool) -> Int? {
        let parts = s.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].count == 2, parts[1].count == 2,
            parts.allSatisfy({ $0.allSatisfy { $0.isASCII && $0.isNumber } }),
            let h = Int(parts[0]), let m = Int(parts[1]), m < 60
        else { return nil }
        if h == 24 && m == 0 && allow24 { return 1440 }
        guard h < 24 else { return nil }
        return h * 60 + m
    }

    // MARK: Token stream

    private func peek() -> RuleToken? { position < tokens.count ? tokens[position] : nil }

    @discardableResult
    private mutating func advance() -> RuleToken {
        defer { position += 1 }
        return tokens[position]
    }

    private func span(_ t: RuleToken) -> SourceSpan { SourceSpan(base.advanced(by: t.offset), length: t.length) }

    private func failure(
        _ message: String, at token: RuleToken?, code: DiagnosticCode = .syntax, help: String? = nil
    ) -> ParseFailure {
        let sp = token.map(span) ?? SourceSpan(base.advanced(by: text.count), length: 1)
        return ParseFailure(.error(code, token == nil ? message + " (at end of rule)" : message, at: sp, help: help))
    }
}
