import PolicyLang

/// A token bucket: `rate` tokens a second, holding at most one second's worth (or `burst`).
struct TokenBucket: Sendable {
    private var tokens: Double
    private var last: Int64
    private(set) var perSecond: Double
    private(set) var capacity: Double

    init(rate: Rate, now: Int64) {
        perSecond = rate.perSecond
        capacity = max(1, Double(rate.count))
        tokens = capacity
        last = now
    }

    /// Changes the rate (on reload) without refilling the bucket.
    mutating func update(rate: Rate) {
        perSecond = rate.perSecond
        capacity = max(1, Double(rate.count))
        tokens = min(tokens, capacity)
    }

    /// Takes a token if there is one. `now` is in milliseconds; time going backwards adds nothing.
    @inline(__always)
    mutating func take(now: Int64) -> Bool {
        if now > last {
            tokens = min(capacity, tokens + Double(now - last) * perSecond / 1000)
            last = now
        }
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }
}
