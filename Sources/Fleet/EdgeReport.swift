import Foundation

/// What an edge tells the fleet about itself, at `PREFIX/edges/NAME` (JSON, snake_case keys).
public struct EdgeReport: Codable, Sendable, Equatable {
    /// The edge's name (its key's last segment).
    public var name: String
    /// The bundle the edge enforces (nil: none from the fleet yet).
    public var bundleHash: String?
    /// The policy generation in force on the edge (counts every install, local or from the fleet).
    public var generation: UInt64
    /// The last bundle the edge refused, while the pointer still names it for this edge.
    public var refusedHash: String?
    /// Why the last install or fetch failed; nil when the edge runs what it should.
    public var lastError: String?
    /// Tunnel sessions open now.
    public var sessions: Int
    /// Seconds since ztpd started.
    public var uptimeSeconds: Int
    /// The ztpd version.
    public var version: String
    /// When the edge wrote this report (ISO 8601, UTC).
    public var updatedAt: String

    /// A report written now (or at `updatedAt`).
    public init(
        name: String, bundleHash: String?, generation: UInt64, refusedHash: String? = nil, lastError: String? = nil,
        sessions: Int, uptimeSeconds: Int, version: String, updatedAt: Date = Date()
    ) {
        self.name = name
        self.bundleHash = bundleHash
        self.generation = generation
        self.refusedHash = refusedHash
        self.lastError = lastError
        self.sessions = sessions
        self.uptimeSeconds = uptimeSeconds
        self.version = version
        self.updatedAt = ISO8601DateFormatter().string(from: updatedAt)
    }

    enum CodingKeys: String, CodingKey {
        case name, generation, sessions, version
        case bundleHash = "bundle_hash", refusedHash = "refused_hash", lastError = "last_error"
        case uptimeSeconds = "uptime_seconds", updatedAt = "updated_at"
    }

    /// Writes absent values as null, so that every key is there for readers of the JSON.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(bundleHash, forKey: .bundleHash)
        try c.encode(generation, forKey: .generation)
        try c.encode(refusedHash, forKey: .refusedHash)
        try c.encode(lastError, forKey: .lastError)
        try c.encode(sessions, forKey: .sessions)
        try c.encode(uptimeSeconds, forKey: .uptimeSeconds)
        try c.encode(version, forKey: .version)
        try c.encode(updatedAt, forKey: .updatedAt)
    }

    /// Checks an edge name: it becomes an etcd key segment.
    public static func validate(name: String) throws {
        guard !name.isEmpty, !name.contains("/"), name.utf8.count <= 253 else { throw FleetError.invalidEdgeName(name) }
    }
}
