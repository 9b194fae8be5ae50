import PolicyCompiler
import PolicyLang

/// Regions that differ only in where they go, shown together: one block per who, when and
/// verdicts, listing its destinations.
struct RegionBlock {
    var first: DecisionRegion
    /// Per address span, its protocols and ports: `tcp 0-442,444-65535; udp; icmp`.
    var destinations: [(AddressSpan, String)]

    static func group(_ regions: [DecisionRegion]) -> [RegionBlock] {
        struct Key: Hashable {
            var identities: [String]
            var anyone: Bool
            var time: TimeCondition
            var before: RegionVerdict
            var after: RegionVerdict
        }
        var order: [Key] = []
        var grouped: [Key: [DecisionRegion]] = [:]
        for r in regions {
            let k = Key(identities: r.identities, anyone: r.anyone, time: r.time, before: r.before, after: r.after)
            if grouped[k] == nil { order.append(k) }
            grouped[k, default: []].append(r)
        }
        return order.map { k in
            let regions = grouped[k]!
            var spans: [AddressSpan] = []
            var services: [AddressSpan: [RegionProtocol: [PortRange]]] = [:]
            for r in regions {
                if services[r.addresses] == nil { spans.append(r.addresses) }
                services[r.addresses, default: [:]][r.proto, default: []].append(r.ports)
            }
            let destinations = spans.sorted().map { span in (span, describe(services[span]!)) }
            return RegionBlock(first: regions[0], destinations: destinations)
        }
    }

    private static func describe(_ byProto: [RegionProtocol: [PortRange]]) -> String {
        if byProto.count == RegionProtocol.allCases.count && byProto.values.allSatisfy({ $0 == [.all] }) {
            return "every protocol and port"
        }
        return RegionProtocol.allCases.compactMap { p -> String? in
            guard let ports = byProto[p] else { return nil }
            if !p.hasPorts || ports == [.all] { return p.rawValue }
            return "\(p.rawValue) " + ports.sorted { $0.lower < $1.lower }.map(\.description).joined(separator: ",")
        }.joined(separator: "; ")
    }
}
