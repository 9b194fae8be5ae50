import PolicyLang

/// Resolves names across all files of a policy set: one global namespace per kind of name,
/// group nesting flattened, keys decoded, host aliases expanded to address ranges.
public struct Resolver {
    private let parsed: ParsedPolicySet
    private let limits: PolicyLimits
    private let budget: CompileBudget?
    private var diagnostics: [Diagnostic] = []
    /// Did-you-mean suggestions made so far: each scans every name of its kind, so a set with
    /// very many undefined references gets suggestions for the first ones only.
    private var suggestions = 0
    private static let maxSuggestions = 100

    /// Resolves `parsed` with no deadline: the resolved set (with whatever could be resolved) and the
    /// resolver's diagnostics. Cost grows with memberships after group flattening, bounded by `limits`.
    public static func resolve(_ parsed: ParsedPolicySet, limits: PolicyLimits = .default) -> (ResolvedPolicySet, [Diagnostic]) {
        do {
            return try resolve(parsed, limits: limits, budget: nil)
        } catch {
            preconditionFailure("a resolution without a budget cannot be interrupted")
        }
    }

    /// ``resolve(_:limits:)`` under a compile budget, checked per group, identity and rule.
    public static func resolve(
        _ parsed: ParsedPolicySet, limits: PolicyLimits, budget: CompileBudget?
    ) throws(CompileInterrupted) -> (ResolvedPolicySet, [Diagnostic]) {
        var r = Resolver(parsed: parsed, limits: limits, budget: budget)
        let set = try r.run()
        return (set, r.diagnostics)
    }

    private init(parsed: ParsedPolicySet, limits: PolicyLimits, budget: CompileBudget?) {
        self.parsed = parsed
        self.limits = limits
        self.budget = budget
    }

