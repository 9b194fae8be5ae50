import Foundation
import PolicyLang

/// A time zone's UTC offsets, precomputed so that a decision never calls into the calendar.
///
/// `offsets[i]` is in force from `transitions[i-1]` (inclusive) to `transitions[i]`; `offsets[0]`
/// before the first transition. Transitions cover 2020 to 2050; past them the last offset holds.
public struct ZoneTable: Sendable, Equatable {
    /// The IANA identifier (`Europe/Berlin`), as the policy wrote it.
    public var name: String
    /// UTC instants, in seconds, at which the offset changes.
    public var transitions: [Int64]
    /// Offsets from UTC in seconds, one more than `transitions`.
    public var offsets: [Int32]

    static let firstInstant: Int64 = 1_577_836_800  // 2020-01-01T00:00:00Z
    static let lastInstant: Int64 = 2_524_608_000  // 2050-01-01T00:00:00Z

    /// A table from precomputed parts (as a bundle stores it); the caller keeps `offsets.count ==
    /// transitions.count + 1`.
    public init(name: String, transitions: [Int64], offsets: [Int32]) {
        self.name = name
        self.transitions = transitions
        self.offsets = offsets
    }

    /// Builds the table from the system's zone database (Foundation's TimeZone).
    public init?(zone name: String) {
        guard let tz = TimeZone(identifier: name) else { return nil }
        var transitions: [Int64] = []
        var offsets: [Int32] = [Int32(tz.secondsFromGMT(for: Date(timeIntervalSince1970: Double(Self.firstInstant))))]
        var cursor = Date(timeIntervalSince1970: Double(Self.firstInstant))
        while let next = tz.nextDaylightSavingTimeTransition(after: cursor), next.timeIntervalSince1970 < Double(Self.lastInstant) {
            let instant = Int64(next.timeIntervalSince1970.rounded())
            let offset = Int32(tz.secondsFromGMT(for: next))
            if offset != offsets.last {
                transitions.append(instant)
                offsets.append(offset)
            }
            cursor = next.addingTimeInterval(1)
        }
        self.init(name: name, transitions: transitions, offsets: offsets)
    }

    /// The offset at `seconds` and the next instant at which it changes (Int64.max if never).
    @inlinable
    public func offset(at seconds: Int64) -> (offset: Int64, until: Int64) {
        // Few transitions (two a year at most): binary search.
        var lo = 0, hi = transitions.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if transitions[mid] <= seconds { lo = mid + 1 } else { hi = mid }
        }
        return (Int64(offsets[lo]), lo < transitions.count ? transitions[lo] : .max)
    }
}

/// One `time DAYS HH:MM-HH:MM ZONE` condition, lowered to numbers.
public struct TimeAtom: Sendable, Equatable, Hashable {
    /// Days of the week as a bit set, bit 0 = Monday, as in ``TimeWindow/days``.
    public var days: UInt8
    /// Minutes after local midnight at which the window opens.
    public var startMinute: Int16
    /// Minutes after local midnight at which it closes; below `startMinute`, it closes the next day.
    public var endMinute: Int16
    /// Index into the tables' zones.
    public var zone: Int32

    /// A window from its parts; `zone` must index the tables' zones.
    public init(days: UInt8, startMinute: Int16, endMinute: Int16, zone: Int32) {
        self.days = days
        self.startMinute = startMinute
        self.endMinute = endMinute
        self.zone = zone
    }

    /// Whether the window is open at `seconds` (UTC), and the instant at or before which that
    /// answer may change: the next start or end of any day's window, or the next offset change.
    @inlinable
    public func evaluate(at seconds: Int64, zone table: ZoneTable) -> (open: Bool, until: Int64) {
        let (offset, zoneUntil) = table.offset(at: seconds)
        let local = seconds + offset
        let day = local >= 0 ? local / 86_400 : (local - 86_399) / 86_400
        let secondOfDay = local - day * 86_400
        let weekday = Int((day + 3) % 7 + 7) % 7  // 1970-01-01 was a Thursday; 0 = Monday
        let minute = Int16(secondOfDay / 60)
        let today = days & (1 << UInt8(weekday)) != 0
        let yesterday = days & (1 << UInt8((weekday + 6) % 7)) != 0
        let open: Bool
        if startMinute < endMinute {
            open = today && minute >= startMinute && minute < endMinute
        } else {
            open = (today && minute >= startMinute) || (yesterday && minute < endMinute)
        }
        // Next boundary today (start or end after now), else the earlier of the two tomorrow.
        let s = Int64(startMinute) * 60, e = Int64(endMinute) * 60
        var next = Int64.max
        for b in [s, e] where b > secondOfDay { next = min(next, b) }
        if next == .max { next = 86_400 + min(s, e) }
        let boundary = day * 86_400 + next - offset
        return (open, min(boundary, zoneUntil))
    }
}

/// A condition left over once an identity's static attributes are known: only time is left.
public indirect enum TimeExpression: Hashable, Sendable {
    case atom(Int)
    case not(TimeExpression)
    case and(TimeExpression, TimeExpression)
    case or(TimeExpression, TimeExpression)

    /// Postfix code: an index ≥ 0 pushes that atom's value; `not`, `and`, `or` are -1, -2, -3.
    public var code: [Int32] {
        switch self {
        case .atom(let i): [Int32(i)]
        case .not(let e): e.code + [Opcode.not]
        case .and(let a, let b): a.code + b.code + [Opcode.and]
        case .or(let a, let b): a.code + b.code + [Opcode.or]
        }
    }

    /// The operator codes of ``code``; negative so that they never collide with an atom index.
    public enum Opcode {
        /// Pops one value, pushes its negation.
        public static let not: Int32 = -1
        /// Pops two values, pushes whether both hold.
        public static let and: Int32 = -2
        /// Pops two values, pushes whether either holds.
        public static let or: Int32 = -3
    }
}

/// A condition partially evaluated for one identity.
enum Residual: Hashable {
    case constant(Bool)
    case time(TimeExpression)

    static func not(_ r: Residual) -> Residual {
        switch r {
        case .constant(let b): .constant(!b)
        case .time(let e): .time(.not(e))
        }
    }

    static func and(_ a: Residual, _ b: Residual) -> Residual {
        switch (a, b) {
        case (.constant(false), _), (_, .constant(false)): .constant(false)
        case (.constant(true), let x), (let x, .constant(true)): x
        case (.time(let x), .time(let y)): .time(.and(x, y))
        }
    }

    static func or(_ a: Residual, _ b: Residual) -> Residual {
        switch (a, b) {
        case (.constant(true), _), (_, .constant(true)): .constant(true)
        case (.constant(false), let x), (let x, .constant(false)): x
        case (.time(let x), .time(let y)): .time(.or(x, y))
        }
    }
}
