import PolicyLang

/// How one rule relates to a request, for `ztpc explain`.
package struct RuleTrace: Sendable {
    /// The rule traced.
    package var rule: ResolvedRule
    /// Whether one of the rule's subjects names the requesting identity.
    package var subjectMatches: Bool
    /// nil when the rule has no condition.
    package var conditionHolds: Bool?
    /// The rule takes part in the decision: its subject, a target and its condition all match.
    package var matches: Bool { subjectMatches && conditionHolds != false }
}

/// Walks the rules one by one to say why a decision came out as it did.
///
/// This is the slow, readable path, used only to explain; the decision itself always comes from
/// the compiled tables, and explain prints both so that any disagreement would show.
package enum Explainer {
    /// The rules whose targets include the request, with their subject and condition status.
    package static func trace(
        _ set: ResolvedPolicySet, identity: ResolvedIdentity, request: Request, atSeconds: Int64
    ) -> [RuleTrace] {
        set.rules.compactMap { rule in
            let targetMatches = rule.targets.contains { t in
                let protocolMatches = t.proto == nil || t.proto == request.proto
                let portMatches =
                    request.proto == .icmp ? t.ports == [.all] : t.ports.contains { $0.contains(request.port) }
                let addressMatches = t.ranges.contains {
                    $0.family == request.address.family && $0.lower <= request.address.value
                        && request.address.value <= $0.upper
                }
                return protocolMatches && portMatches && addressMatches
            }
            guard targetMatches else { return nil }
            return RuleTrace(
                rule: rule, subjectMatches: set.rule(rule, appliesTo: identity),
                conditionHolds: rule.rule.condition.map { holds($0, identity, atSeconds) })
        }
    }

    static func holds(_ c: Condition, _ identity: ResolvedIdentity, _ seconds: Int64) -> Bool {
        switch c {
        case .tag(let t): identity.tags.contains(t.value)
        case .user(let u): identity.user == u.value
        case .group(let g): identity.groups.contains(g.value)
        case .time(let w):
            TimeAtom(days: w.days, startMinute: Int16(w.startMinute), endMinute: Int16(w.endMinute), zone: 0)
                .evaluate(at: seconds, zone: ZoneTable(zone: w.zone) ?? ZoneTable(name: w.zone, transitions: [], offsets: [0]))
                .open
        case .not(let x): !holds(x, identity, seconds)
        case .and(let a, let b): holds(a, identity, seconds) && holds(b, identity, seconds)
        case .or(let a, let b): holds(a, identity, seconds) || holds(b, identity, seconds)
        }
    }
}