    private mutating func run() throws(CompileInterrupted) -> ResolvedPolicySet {
        var policies: [String: SourceSpan] = [:]
        var identityDecls: [String: (IdentityDecl, PolicyFile)] = [:]
        var groups: [String: GroupDecl] = [:]
        var hosts: [String: HostDecl] = [:]

        for file in parsed.files {
            define(file.name, kind: "policy", in: &policies) { $0 }
            for i in file.identities {
                if let first = identityDecls[i.name.value] {
                    duplicate(i.name, kind: "identity", first: first.0.name.span)
                } else {
                    identityDecls[i.name.value] = (i, file)
                }
            }
            for g in file.groups {
                if let first = groups[g.name.value] { duplicate(g.name, kind: "group", first: first.name.span) } else {
                    groups[g.name.value] = g
                }
            }
            for h in file.hosts {
                if let first = hosts[h.name.value] { duplicate(h.name, kind: "host", first: first.name.span) } else {
                    hosts[h.name.value] = h
                }
            }
        }

        // Groups: references, cycles, flattening.
        for g in groups.values.sorted(by: { $0.name.span.start.description < $1.name.span.start.description }) {
            for m in g.members {
                if case .group(let inner) = m.value, groups[inner] == nil {
                    undefined(inner, kind: "group", at: m.span, among: groups.keys)
                }
            }
        }
        let graph = try GroupGraph(groups, limits: limits, budget: budget)
        diagnostics += graph.diagnostics
        let groupUsers = graph.users
        // Each user's groups, inverted once from the flattened sets, for the users identities
        // name; an identity's groups are then one lookup.
        let identityUsers = Set(identityDecls.values.compactMap { $0.0.user?.value })
        var groupsOfUser: [String: Set<String>] = [:]
        for (group, users) in groupUsers {
            for u in users where identityUsers.contains(u) { groupsOfUser[u, default: []].insert(group) }
        }
        var memberships = groupUsers.values.reduce(0) { $0 + $1.count }

        // Identities, in source order so that diagnostics and classes are stable.
        var identities: [ResolvedIdentity] = []
        var keys: [PublicKey: SourceSpan] = [:]
        for file in parsed.files {
            for decl in file.identities where identityDecls[decl.name.value]?.0.name.span == decl.name.span {
                try budget?.check()
                guard let key = try? PublicKey(base64: decl.key.value) else {
                    diagnostics.append(
                        .error(.invalidKey, "'\(decl.key.value)' is not a WireGuard public key", at: decl.key.span,
                               help: "a key is the base64 of 32 bytes (44 characters ending in '='), as `wg pubkey` prints"))
                    continue
                }
                if let first = keys[key] {
                    diagnostics.append(
                        .error(.duplicateKey, "identity '\(decl.name.value)' has the same key as another identity",
                               at: decl.key.span, notes: [.init("the key is first used here", at: first)]))
                    continue
                }
                keys[key] = decl.key.span
                let user = decl.user?.value
                var memberOf = user.flatMap { groupsOfUser[$0] } ?? []
                memberships += memberOf.count
                if memberships > limits.maxMemberships {
                    if memberships - memberOf.count <= limits.maxMemberships {
                        diagnostics.append(GroupGraph.tooManyMemberships(limits, at: decl.name.span))
                    }
                    memberOf = []
                }
                identities.append(
                    ResolvedIdentity(
                        name: decl.name.value, key: key, user: user, tags: Set(decl.tags.map(\.value)), groups: memberOf,
                        evaluationRate: file.defaults.rateLimit, decl: decl))
            }
        }

        // Rules.
        var rules: [ResolvedRule] = []
        for file in parsed.files {
            for rule in file.rules {
                try budget?.check()
                for s in rule.subjects {
                    switch s.value {
                    case .group(let g) where groups[g] == nil:
                        undefined(g, kind: "group", at: s.span, among: groups.keys)
                    case .identity(let n) where identityDecls[n] == nil:
                        undefined(n, kind: "identity", at: s.span, among: identityDecls.keys)
                    default: break
                    }
                }
                if let c = rule.condition { checkCondition(c, groups: groups) }
                var targets: [ResolvedTarget] = []
                for t in rule.targets {
                    var ranges: [AddressRange] = []
                    switch t.host.value {
                    case .any: ranges = [.allV4, .allV6]
                    case .prefix(let c): ranges = [AddressRange(c)]
                    case .alias(let a):
                        if let h = hosts[a] {
                            ranges = h.prefixes.map { AddressRange($0.value) }
                        } else {
                            undefined(a, kind: "host", at: t.host.span, among: hosts.keys)
                        }
                    }
                    targets.append(ResolvedTarget(ranges: ranges, ports: t.ports, proto: t.proto, source: t))
                }
                rules.append(ResolvedRule(index: rules.count, rule: rule, targets: targets))
            }
            for test in file.tests where identityDecls[test.subject.value] == nil {
                if (try? PublicKey(base64: test.subject.value)).map({ keys[$0] != nil }) == true { continue }
                undefined(test.subject.value, kind: "identity", at: test.subject.span, among: identityDecls.keys)
            }
        }

        let defaults = parsed.files.map(\.defaults)
        return ResolvedPolicySet(
            parsed: parsed, identities: identities, rules: rules, groupUsers: groupUsers, groups: groups, hosts: hosts,
            defaultTTL: defaults.map(\.cacheTTL).min() ?? Defaults().cacheTTL,
            defaultRate: defaults.first?.rateLimit ?? Defaults().rateLimit)
    }

    private mutating func checkCondition(_ c: Condition, groups: [String: GroupDecl]) {
        switch c {
        case .group(let g) where groups[g.value] == nil:
            undefined(g.value, kind: "group", at: g.span, among: groups.keys)
        case .not(let inner): checkCondition(inner, groups: groups)
        case .and(let a, let b), .or(let a, let b):
            checkCondition(a, groups: groups)
            checkCondition(b, groups: groups)
        default: break
        }
    }

    private mutating func define(
        _ name: Located<String>, kind: String, in table: inout [String: SourceSpan], _ f: (SourceSpan) -> SourceSpan
    ) {
        if let first = table[name.value] { duplicate(name, kind: kind, first: first) } else { table[name.value] = f(name.span) }
    }

    private mutating func duplicate(_ name: Located<String>, kind: String, first: SourceSpan) {
        diagnostics.append(
            .error(.duplicateName, "\(kind) '\(name.value)' is defined twice", at: name.span,
                   notes: [.init("first defined here", at: first)],
                   help: "names are global across all files of a policy set"))
    }

    private mutating func undefined(_ name: String, kind: String, at span: SourceSpan, among names: some Sequence<String>) {
        suggestions += 1
        let guess = suggestions <= Self.maxSuggestions ? Suggest.closest(to: name, among: names) : nil
        diagnostics.append(
            .error(.undefinedReference, "undefined \(kind) '\(name)'", at: span,
                   help: guess.map { "did you mean '\($0)'?" }))
    }
}
