import Foundation

// A rule's `if`: `or` binds looser than `and`, `not` and parentheses nest (bounded by
// `maximumConditionDepth`), and `time DAYS HH:MM-HH:MM ZONE` windows.
extension RuleParser {
    mutating func parseOr() throws(ParseFailure) -> Condition {
        var left = try parseAnd()
        while let t = peek(), t.kind == .word, t.text == "or" {
            advance()
            left = .or(left, try parseAnd())
        }
        return left
    }

    mutating func parseAnd() throws(ParseFailure) -> Condition {
        var left = try parseUnary()
        while let t = peek(), t.kind == .word, t.text == "and" {
            advance()
            left = .and(left, try parseUnary())
        }
        return left
    }

    mutating func parseUnary() throws(ParseFailure) -> Condition {
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

    mutating func parseTimeWindow(after keyword: RuleToken) throws(ParseFailure) -> TimeWindow {
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
        guard zone == "UTC" || Self.knownZones.contains(zone), TimeZone(identifier: zone) != nil else {
            throw failure(
                "unknown time zone '\(zone)'", at: zoneToken, code: .invalidTimeZone,
                help: Suggest.closest(to: zone, among: Self.zoneSuggestions).map {
                    "did you mean '\($0)'?"
                } ?? "use an IANA zone such as Europe/Berlin or UTC")
        }
        // 24:00 is stored as 0: an end at or before the start means "into the next day".
        return TimeWindow(days: days, startMinute: start, endMinute: end == 1440 ? 0 : end, zone: zone)
    }

    /// The system's IANA zone names, read once: Foundation builds the list of some 600 names
    /// anew on every call, and a policy has a window per rule.
    static let knownZones = Set(TimeZone.knownTimeZoneIdentifiers)
    /// What an unknown zone is compared with, in the system's order (the first of equally close
    /// names is suggested).
    static let zoneSuggestions = TimeZone.knownTimeZoneIdentifiers + ["UTC"]

    func parseDays(_ t: RuleToken) throws(ParseFailure) -> UInt8 {
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
}
