import PolicyLang

/// The lint checks: each a small function over the resolved set, each with its own code.
public enum Linter {
    /// Runs every check and returns their warnings.
    public static func lint(_ set: ResolvedPolicySet) -> [Diagnostic] {
        do {
            return try lint(set, budget: nil)
        } catch {
            preconditionFailure("a lint without a budget cannot be interrupted")
        }
    }

    /// ``lint(_:)`` under a compile budget, checked per rule and per identity.
    public static func lint(_ set: ResolvedPolicySet, budget: CompileBudget?) throws(CompileInterrupted) -> [Diagnostic] {
        let coverage = Coverage(set: set)
        return try allowAll(set) + shadowedRules(set, coverage, budget) + unusedGroups(set) + unusedHosts(set)
            + unusedIdentities(set, budget)
    }

    /// `allow * -> *:*` with no condition lets every identity reach everything.
    static func allowAll(_ set: ResolvedPolicySet) -> [Diagnostic] {
        set.rules.compactMap { r in
            guard r.action == .allow, r.rule.condition == nil, r.rule.subjects.contains(where: { $0.value == .any }),
                let t = r.rule.targets.first(where: { $0.host.value == .any && $0.ports == [.all] && $0.proto == nil })
            else { return nil }
            return .warning(
                .allowAll, "rule \(r.id) allows every identity to reach every address, port and protocol",
                at: t.host.span, help: "name the hosts and ports this access is for")
        }
    }

    /// Allows that a deny covers completely (unreachable), and rules that another rule of the
    /// same effect covers completely (redundant).
    static func shadowedRules(
        _ set: ResolvedPolicySet, _ coverage: Coverage, _ budget: CompileBudget? = nil
    ) throws(CompileInterrupted) -> [Diagnostic] {
        var out: [Diagnostic] = []
        for a in set.rules {
            try budget?.check()
            let candidates = coverage.candidates(covering: a).filter { $0 != a.index }
            if a.action == .allow,
                let d = candidates.first(where: { set.rules[$0].action == .deny && coverage.covers(set.rules[$0], a) })
            {
                let deny = set.rules[d]
                out.append(
                    .warning(
                        .unreachableRule, "rule \(a.id) can never allow anything: deny rule \(deny.id) covers it completely",
                        at: a.rule.span, notes: [.init("the covering deny rule", at: deny.rule.span)],
                        help: "remove the allow, or narrow the deny"))
                continue
            }
            let redundantTo = candidates.first { bIndex in
                let b = set.rules[bIndex]
                guard b.action == a.action, b.rule.effectiveRate == a.rule.effectiveRate,
                    b.rule.effectiveTTL == a.rule.effectiveTTL, coverage.covers(b, a)
                else { return false }
                // When two rules cover each other, only the later one is reported.
                return !(coverage.covers(a, b) && bIndex > a.index)
            }
            if let bIndex = redundantTo {
                let b = set.rules[bIndex]
                out.append(
                    .warning(
                        .redundantRule, "rule \(a.id) is redundant: rule \(b.id) already \(a.action == .allow ? "allows" : "denies") everything it does",
                        at: a.rule.span, notes: [.init("the covering rule", at: b.rule.span)],
                        help: "remove one of the two rules"))
            }
        }
        return out
    }

    static func unusedGroups(_ set: ResolvedPolicySet) -> [Diagnostic] {
        var used = Set<String>()
        for g in set.groups.values {
            for m in g.members { if case .group(let inner) = m.value { used.insert(inner) } }
        }
        for r in set.rules {
            for s in r.rule.subjects { if case .group(let g) = s.value { used.insert(g) } }
            if let c = r.rule.condition { collectGroups(c, into: &used) }
        }
        return set.groups.values.filter { !used.contains($0.name.value) }.map {
            .warning(.unusedGroup, "group '\($0.name.value)' is used by no rule and no other group", at: $0.name.span)
        }
    }

    private static func collectGroups(_ c: Condition, into used: inout Set<String>) {
        switch c {
        case .group(let g): used.insert(g.value)
        case .not(let x): collectGroups(x, into: &used)
        case .and(let a, let b), .or(let a, let b):
            collectGroups(a, into: &used)
            collectGroups(b, into: &used)
        default: break
        }
    }

