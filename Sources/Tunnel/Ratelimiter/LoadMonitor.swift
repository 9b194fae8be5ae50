/// Decides when the responder is "under load" (paper 5.4.7): more handshake messages
/// arrived in the last second than `threshold`. It then stays under load for
/// UNDER_LOAD_AFTER_TIME, during which handshake messages need a valid MAC2 (senders
/// without one get a cookie reply) and pass the per-address ``Ratelimiter``.
///
/// wireguard-go measures the same thing by the length of its handshake queue; a rate is
/// the equivalent for a responder that handles handshakes inline.
struct LoadMonitor {
    /// Handshake messages per second above which we are under load.
    let threshold: Int
    private var windowStart: ContinuousClock.Instant?
    private var countInWindow = 0
    private var underLoadUntil: ContinuousClock.Instant?

    init(threshold: Int) {
        self.threshold = max(1, threshold)
    }

    /// Counts one handshake message received at `now`; returns whether we are under load.
    mutating func record(now: ContinuousClock.Instant) -> Bool {
        if let start = windowStart, now - start < .seconds(1) {
            countInWindow += 1
        } else {
            windowStart = now
            countInWindow = 1
        }
        if countInWindow > threshold { underLoadUntil = now + WG.UNDER_LOAD_AFTER_TIME }
        return isUnderLoad(now: now)
    }

    func isUnderLoad(now: ContinuousClock.Instant) -> Bool {
        underLoadUntil.map { now < $0 } ?? false
    }
}
