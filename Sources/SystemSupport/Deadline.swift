/// A point in time by which something must be done: a whole request, not each read. Taken from
/// the monotonic clock, so a change of the wall clock does not move it.
public struct Deadline: Sendable, Equatable {
    let instant: ContinuousClock.Instant?

    /// No deadline: wait for as long as it takes.
    public static let never = Deadline(instant: nil)

    /// `duration` from now.
    public static func after(_ duration: Duration) -> Deadline {
        Deadline(instant: .now + duration)
    }

    /// Whether the deadline is behind us.
    public var hasPassed: Bool {
        guard let instant else { return false }
        return instant <= .now
    }

    /// What is left, rounded up to whole milliseconds, as poll() takes it: -1 for no deadline.
    var pollTimeout: Int32 {
        guard let instant else { return -1 }
        let left = instant - .now
        if left <= .zero { return 0 }
        let (seconds, attoseconds) = left.components
        let milliseconds = seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
        return Int32(clamping: milliseconds)
    }
}
