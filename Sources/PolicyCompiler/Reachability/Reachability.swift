import PolicyLang

/// What a destination is open to, and what an identity may reach, read from the tables.
///
/// Both are a comparison against a policy that allows nothing: the regions whose verdict
/// differs from "nothing" are exactly those the policy allows. So they share the diff's
/// exactness and its region naming.
public enum Reachability {
    /// A part of the request space: addresses, ports and protocols.
    public struct Destination: Sendable {
        /// The address ranges to ask about.
        public var addresses: [AddressSpan]
        /// The ports to ask about (every port unless narrowed).
        public var ports: PortRange
        /// The protocols to ask about (all of them unless narrowed).
        public var protocols: Set<RegionProtocol>

        /// A destination of `addresses`, by default on every port and protocol.
        public init(addresses: [AddressSpan], ports: PortRange = .all, protocols: Set<RegionProtocol> = Set(RegionProtocol.allCases)) {
            self.addresses = addresses
            self.ports = ports
            self.protocols = protocols
        }
    }

    /// Who may reach some part of `destination`, as allowed regions inside it; with `atSeconds`,
    /// only what is allowed at that instant. Regions of "anyone" are traffic toward clients.
    public static func whoCan(
        _ tables: DecisionTables, set: ResolvedPolicySet? = nil, reach destination: Destination, atSeconds: Int64? = nil
    ) -> [DecisionRegion] {
        let scope = RegionComparer.Scope(addresses: destination.addresses, ports: destination.ports, protocols: destination.protocols)
        var comparer = RegionComparer(old: nothing, new: tables, scope: scope)
        return finish(comparer.regions(rows: comparer.rows()), tables, set, atSeconds)
    }

    /// Everything the identity at `identity` (an index of `tables.identities`; nil for
    /// "anyone") may reach, as allowed regions.
    package static func reachable(
        _ tables: DecisionTables, set: ResolvedPolicySet? = nil, identity: Int?, atSeconds: Int64? = nil
    ) -> [DecisionRegion] {
        var comparer = RegionComparer(old: nothing, new: tables)
        let name = identity.map { tables.identities[$0].name }
        let rows = comparer.rows().filter { $0.name == name }
        return finish(comparer.regions(rows: rows), tables, set, atSeconds)
    }

    private static func finish(_ regions: [DecisionRegion], _ tables: DecisionTables, _ set: ResolvedPolicySet?, _ at: Int64?) -> [DecisionRegion] {
        let labeller = IdentityLabeller(sets: set.map { [$0] } ?? [], names: Set(tables.identities.map(\.name)))
        return labeller.label(regions)
            .filter { r in at.map { r.time.holds(at: $0) } ?? true }
            .sorted(by: DecisionRegion.readingOrder)
    }

    /// Tables that allow nothing and know nobody.
    static let nothing = DecisionTables(
        sourceHash: [], policyNames: [], rules: [], identities: [], classCount: 0, defaultTTLMilliseconds: 5000,
        defaultRate: Rate(count: 100, seconds: 1), zones: [], atoms: [], expressions: [], cells: [Cell(candidates: [])],
        portTables: [], v4Starts: [0], v6Starts: [0], v4Segments: [], v6Segments: [], classWide: [])
}
