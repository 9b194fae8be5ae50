/// A transport protocol a target or request names.
public enum TransportProtocol: String, Sendable, Hashable, CaseIterable, Codable {
    case tcp, udp, icmp

    /// The IP protocol number (ICMPv6 is 58, but a policy's `icmp` means both families' ICMP).
    package var ipProtocolNumber: UInt8 {
        switch self {
        case .tcp: 6
        case .udp: 17
        case .icmp: 1
        }
    }
}

/// An inclusive port range; a single port is a range of one.
public struct PortRange: Hashable, Sendable, Codable, CustomStringConvertible {
    /// The first port of the range.
    public var lower: UInt16
    /// The last port of the range, at least `lower`.
    public var upper: UInt16

    /// Ports `lower` through `upper` inclusive; the caller keeps `lower <= upper` (the parser refuses the reverse).
    public init(_ lower: UInt16, _ upper: UInt16) {
        self.lower = lower
        self.upper = upper
    }

    /// Every port, 0-65535: what a target without a port means; prints as `*`.
    public static let all = PortRange(0, 65535)

    /// Whether `port` lies in the range.
    public func contains(_ port: UInt16) -> Bool { port >= lower && port <= upper }
    /// Whether all of `other` lies in the range.
    public func contains(_ other: PortRange) -> Bool { other.lower >= lower && other.upper <= upper }

    /// `*` for every port, `N` for one, `N-M` otherwise: the policy syntax.
    public var description: String {
        if self == .all { return "*" }
        return lower == upper ? "\(lower)" : "\(lower)-\(upper)"
    }
}

/// A length of time, kept in milliseconds.
public struct Duration: Hashable, Sendable, Comparable, Codable, CustomStringConvertible {
    /// The length in milliseconds.
    public var milliseconds: Int64

    /// A length of `milliseconds` ms.
    public init(milliseconds: Int64) { self.milliseconds = milliseconds }
    /// A length of `s` whole seconds.
    public static func seconds(_ s: Int64) -> Duration { Duration(milliseconds: s * 1000) }

    /// Orders by length.
    public static func < (a: Duration, b: Duration) -> Bool { a.milliseconds < b.milliseconds }

    /// Parses `500ms`, `5s`, `2m`, `1h`; refuses zero, negatives and anything past a day.
    public static func parse(_ text: some StringProtocol) -> Duration? {
        let units: [(String, Int64)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000)]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            let digits = text.dropLast(suffix.count)
            guard !digits.isEmpty, digits.count <= 9, digits.allSatisfy({ $0.isASCII && $0.isNumber }),
                let n = Int64(digits), n > 0
            else { return nil }
            let ms = n * scale
            guard ms <= 86_400_000 else { return nil }
            return Duration(milliseconds: ms)
        }
        return nil
    }

    /// The largest whole unit that prints it exactly (`1h`, `90s`, `250ms`), in the syntax ``parse(_:)`` reads.
    public var description: String {
        if milliseconds % 3_600_000 == 0 { return "\(milliseconds / 3_600_000)h" }
        if milliseconds % 60_000 == 0 { return "\(milliseconds / 60_000)m" }
        if milliseconds % 1000 == 0 { return "\(milliseconds / 1000)s" }
        return "\(milliseconds)ms"
    }
}

/// A rate such as `100/s`: `count` events per `seconds`.
public struct Rate: Hashable, Sendable, Codable, CustomStringConvertible {
    /// Events allowed per period.
    public var count: UInt32
    /// The period in seconds: 1, 60 or 3600 when parsed.
    public var seconds: UInt32

    /// `count` events per `seconds` seconds; `seconds` must not be 0.
    public init(count: UInt32, seconds: UInt32) {
        self.count = count
        self.seconds = seconds
    }

    /// Events per second, for token buckets.
    package var perSecond: Double { Double(count) / Double(seconds) }

    /// Parses `N/s`, `N/m` or `N/h` with N between 1 and 10,000,000.
    public static func parse(_ text: some StringProtocol) -> Rate? {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, parts[0].count <= 8,
            parts[0].allSatisfy({ $0.isASCII && $0.isNumber }), let n = UInt32(parts[0]), n > 0, n <= 10_000_000
        else { return nil }
        switch parts[1] {
        case "s": return Rate(count: n, seconds: 1)
        case "m": return Rate(count: n, seconds: 60)
        case "h": return Rate(count: n, seconds: 3600)
        default: return nil
        }
    }

    /// `N/s`, `N/m` or `N/h`, in the syntax ``parse(_:)`` reads.
    public var description: String {
        switch seconds {
        case 60: "\(count)/m"
        case 3600: "\(count)/h"
        default: "\(count)/s"
        }
    }
}

/// A weekly window in a time zone: `mon-fri 08:00-18:00 Europe/Berlin`.
public struct TimeWindow: Hashable, Sendable, Codable, CustomStringConvertible {
    /// Days of the week as a bit set, bit 0 = Monday … bit 6 = Sunday (ISO 8601 order).
    public var days: UInt8
    /// Minutes after local midnight at which the window opens.
    package var startMinute: Int
    /// Minutes after local midnight at which it closes; below `startMinute` means it runs past
    /// midnight into the next day (the day bit names the day it opens).
    package var endMinute: Int
    /// IANA time zone identifier.
    public var zone: String

    /// A window on the days set in `days` (bit 0 = Monday) from `startMinute` to `endMinute` local time in
    /// `zone`; the zone is not checked here.
    public init(days: UInt8, startMinute: Int, endMinute: Int, zone: String) {
        self.days = days
        self.startMinute = startMinute
        self.endMinute = endMinute
        self.zone = zone
    }

    static let dayNames = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

    /// The policy syntax: `time DAYS HH:MM-HH:MM ZONE`, days as runs (`mon-fri`) or `daily`.
    public var description: String {
        // Consecutive days print as a range: mon-fri, not mon,tue,wed,thu,fri.
        var runs: [String] = []
        var day = 0
        while day < 7 {
            guard days & (1 << day) != 0 else {
                day += 1
                continue
            }
            var end = day
            while end + 1 < 7 && days & (1 << (end + 1)) != 0 { end += 1 }
            runs.append(end - day >= 2 ? "\(Self.dayNames[day])-\(Self.dayNames[end])" : (day...end).map { Self.dayNames[$0] }.joined(separator: ","))
            day = end + 1
        }
        let d = days == 0x7f ? "daily" : runs.joined(separator: ",")
        func hm(_ m: Int) -> String {
            let h = m / 60, mm = m % 60
            return (h < 10 ? "0" : "") + "\(h):" + (mm < 10 ? "0" : "") + "\(mm)"
        }
        // An end of 0 was written 24:00 (00:00 would equal no start and is refused).
        return "time \(d) \(hm(startMinute))-\(endMinute == 0 ? "24:00" : hm(endMinute)) \(zone)"
    }
}
