import Foundation

/// The value of `PREFIX/current`: which bundle the fleet runs, the one before it, who moved the
/// pointer and when, and an optional canary rollout.
public struct BundlePointer: Codable, Sendable, Equatable {
    /// A canary: only edges whose ``RolloutBucket`` is below `percent` run `hash`; the others keep
    /// running `previous`.
    public struct Rollout: Codable, Sendable, Equatable {
        /// The share of the edges (by bucket) that run the new bundle, 1-99.
        public var percent: Int
        /// A canary of `percent` % of the edges.
        public init(percent: Int) { self.percent = percent }
    }

    /// The bundle the fleet runs (the canary's, under a rollout).
    public var hash: String
    /// The bundle the pointer named before (what `--previous` rolls back to).
    public var previous: String?
    /// Who published (user@host, or what `--publisher` said).
    public var publisher: String
    /// ISO 8601, UTC.
    public var time: String
    /// A canary rollout; nil: every edge runs `hash`.
    public var rollout: Rollout?

    /// A pointer written now (or at `time`).
    public init(hash: String, previous: String?, publisher: String, time: Date = Date(), rollout: Rollout? = nil) {
        self.hash = hash
        self.previous = previous
        self.publisher = publisher
        self.time = ISO8601DateFormatter().string(from: time)
        self.rollout = rollout
    }

    /// The bundle the edge named `edge` should run under this pointer.
    public func hash(forEdge edge: String) -> String {
        guard let rollout, rollout.percent < 100, let previous else { return hash }
        return RolloutBucket.of(edge) < rollout.percent ? hash : previous
    }

    func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return try encoder.encode(self)
    }

    static func decode(_ data: Data) throws -> BundlePointer {
        do {
            let pointer = try JSONDecoder().decode(BundlePointer.self, from: data)
            guard BundleHash.isValid(pointer.hash), pointer.previous.map(BundleHash.isValid) ?? true else {
                throw FleetError.invalidPointer("a hash is not 64 lowercase hex digits")
            }
            return pointer
        } catch let error as FleetError {
            throw error
        } catch {
            throw FleetError.invalidPointer("\(error)")
        }
    }
}

/// The stable bucket (0-99) of an edge for canary rollouts: the first 4 bytes of SHA-256(name),
/// big-endian, modulo 100. Stable across restarts and machines, so a 10 % canary is the same 10 %.
public enum RolloutBucket {
    /// The bucket, 0-99, of the edge named `edgeName`.
    public static func of(_ edgeName: String) -> Int {
        let hex = BundleHash.of(Data(edgeName.utf8))
        let first4 = UInt32(hex.prefix(8), radix: 16) ?? 0
        return Int(first4 % 100)
    }
}