    static func unusedHosts(_ set: ResolvedPolicySet) -> [Diagnostic] {
        var used = Set<String>()
        for r in set.rules {
            for t in r.rule.targets { if case .alias(let a) = t.host.value { used.insert(a) } }
        }
        return set.hosts.values.filter { !used.contains($0.name.value) }.map {
            .warning(.unusedHost, "host '\($0.name.value)' is used by no rule", at: $0.name.span)
        }
    }

    static func unusedIdentities(
        _ set: ResolvedPolicySet, _ budget: CompileBudget? = nil
    ) throws(CompileInterrupted) -> [Diagnostic] {
        var unused: [ResolvedIdentity] = []
        for i in set.identities {
            try budget?.check()
            if !set.rules.contains(where: { set.rule($0, appliesTo: i) }) { unused.append(i) }
        }
        return unused.map {
            .warning(
                .unusedIdentity, "identity '\($0.name)' is matched by no rule: it can reach nothing", at: $0.decl.name.span,
                help: "give it a user, group or tag that a rule names, or remove it")
        }
    }
}

/// Whether one rule covers another: same or wider subjects, targets, and no narrower condition.
struct Coverage {
    let set: ResolvedPolicySet
    /// Rules by each range of their targets, to find covering rules without comparing all pairs.
    private var byRange: [AddressRange: [Int]] = [:]
    /// Identities by name: a subject naming one is looked up once per comparison, not searched.
    private var identities: [String: ResolvedIdentity] = [:]

    init(set: ResolvedPolicySet) {
        self.set = set
        for i in set.identities { identities[i.name] = i }
        for r in set.rules {
            for t in r.targets {
                for range in t.ranges { byRange[range, default: []].append(r.index) }
            }
        }
    }

    /// Rules with a target range that contains `a`'s first range: the only ones that can cover `a`.
    func candidates(covering a: ResolvedRule) -> [Int] {
        guard let first = a.targets.first?.ranges.first else { return [] }
        let width = first.family == .v4 ? 32 : 128
        var found = Set<Int>()
        for length in 0...width {
            let hostBits = width - length
            let mask: UInt128 = hostBits == 128 ? .max : (UInt128(1) << hostBits) - 1
            let top: UInt128 = width == 32 ? UInt128(UInt32.max) : .max
            let ancestor = AddressRange(family: first.family, lower: first.lower & ~mask & top, upper: (first.lower | mask) & top)
            guard ancestor.contains(first) else { continue }
            for r in byRange[ancestor] ?? [] { found.insert(r) }
        }
        return found.sorted()
    }

    func covers(_ b: ResolvedRule, _ a: ResolvedRule) -> Bool {
        if let cb = b.rule.condition {
            guard let ca = a.rule.condition, ca.description == cb.description else { return false }
        }
        let subjectsCovered = a.rule.subjects.allSatisfy { sa in b.rule.subjects.contains { subject($0.value, covers: sa.value) } }
        guard subjectsCovered, !a.targets.isEmpty else { return false }
        return a.targets.allSatisfy { ta in b.targets.contains { target($0, covers: ta) } }
    }

    private func target(_ b: ResolvedTarget, covers a: ResolvedTarget) -> Bool {
        guard b.proto == nil || b.proto == a.proto, !a.ranges.isEmpty else { return false }
        return a.ranges.allSatisfy { ra in b.ranges.contains { $0.contains(ra) } }
            && a.ports.allSatisfy { pa in b.ports.contains { $0.contains(pa) } }
    }

    private func subject(_ b: Subject, covers a: Subject) -> Bool {
        if b == .any || b == a { return true }
        switch (b, a) {
        case (.group(let g), .user(let u)): return set.groupUsers[g]?.contains(u) == true
        case (.group(let g), .group(let h)):
            guard let inner = set.groupUsers[h], !inner.isEmpty else { return false }
            return inner.isSubset(of: set.groupUsers[g] ?? [])
        case (_, .identity(let n)):
            guard let i = identities[n] else { return false }
            return set.subject(b, matches: i)
        default: return false
        }
    }
}
