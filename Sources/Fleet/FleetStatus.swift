import Etcd
import Foundation

/// The fleet as etcd sees it: the pointer, every live edge, and which of them lag or refused.
public struct FleetStatus: Codable, Sendable, Equatable {
    /// One edge and how it stands against the pointer.
    public struct Edge: Codable, Sendable, Equatable {
        /// How an edge stands against the pointer.
        public enum State: String, Codable, Sendable {
            /// Runs the bundle the pointer names for it.
            case current
            /// Runs another bundle and has not refused the one it should run (yet).
            case straggler
            /// Refused the bundle the pointer names for it; keeps enforcing its previous one.
            case refused
        }

        /// What the edge reported.
        public var report: EdgeReport
        /// The bundle the pointer names for this edge (the canary's or the previous one).
        public var expectedHash: String?
        /// Current, straggling or refused.
        public var state: State

        enum CodingKeys: String, CodingKey {
            case report, state
            case expectedHash = "expected_hash"
        }
    }

    /// The fleet's prefix.
    public var prefix: String
    /// The pointer in force (nil: nothing published).
    public var pointer: BundlePointer?
    /// The mod revision of the pointer (0: none).
    public var pointerRevision: Int64
    /// Every edge whose lease lives, in name order.
    public var edges: [Edge]

    enum CodingKeys: String, CodingKey {
        case prefix, pointer, edges
        case pointerRevision = "pointer_revision"
    }

    /// Whether every edge runs what it should.
    public var converged: Bool { edges.allSatisfy { $0.state == .current } }

    /// Reads the pointer and every edge report in one consistent snapshot (one transaction).
    public static func read(client: EtcdClient, layout: FleetLayout) async throws -> FleetStatus {
        let result = try await client.txn(
            compare: [],
            success: [.range(.key(layout.current)), .range(.prefix(layout.edgesPrefix))]
        )
        guard result.results.count == 2, case .range(let pointerRange) = result.results[0],
            case .range(let edgeRange) = result.results[1]
        else {
            throw EtcdError.invalidResponse(endpoint: "txn", reason: "expected two range results")
        }
        let pointerKV = pointerRange.keyValues.first
        let pointer = try pointerKV.map { try BundlePointer.decode($0.value) }
        let edges = edgeRange.keyValues.compactMap { kv -> Edge? in
            let name = String(kv.key.dropFirst(layout.edgesPrefix.count))
            guard var report = try? JSONDecoder().decode(EdgeReport.self, from: kv.value) else {
                let unreadable = EdgeReport(
                    name: name, bundleHash: nil, generation: 0, lastError: "the edge's report is not valid JSON",
                    sessions: 0, uptimeSeconds: 0, version: "?"
                )
                return Edge(report: unreadable, expectedHash: pointer?.hash(forEdge: name), state: .straggler)
            }
            report.name = name
            return classify(report, pointer: pointer)
        }
        return FleetStatus(prefix: layout.prefix, pointer: pointer, pointerRevision: pointerKV?.modRevision ?? 0, edges: edges)
    }

    static func classify(_ report: EdgeReport, pointer: BundlePointer?) -> Edge {
        guard let pointer else { return Edge(report: report, expectedHash: nil, state: .current) }
        let expected = pointer.hash(forEdge: report.name)
        let state: Edge.State =
            if report.bundleHash == expected { .current }
            else if report.refusedHash == expected { .refused }
            else { .straggler }
        return Edge(report: report, expectedHash: expected, state: state)
    }
}
