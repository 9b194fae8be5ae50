import PolicyLang

/// What a policy change does: every request whose verdict changes, as regions.
///
/// Computed from the two compiled tables, not sampled: a request's verdict differs between the
/// two policies exactly when it lies in one of ``regions`` (and the region's time condition
/// holds at the request's instant). Identities are matched by key, so renaming one is no
/// change; an identity on one side only gets nothing on the other (unknown peers are refused).
/// Traffic toward clients is compared too, as the regions with ``DecisionRegion/anyone``.
public struct PolicyDiff: Sendable {
    /// Every region whose verdict changes, in reading order (by who, then where, then when).
    public var regions: [DecisionRegion]

    /// Regions where a request that was refused is now allowed.
    package var grants: [DecisionRegion] { regions.filter { $0.before.verdict == .deny && $0.after.verdict == .allow } }
    /// Regions where a request that was allowed is now refused.
    package var revokes: [DecisionRegion] { regions.filter { $0.before.verdict == .allow && $0.after.verdict == .deny } }

    /// Whether the change leaves every decision as it was.
    public var isEmpty: Bool { regions.isEmpty }

    /// Compares two compiled policy sets. `oldSet` and `newSet`, when given, name identity
    /// sets by the group, tag or user they are exactly (a bundle carries no groups or tags).
    ///
    /// Cost: one pass over the merged address partitions per pair of identity classes, with the
    /// port tables and cells of each distinct combination compared once.
    public static func compare(
        old: DecisionTables, new: DecisionTables, oldSet: ResolvedPolicySet? = nil, newSet: ResolvedPolicySet? = nil
    ) -> PolicyDiff {
        var comparer = RegionComparer(old: old, new: new)
        let regions = comparer.regions(rows: comparer.rows())
        let labeller = IdentityLabeller(sets: [newSet, oldSet].compactMap { $0 }, names: Set(old.identities.map(\.name) + new.identities.map(\.name)))
        return PolicyDiff(regions: labeller.label(regions).sorted(by: DecisionRegion.readingOrder))
    }
}

extension DecisionRegion {
    /// Identity rows first (anyone last), then family, address, protocol, port and time.
    static func readingOrder(_ a: DecisionRegion, _ b: DecisionRegion) -> Bool {
        if a.anyone != b.anyone { return !a.anyone }
        if a.identities != b.identities { return a.identities.lexicographicallyPrecedes(b.identities) }
        if a.addresses != b.addresses { return a.addresses < b.addresses }
        if a.proto != b.proto { return a.proto < b.proto }
        if a.ports != b.ports { return a.ports.lower < b.ports.lower }
        return a.time.description < b.time.description
    }
}

/// Names a set of identities by the group, tag or user whose identities are exactly that set.
struct IdentityLabeller {
    private var labels: [[String]: String] = [:]

    init(sets: [ResolvedPolicySet], names: Set<String>) {
        // The first set (the new one) wins where both describe an identity.
        var identities: [String: ResolvedIdentity] = [:]
        for s in sets.reversed() {
            for i in s.identities { identities[i.name] = i }
        }
        var members: [String: Set<String>] = [:]
        for (name, i) in identities where names.contains(name) {
            for g in i.groups { members["group:\(g)", default: []].insert(name) }
            for t in i.tags { members["tag:\(t)", default: []].insert(name) }
            if let u = i.user { members["user:\(u)", default: []].insert(name) }
        }
        // Groups explain better than tags, tags better than users; then the shortest name.
        func rank(_ label: String) -> (Int, Int, String) {
            (label.hasPrefix("group:") ? 0 : label.hasPrefix("tag:") ? 1 : 2, label.count, label)
        }
        for (label, set) in members.sorted(by: { rank($0.key) < rank($1.key) }) {
            let key = set.sorted()
            if labels[key] == nil && set.count > 1 { labels[key] = label }
        }
        if names.count > 1 { labels[names.sorted()] = "every identity" }
    }

    func label(_ regions: [DecisionRegion]) -> [DecisionRegion] {
        regions.map { r in
            var r = r
            r.label = labels[r.identities]
            return r
        }
    }
}
