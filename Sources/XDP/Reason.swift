import CLibBPF

/// Why the XDP program let a packet through or dropped it: one counter each.
///
/// The raw values are `enum ztp_reason` in `bpf/ztp_xdp.h`, the program's counter indices
/// (a test checks that the two agree).
package enum Reason: UInt32, CaseIterable, Sendable, CustomStringConvertible {
    /// Not UDP to the tunnel port, or no port configured yet: passed untouched.
    case passNotTunnel = 0
    /// An IP fragment: passed, since only the first fragment carries the UDP header.
    case passFragment = 1
    /// A well-formed handshake initiation within its source's rate.
    case passInitiation = 2
    /// A well-formed handshake response.
    case passResponse = 3
    /// A well-formed cookie reply.
    case passCookieReply = 4
    /// A well-formed transport message to a live session.
    case passTransport = 5
    /// The source is in the deny list.
    case dropBlocked = 6
    /// Headers cut short, or a UDP length beyond the frame.
    case dropTruncated = 7
    /// A message type other than 1 to 4.
    case dropUnknownType = 8
    /// The three reserved bytes after the message type are not zero.
    case dropReserved = 9
    /// A length that the message type cannot have.
    case dropBadLength = 10
    /// Transport to a receiver index that is not one of the daemon's live sessions.
    case dropUnknownSession = 11
    /// A handshake initiation beyond its source's token bucket.
    case dropRateLimited = 12

    /// Whether packets counted under this reason were dropped.
    package var isDrop: Bool { rawValue >= Reason.dropBlocked.rawValue }

    /// The metric label: `pass_not_tunnel`, `drop_rate_limited`, ...
    package var description: String {
        switch self {
        case .passNotTunnel: "pass_not_tunnel"
        case .passFragment: "pass_fragment"
        case .passInitiation: "pass_initiation"
        case .passResponse: "pass_response"
        case .passCookieReply: "pass_cookie_reply"
        case .passTransport: "pass_transport"
        case .dropBlocked: "drop_blocked"
        case .dropTruncated: "drop_truncated"
        case .dropUnknownType: "drop_unknown_type"
        case .dropReserved: "drop_reserved"
        case .dropBadLength: "drop_bad_length"
        case .dropUnknownSession: "drop_unknown_session"
        case .dropRateLimited: "drop_rate_limited"
        }
    }

    /// The number of reasons the program counts (`ZTP_REASON_COUNT`).
    static let programCount = Int(ZTP_REASON_COUNT.rawValue)
}
