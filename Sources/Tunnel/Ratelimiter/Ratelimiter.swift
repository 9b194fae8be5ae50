/// Token buckets per source address for handshake messages, as wireguard-go's
/// `ratelimiter/`: 20 messages a second per address with a burst of 5. The responder
/// consults it only under load and only for messages with a valid MAC2, i.e. from
/// senders that proved they own their address, so a spoofer cannot use it to lock a
/// real peer out.
///
/// Entries idle for a second are collected, so memory is bounded by the number of
/// addresses seen in the last second. Plain value, no locking: the runtime owns it under
/// its lock. Time is passed in, for tests.
struct Ratelimiter {
    static let packetsPerSecond = 20
    static let packetsBurstable = 5
    static let garbageCollectTime: Duration = .seconds(1)
    /// Nanoseconds of credit one message costs, and the most a bucket holds.
    static let packetCost: Int64 = 1_000_000_000 / Int64(packetsPerSecond)
    static let maxTokens: Int64 = packetCost * Int64(packetsBurstable)

    /// Address only (the port is free for the sender to choose).
    struct Key: Hashable { let high: UInt64, low: UInt64 }
    private struct Entry { var tokens: Int64; var lastTime: ContinuousClock.Instant }

    private var table: [Key: Entry] = [:]
    private var lastCollection: ContinuousClock.Instant?

    /// Whether a message from `source` may be processed now; charges its bucket if so.
    mutating func allow(_ source: Endpoint, now: ContinuousClock.Instant) -> Bool {
        collectGarbage(now: now)
        let key = Key(high: source.high, low: source.low)
        guard var entry = table[key] else {
            table[key] = Entry(tokens: Self.maxTokens - Self.packetCost, lastTime: now)
            return true
        }
        let elapsed = now - entry.lastTime
        entry.tokens = min(Self.maxTokens, entry.tokens + Self.nanoseconds(elapsed))
        entry.lastTime = now
        let allowed = entry.tokens >= Self.packetCost
        if allowed { entry.tokens -= Self.packetCost }
        table[key] = entry
        return allowed
    }

    /// Number of addresses tracked (for tests).
    var count: Int { table.count }

    private mutating func collectGarbage(now: ContinuousClock.Instant) {
        if let last = lastCollection, now - last < Self.garbageCollectTime { return }
        lastCollection = now
        table = table.filter { now - $0.value.lastTime <= Self.garbageCollectTime }
    }

    private static func nanoseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        guard seconds < 1_000 else { return maxTokens }
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
