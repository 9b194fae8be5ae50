import Foundation

/// The document `ztpc status` shows: what ztpd's control socket answers to `status`, as JSON
/// with snake_case keys (`ztpc status --json` prints it as is). The same type encodes it in
/// ztpd and decodes it in ztpc, so that the two cannot drift apart.
package struct EdgeStatus: Codable, Sendable, Equatable {
    /// The policy generation in force and how reloads went.
    package struct Policy: Codable, Sendable, Equatable {
        package var generation: UInt64
        package var origin: String
        /// ISO 8601.
        package var loadedAt: String
        package var rules: Int
        package var identities: Int
        package var reloads: UInt64
        package var reloadFailures: UInt64
        /// Compiles abandoned for a newer change (not failures).
        package var reloadsSuperseded: UInt64
        /// The message of the last refused reload, with its file:line:column; nil once one succeeds.
        package var lastReloadError: String?
        /// When the last reload (or remote bundle) was refused, ISO 8601; kept after a later
        /// success, so that a refusal between two looks is still seen. Nil when none was.
        package var lastReloadErrorAt: String?
        /// The SHA-256 of the bundle in force (its bytes, signatures included), in hex; nil for
        /// a policy directory.
        package var bundleHash: String?
        /// The trusted publisher whose signature the bundle in force carries, in base64; nil
        /// when the edge requires none.
        package var signer: String?

        enum CodingKeys: String, CodingKey {
            case generation, origin, rules, identities, reloads, signer
            case loadedAt = "loaded_at", reloadFailures = "reload_failures", reloadsSuperseded = "reloads_superseded"
            case lastReloadError = "last_reload_error", lastReloadErrorAt = "last_reload_error_at"
            case bundleHash = "bundle_hash"
        }

        /// Writes `last_reload_error` as null rather than leaving it out, so that readers of
        /// `--json` see every key whatever happened.
        package func encode(to encoder: any Encoder) throws {
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
            try c.encode(lastReloadErrorAt, forKey: .lastReloadErrorAt)
            try c.encode(bundleHash, forKey: .bundleHash)
            try c.encode(signer, forKey: .signer)
        }
    }

    /// A peer with a session, and the identity the policy gives its key (nil: none).
    package struct Session: Codable, Sendable, Equatable {
        package var peer: String
        package var identity: String?

        package func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(peer, forKey: .peer)
            try c.encode(identity, forKey: .identity)
        }
    }

    /// The enforcer's counters.
    package struct Decisions: Codable, Sendable, Equatable {
        /// Packets passed.
        package var allowed: UInt64
        package var cacheHits: UInt64
        package var cacheMisses: UInt64
        /// Packets dropped, by reason.
        package var dropped: [String: UInt64]
        /// Decisions by rule id.
        package var byRule: [String: UInt64]
        package var cachedFlows: Int
        package var cacheCapacity: Int

        enum CodingKeys: String, CodingKey {
            case allowed, dropped
            case cacheHits = "cache_hits", cacheMisses = "cache_misses", byRule = "by_rule"
            case cachedFlows = "cached_flows", cacheCapacity = "cache_capacity"
        }
    }

    /// The tunnel's counters.
    package struct Tunnel: Codable, Sendable, Equatable {
        package var peers: Int
        package var handshakes: UInt64
        package var receivedBytes: UInt64
        package var sentBytes: UInt64
        /// Datagrams and packets the tunnel dropped, by reason.
        package var drops: [String: UInt64]

        enum CodingKeys: String, CodingKey {
            case peers, handshakes, drops
            case receivedBytes = "rx_bytes", sentBytes = "tx_bytes"
        }
    }

    /// The XDP guard on the underlay interface, when attached.
    package struct XDP: Codable, Sendable, Equatable {
        package var interface: String
        package var mode: String
        /// Packets by the program's verdict and reason (`drop_blocked`, `pass_transport`, ...).
        package var counters: [String: UInt64]

        package init(interface: String, mode: String, counters: [String: UInt64]) {
            self.interface = interface
            self.mode = mode
            self.counters = counters
        }
    }

    package var policy: Policy
    /// Ordered by peer key.
    package var sessions: [Session]
    package var decisions: Decisions
    /// Nil until a tunnel is attached.
    package var tunnel: Tunnel?
    package var xdp: XDP?
    package var uptimeSeconds: Int

    enum CodingKeys: String, CodingKey {
        case policy, sessions, decisions, tunnel, xdp
        case uptimeSeconds = "uptime_seconds"
    }

    /// The document as ztpd sends it: pretty, keys sorted, one trailing newline.
    package func json() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(self)) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    /// Reads a document that ``json()`` wrote.
    package static func decode(_ text: String) throws -> EdgeStatus {
        try JSONDecoder().decode(EdgeStatus.self, from: Data(text.utf8))
    }
}
