/// Settings of handshake coalescing (see ``HandshakeCoalescer``).
package struct HandshakeCoalescing: Sendable, Equatable {
    /// How long after answering a peer's initiation further ones from that peer are
    /// coalesced.
    var window: Duration
    /// How many further initiations (new endpoint or newer timestamp) are answered in one
    /// window, beyond the first.
    var maxCoalesced: Int

    /// 500 ms and 8: a roaming client's burst (the same initiation from each of its
    /// addresses, a retransmission or two) is answered in full; a peer stuck in a loop of
    /// fresh initiations costs at most nine full handshakes in half a second.
    static let `default` = HandshakeCoalescing(window: .milliseconds(500), maxCoalesced: 8)
    /// No coalescing: every initiation goes through the full handshake checks.
    package static let off = HandshakeCoalescing(window: .zero, maxCoalesced: 0)

    /// Coalescing is off when the window or the allowance is zero.
    var isEnabled: Bool { window > .zero && maxCoalesced > 0 }

    package init(window: Duration, maxCoalesced: Int) {
        self.window = window
        self.maxCoalesced = max(0, maxCoalesced)
    }
}

/// Responder-side handshake coalescing (issue 6): roaming clients send bursts of
/// initiations, often the same initiation from several source addresses. The first
/// initiation from a peer is answered at once and opens a window; within it:
///
/// - an exact copy of the answered initiation from an endpoint not yet answered gets the
///   same response again, costing no Diffie-Hellman at all (recognised by its bytes before
///   MAC1, which determine the decrypted static key and timestamp, so identification is as
///   good as decrypting again); the copy goes to that endpoint only: the peer's endpoint
///   moves on fresh proof alone (its first transport message), as a copy proves nothing;
/// - a copy from an endpoint already answered is dropped, and so is a copy of an
///   initiation answered earlier in the window (superseded: the initiator no longer
///   accepts its response), both without DH;
/// - a different initiation is decrypted (one DH, to learn the peer and the timestamp)
///   and answered only if its timestamp is newer than the answered one's: an initiator
///   accepts only the response to its latest initiation, so an older one is useless;
/// - at most ``HandshakeCoalescing/maxCoalesced`` such further answers per window; the
///   rest are dropped. Past the cap the peer's newest initiation may go unanswered, and
///   its next retransmission (REKEY_TIMEOUT later) is answered in a new window: the cap
///   is for a peer that loops, not for roaming, which stays far below it.
///
/// Nothing is ever delayed: each initiation is answered or dropped as it arrives.
/// Plain value, owned by the runtime under its lock; time is passed in, for tests.
struct HandshakeCoalescer {
    /// What to do with an initiation that repeats an answered one byte for byte.
    enum Repeat: Equatable {
        /// Not a repeat of an initiation answered in an open window: handle it in full.
        case unknown
        /// Send `response` (the answer already given) to the new endpoint.
        case resend(peer: PublicKey, response: [UInt8], localIndex: UInt32)
        /// Already answered to that endpoint, or over the window's allowance.
        case drop(peer: PublicKey)
    }

    let settings: HandshakeCoalescing

    private struct Window {
        let start: ContinuousClock.Instant
        /// The newest initiation answered: its timestamp, bytes before MAC1, our response
        /// and our index in it.
        var timestamp: TAI64N
        var initiation: [UInt8]
        var response: [UInt8]
        var localIndex: UInt32
        /// Endpoints that received `response`.
        var endpoints: [Endpoint]
        /// Answers given after the first.
        var further = 0
        /// Identities of all initiations answered in the window, `initiation` included.
        var answered: [[UInt8]] = []
    }

    private var windows: [PublicKey: Window] = [:]
    /// The initiations answered in each open window, by their bytes before MAC1.
    private var byInitiation: [[UInt8]: PublicKey] = [:]

    init(settings: HandshakeCoalescing) {
        self.settings = settings
    }

    /// The part of an initiation that identifies it: sender index, ephemeral, encrypted
    /// static and timestamp (MACs excluded: MAC2 depends on the cookie, not the initiation).
    static func identity(of initiation: [UInt8]) -> [UInt8] {
        Array(initiation[4..<MessageInitiation.mac1Offset])
    }

    /// Checks whether `identity` repeats the initiation answered in an open window, before
    /// any DH. A resend is counted against the window's allowance.
    mutating func checkRepeat(_ identity: [UInt8], from source: Endpoint, now: ContinuousClock.Instant) -> Repeat {
        guard settings.isEnabled, let peer = byInitiation[identity], var window = open(peer, now: now) else {
            return .unknown
        }
        guard window.initiation == identity, !window.endpoints.contains(source),
              window.further < settings.maxCoalesced else { return .drop(peer: peer) }
        window.further += 1
        window.endpoints.append(source)
        windows[peer] = window
        return .resend(peer: peer, response: window.response, localIndex: window.localIndex)
    }

    /// Whether a new (not repeated) initiation from `peer` with `timestamp` may be answered.
    func admits(_ peer: PublicKey, timestamp: TAI64N, now: ContinuousClock.Instant) -> Bool {
        guard settings.isEnabled, let window = windows[peer], now - window.start < settings.window else { return true }
        return timestamp > window.timestamp && window.further < settings.maxCoalesced
    }

    /// Records the answer to a new initiation: opens a window, or counts against the open one.
    mutating func answered(_ peer: PublicKey, timestamp: TAI64N, identity: [UInt8], response: [UInt8],
                           localIndex: UInt32, to source: Endpoint, now: ContinuousClock.Instant) {
        guard settings.isEnabled else { return }
        if var window = open(peer, now: now) {
            window.further += 1
            window.answered.append(identity)
            window.timestamp = timestamp
            window.initiation = identity
            window.response = response
            window.localIndex = localIndex
            window.endpoints = [source]
            windows[peer] = window
        } else {
            windows[peer] = Window(start: now, timestamp: timestamp, initiation: identity, response: response,
                                   localIndex: localIndex, endpoints: [source], answered: [identity])
        }
        byInitiation[identity] = peer
    }

    /// Forgets `peer`'s window (its session was closed, or it was removed).
    mutating func forget(_ peer: PublicKey) {
        guard let window = windows.removeValue(forKey: peer) else { return }
        for identity in window.answered { byInitiation.removeValue(forKey: identity) }
    }

    /// Drops closed windows, so memory stays bounded by the peers answered in the last window.
    mutating func expire(now: ContinuousClock.Instant) {
        guard !windows.isEmpty else { return }
        for peer in Array(windows.keys) where now - windows[peer]!.start >= settings.window { forget(peer) }
    }

    /// Number of open windows (for tests).
    var count: Int { windows.count }

    /// `peer`'s window if still open; a closed one is forgotten.
    private mutating func open(_ peer: PublicKey, now: ContinuousClock.Instant) -> Window? {
        guard let window = windows[peer] else { return nil }
        guard now - window.start < settings.window else { forget(peer); return nil }
        return window
    }
}
