/// Why the tunnel dropped a datagram or packet. Each has a counter, globally and (when
/// the packet can be attributed) per peer.
package enum DropReason: String, CaseIterable, Sendable {
    /// A datagram of unknown type or of the wrong size for its type.
    case malformedMessage = "malformed_message"
    /// A handshake message whose MAC1 does not verify.
    case invalidMAC1 = "invalid_mac1"
    /// Under load, a handshake message without a valid MAC2 (answered with a cookie reply).
    case cookieRequired = "cookie_required"
    /// Under load, a handshake message over its source address's rate.
    case rateLimited = "rate_limited"
    /// A handshake message that failed later checks (decryption, unknown peer, stale
    /// timestamp, initiation flood, unexpected state).
    case handshakeRejected = "handshake_rejected"
    /// A transport message for an index we do not know (or no longer know).
    case unknownReceiver = "unknown_receiver"
    /// A transport message whose tag does not verify.
    case authenticationFailed = "authentication_failed"
    /// A transport message whose counter was already seen or is too old for the window.
    case replayed
    /// A transport message under a keypair older than REJECT_AFTER_TIME.
    case expiredKeypair = "expired_keypair"
    /// A decrypted packet that is not a well-formed IPv4/IPv6 packet.
    case malformedPacket = "malformed_packet"
    /// A decrypted packet whose source is outside its peer's allowed IPs.
    case disallowedSource = "disallowed_source"
    /// A packet the packet filter hook dropped.
    case filtered
    /// An outgoing packet whose destination no peer's allowed IPs cover.
    case noRoute = "no_route"
    /// A packet staged for a handshake pushed out by newer ones (queue full).
    case stagedOverflow = "staged_overflow"
    /// The socket or TUN device refused a write.
    case ioError = "io_error"
    /// A handshake initiation coalesced away (see ``HandshakeCoalescer``): a repeat of
    /// one already answered, an older one, or one over the window's allowance.
    case handshakeCoalesced = "handshake_coalesced"
}

/// Drop counters, one per ``DropReason``.
package struct DropCounters: Sendable, Equatable {
    private var values = [UInt64](repeating: 0, count: DropReason.allCases.count)

    package init() {}

    package subscript(reason: DropReason) -> UInt64 {
        get { values[Self.index(reason)] }
        set { values[Self.index(reason)] = newValue }
    }

    /// All drops, whatever the reason.
    var total: UInt64 { values.reduce(0, &+) }

    private static func index(_ reason: DropReason) -> Int {
        switch reason {
        case .malformedMessage: 0
        case .invalidMAC1: 1
        case .cookieRequired: 2
        case .rateLimited: 3
        case .handshakeRejected: 4
        case .unknownReceiver: 5
        case .authenticationFailed: 6
        case .replayed: 7
        case .expiredKeypair: 8
        case .malformedPacket: 9
        case .disallowedSource: 10
        case .filtered: 11
        case .noRoute: 12
        case .stagedOverflow: 13
        case .ioError: 14
        case .handshakeCoalesced: 15
        }
    }
}

/// Traffic and protocol counters, for the interface as a whole or for one peer.
/// Bytes are UDP payload bytes of transport messages (what `wg show` calls transfer).
package struct TunnelCounters: Sendable, Equatable {
    package var receivedBytes: UInt64 = 0
    package var sentBytes: UInt64 = 0
    /// Authenticated transport messages received (keepalives included).
    var receivedPackets: UInt64 = 0
    /// Transport messages sent (keepalives included).
    var sentPackets: UInt64 = 0
    /// Handshakes completed, in either role (each one is a key rotation).
    package var handshakes: UInt64 = 0
    var handshakeInitiationsSent: UInt64 = 0
    var cookieRepliesSent: UInt64 = 0
    /// X25519 shared secrets computed for handshake messages (see ``Device/dhOperations``):
    /// what handshakes cost the CPU, and what coalescing saves.
    var dhOperations: UInt64 = 0
    package var drops = DropCounters()

    package init() {}
}

/// A snapshot of the tunnel's counters, from ``TunnelRuntime/statistics()``.
package struct TunnelStatistics: Sendable {
    /// Everything, including what cannot be attributed to a peer (garbage, unknown indices).
    package var global: TunnelCounters
    /// Per configured peer.
    var peers: [PublicKey: TunnelCounters]
    /// Whether the responder is currently under load (cookies demanded).
    var underLoad: Bool

    package init(global: TunnelCounters = .init(), peers: [PublicKey: TunnelCounters] = [:], underLoad: Bool = false) {
        self.global = global
        self.peers = peers
        self.underLoad = underLoad
    }

    /// `key=value` lines (`drop_replayed=3`, `peer=<base64>` starting each peer), the
    /// form ztpd serves on its UAPI socket for `ztp-stats=1`.
    package var lines: [String] {
        var out = Self.lines(global) + ["under_load=\(underLoad)"]
        for (key, counters) in peers.sorted(by: { $0.key.base64 < $1.key.base64 }) {
            out.append("peer=\(key.base64)")
            out += Self.lines(counters)
        }
        return out
    }

    private static func lines(_ c: TunnelCounters) -> [String] {
        ["rx_bytes=\(c.receivedBytes)", "tx_bytes=\(c.sentBytes)", "rx_packets=\(c.receivedPackets)",
         "tx_packets=\(c.sentPackets)", "handshakes=\(c.handshakes)",
         "handshake_initiations_sent=\(c.handshakeInitiationsSent)", "cookie_replies_sent=\(c.cookieRepliesSent)",
         "dh_operations=\(c.dhOperations)"]
            + DropReason.allCases.map { "drop_\($0.rawValue)=\(c.drops[$0])" }
    }
}
