#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Protocol constants of WireGuard, named exactly as in the WireGuard paper
/// (J. A. Donenfeld, "WireGuard: Next Generation Kernel Network Tunnel", sections 5.4 and 6)
/// so that code can be checked against the paper line by line.
///
/// The SCREAMING_CASE names are deliberate: they are the paper's identifiers, not Swift style.
package enum WG {
    // MARK: Noise construction (paper 5.4)

    /// Noise protocol name, hashed to form the initial chaining key `C`.
    static let CONSTRUCTION = "Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s"
    /// Protocol identifier, mixed into the initial hash `H` so WireGuard transcripts
    /// can never be confused with another Noise_IKpsk2 deployment.
    static let IDENTIFIER = "WireGuard v1 zx2c4 Jason@zx2c4.com"
    /// Prefix hashed with the receiver's static public key to key `msg.mac1`.
    package static let LABEL_MAC1 = "mac1----"
    /// Prefix hashed with the responder's static public key to key the cookie AEAD.
    static let LABEL_COOKIE = "cookie--"

    // MARK: Timers and limits (paper 6.1)

    /// After this many messages under one keypair the initiator should start a new handshake.
    static let REKEY_AFTER_MESSAGES: UInt64 = 1 << 60
    /// Hard limit on messages per keypair: 2^64 - 2^13 - 1, leaving room for the replay
    /// window so a counter can never wrap into territory the filter would accept again.
    static let REJECT_AFTER_MESSAGES: UInt64 = UInt64.max - (1 << 13)
    /// After this age the initiator of a keypair should start a new handshake.
    package static let REKEY_AFTER_TIME: Duration = .seconds(120) * testTimersScale
    /// After this age a keypair must no longer be used to send or receive.
    static let REJECT_AFTER_TIME: Duration = .seconds(180) * testTimersScale
    /// How long to keep retrying a handshake before giving up.
    static let REKEY_ATTEMPT_TIME: Duration = .seconds(90) * testTimersScale
    /// Delay before retransmitting an unanswered handshake initiation.
    static let REKEY_TIMEOUT: Duration = .seconds(5) * testTimersScale
    /// The most random delay added to REKEY_TIMEOUT before an initiation is retransmitted
    /// (paper 6.1: "plus some jitter" so that peers that started together do not retry in
    /// lockstep; wireguard-go draws up to a third of a second, as we do).
    static let REKEY_TIMEOUT_JITTER_MAX: Duration = .milliseconds(334)
    /// Delay after receiving data before a keepalive is sent if nothing else was.
    static let KEEPALIVE_TIMEOUT: Duration = .seconds(10) * testTimersScale

    /// TEST ONLY: a factor in (0, 1] applied to the five timers above, read once from the
    /// environment variable `ZTP_TEST_TIMERS_SCALE` (ztpd's `--test-timers-scale` sets it),
    /// so that interop tests can watch keys rotate within seconds. Anything else (unset,
    /// unparsable, out of range) means 1: the paper's values. Never set it in production:
    /// shorter timers mean more handshakes, not more security.
    package static let testTimersScale: Double = {
        guard let raw = getenv("ZTP_TEST_TIMERS_SCALE"), let value = Double(String(cString: raw)),
              value > 0, value <= 1 else { return 1 }
        return value
    }()

    // MARK: Cookies (paper 5.4.7)

    /// Lifetime of the responder's random cookie secret `Rm`, and of a cookie `Lm`
    /// received by an initiator ("changes every two minutes").
    static let COOKIE_REFRESH_TIME: Duration = .seconds(120)

    // MARK: DoS defence (as wireguard-go's device/constants.go and ratelimiter/)

    /// Shortest interval between two initiations accepted from one peer: a flood of fresh
    /// initiations (new timestamps) cannot make a responder rebuild a peer's state faster.
    static let HANDSHAKE_INITIATION_RATE: Duration = .milliseconds(20)
    /// Once under load, stay there this long after the load drops.
    static let UNDER_LOAD_AFTER_TIME: Duration = .seconds(1)
}
