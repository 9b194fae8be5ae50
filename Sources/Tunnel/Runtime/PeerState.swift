/// What the runtime keeps per peer beyond the handshake state in ``Device``: the
/// endpoint, the three keypair slots of the paper (previous, current, next), packets
/// waiting for a session, and the timer deadlines. Deadlines are plain instants that
/// the runtime's timer thread compares with the clock, instead of one OS timer each.
///
/// A class, owned by the runtime and touched only under its lock: the data path reads a
/// dozen fields per packet, and each read of a struct stored in a dictionary copied the
/// whole state.
final class PeerState {
    let publicKey: PublicKey
    var endpoint: Endpoint?
    var persistentKeepalive: Duration?

    /// The keypair data is sent with.
    var current: Keypair?
    /// The keypair before the last rotation: still accepted, for packets in flight.
    var previous: Keypair?
    /// A responder's fresh keypair, unused for sending until the initiator proves it
    /// holds it too (its first transport message), then rotated into `current`.
    var next: Keypair?

    /// Packets (and keepalives, as empty packets) waiting for a usable keypair.
    var staged: [[UInt8]] = []
    static let maximumStaged = 128

    /// When the current series of handshake attempts started (nil: none in flight).
    var handshakeStartedAt: ContinuousClock.Instant?
    var lastInitiationSentAt: ContinuousClock.Instant?
    /// Retransmit the initiation (REKEY_TIMEOUT + jitter after the last one).
    var retransmitAt: ContinuousClock.Instant?
    /// Send a keepalive unless something is sent before (KEEPALIVE_TIMEOUT after data arrived).
    var keepaliveAt: ContinuousClock.Instant?
    /// Start a handshake unless something authenticated arrives before
    /// (KEEPALIVE_TIMEOUT + REKEY_TIMEOUT after data was sent).
    var newHandshakeAt: ContinuousClock.Instant?
    /// Last authenticated packet (handshake, data or keepalive) we sent.
    var lastSentAt: ContinuousClock.Instant?

    /// Wall-clock time of the last completed handshake, for `wg show`.
    var lastHandshakeWallTime: (seconds: Int, nanoseconds: Int)?
    /// This peer's share of the interface's counters (bytes, handshakes, drops).
    var counters = TunnelCounters()
    /// Whether a session-established event was reported and not yet ended.
    var sessionUp = false

    init(publicKey: PublicKey, endpoint: Endpoint?, persistentKeepalive: Duration?) {
        self.publicKey = publicKey
        self.endpoint = endpoint
        self.persistentKeepalive = persistentKeepalive
    }

    /// The local indices of all keypairs, for releasing them.
    var keypairIndices: [UInt32] { [current, previous, next].compactMap { $0?.localIndex } }
}

/// A read-only view of one peer, for status output (`wg show`) and tests.
package struct PeerStatus: Sendable {
    package let publicKey: PublicKey
    let endpoint: Endpoint?
    let allowedIPs: [IPPrefix]
    let persistentKeepalive: Duration?
    /// Seconds and nanoseconds since the Unix epoch, or nil if never.
    let lastHandshake: (seconds: Int, nanoseconds: Int)?
    let receivedBytes: UInt64
    let sentBytes: UInt64
    let hasSession: Bool
    let hasPresharedKey: Bool
}
