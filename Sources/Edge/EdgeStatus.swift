import Foundation

/// The document `ztpc status` shows: what ztpd's control socket answers to `status`, as JSON
/// with snake_case keys (`ztpc status --json` prints it as is). The same type encodes it in
/// ztpd and decodes it in ztpc, so that the two cannot drift apart.
public struct EdgeStatus: Codable, Sendable, Equatable {
    /// The policy generation in force and how reloads went.
    public struct Policy: Codable, Sendable, Equatable {
        public var generation: UInt64
        public var origin: String
        /// ISO 8601.
        public var loadedAt: String
        public var rules: Int
        public var identities: Int
        public var reloads: UInt64
        public var reloadFailures: UInt64
        /// Compiles abandoned for a newer change (not failures).
        public var reloadsSuperseded: UInt64
        /// The message of the last refused reload, with its file:line:column; nil once one succeeds.
        public var lastReloadError: String?

        enum CodingKeys: String, CodingKey {
            case generation, origin, rules, identities, reloads
            case loadedAt = "loaded_at", reloadFailures = "reload_failures", reloadsSuperseded = "reloads_superseded"
            case lastReloadError = "last_reload_error"
        }

        /// Writes `last_reload_error` as null rather than leaving it out, so that readers of
        /// `--json` see every key whatever happened.
        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(generation, forKey: .generation)
            try c.encode(origin, forKey: .origin)
            try c.encode(loadedAt, forKey: .loadedAt)
            try c.encode(rules, forKey: .rules)
            try c.encode(identities, forKey: .identities)
            try c.encode(reloads, forKey: .reloads)
            try c.encode(reloadFailures, forKey: .reloadFailures)
            try c.encode(reloadsSuperseded, forKey: .reloadsSuperseded)
            try c.encode(lastReloadError, forKey: .lastReloadError)
        }
    }

    /// A peer with a session, and the identity the policy gives its key (nil: none).
    public struct Session: Codable, Sendable, Equatable {
        public var peer: String
        public var identity: String?

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(peer, forKey: .peer)
            try c.encode(identity, forKey: .identity)
        }
    }

    /// The enforcer's counters.
    public struct Decisions: Codable, Sendable, Equatable {
        /// Packets passed.
        public var allowed: UInt64
        public var cacheHits: UInt64
        public var cacheMisses: UInt64
        /// Packets dropped, by reason.
        public var dropped: [String: UInt64]
        /// Decisions by rule id.
        public var byRule: [String: UInt64]
        public var cachedFlows: Int
        public var cacheCapacity: Int

        enum CodingKeys: String, CodingKey {
            case allowed, dropped
            case cacheHits = "cache_hits", cacheMisses = "cache_misses", byRule = "by_rule"
            case cachedFlows = "cached_flows", cacheCapacity = "cache_capacity"
        }
    }

    /// The tunnel's counters.
    public struct Tunnel: Codable, Sendable, Equatable {
        public var peers: Int
        public var handshakes: UInt64
        public var receivedBytes: UInt64
        public var sentBytes: UInt64
        /// Datagrams and packets the tunnel dropped, by reason.
        public var drops: [String: UInt64]

        enum CodingKeys: String, CodingKey {
            case peers, handshakes, drops
            case receivedBytes = "rx_bytes", sentBytes = "tx_bytes"
        }
    }

    /// The XDP guard on the underlay interface, when attached.
    public struct XDP: Codable, Sendable, Equatable {
        public var interface: String
        public var mode: String
        /// Packets by the program's verdict and reason (`drop_blocked`, `pass_transport`, ...).
        public var counters: [String: UInt64]

        public init(interface: String, mode: String, counters: [String: UInt64]) {
            self.interface = interface
            self.mode = mode
            self.counters = counters
        }
    }

    public var policy: Policy
    /// Ordered by peer key.
    public var sessions: [Session]
    public var decisions: Decisions
    /// Nil until a tunnel is attached.
    public var tunnel: Tunnel?
    public var xdp: XDP?
    public var uptimeSeconds: Int

    enum CodingKeys: String, CodingKey {
        case policy, sessions, decisions, tunnel, xdp
        case uptimeSeconds = "uptime_seconds"
    }

    /// The document as ztpd sends it: pretty, keys sorted, one trailing newline.
    public func json() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(self)) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    /// Reads a document that ``json()`` wrote.
    public static func decode(_ text: String) throws -> EdgeStatus {
        try JSONDecoder().decode(EdgeStatus.self, from: Data(text.utf8))
    }
}
