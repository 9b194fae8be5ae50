import Foundation

/// A deliberately naive evaluator over the generated model: scans every rule for every request.
/// It shares no code with the compiler, so agreeing with `DecisionTables.decide` is evidence that
/// the tables are right (the benchmarks would be meaningless if `decide` were fast but wrong).
public struct ReferenceEvaluator: Sendable {
    public let spec: PolicySetSpec
    private let groupsOfUser: [String: Set<String>]
    private let zoneByName: [String: TimeZone]

    public init(_ spec: PolicySetSpec) {
        self.spec = spec
        var flat: [String: Set<String>] = [:]
        for g in spec.groups {  // nested groups are always defined earlier
            var users = Set(g.users)
            for n in g.nested { users.formUnion(flat[n] ?? []) }
            flat[g.name] = users
        }
        var byUser: [String: Set<String>] = [:]
        for (g, users) in flat { for u in users { byUser[u, default: []].insert(g) } }
        groupsOfUser = byUser
        var zones: [String: TimeZone] = [:]
        for z in PolicySetSpec.zones { zones[z] = TimeZone(identifier: z)! }
        zoneByName = zones
    }

    public struct Answer: Equatable, Sendable {
        public var allow: Bool
        /// The rules that decided: the matching denies if any, else the matching allows.
        public var rules: [Int]
        /// Every matching allow (those a deny overrode, when `allow` is false).
        public var allows: [Int] = []
    }

    public func decide(_ q: Query) -> Answer {
        let identity = spec.identities[q.identity]
        let groups = groupsOfUser[identity.user] ?? []
        var allows: [Int] = [], denies: [Int] = []
        for (index, rule) in spec.rules.enumerated() {
            guard rule.subjects.contains(where: { subject($0, identity, groups) }) else { continue }
            guard rule.targets.contains(where: { target($0, q) }) else { continue }
            if let c = rule.condition, !holds(c, identity, q.milliseconds) { continue }
            if rule.allow { allows.append(index) } else { denies.append(index) }
        }
        return denies.isEmpty
            ? Answer(allow: !allows.isEmpty, rules: allows, allows: allows) : Answer(allow: false, rules: denies, allows: allows)
    }

    /// Whether a rule with a time window, and no static condition that is false for this
    /// identity, matches the request's subject and destination: such requests land in cells
    /// that `decide` must evaluate at run time instead of reading a precomputed decision.
    public func touchesTimeRule(_ q: Query) -> Bool {
        let identity = spec.identities[q.identity]
        let groups = groupsOfUser[identity.user] ?? []
        func timed(_ c: GCondition) -> Bool {
            switch c {
            case .time: true
            case .not(let x): timed(x)
            case .and(let a, let b): (timed(a) || holds(a, identity, 0)) && (timed(b) || holds(b, identity, 0)) && (timed(a) || timed(b))
            case .tag: false
            }
        }
        return spec.rules.contains { rule in
            guard let c = rule.condition, timed(c) else { return false }
            return rule.subjects.contains(where: { subject($0, identity, groups) }) && rule.targets.contains(where: { target($0, q) })
        }
    }

    private func subject(_ s: GSubject, _ i: GIdentity, _ groups: Set<String>) -> Bool {
        switch s {
        case .any: true
        case .user(let u): i.user == u
        case .group(let g): groups.contains(g)
        case .tag(let t): i.tags.contains(t)
        case .identity(let n): i.name == n
        }
    }

    private func target(_ t: GTarget, _ q: Query) -> Bool {
        let inHost: Bool
        switch t.host {
        case .any: inHost = true
        case .alias(let h): inHost = spec.hosts[h].prefixes.contains { $0.contains(family: q.family, q.address) }
        case .prefix(let p): inHost = p.contains(family: q.family, q.address)
        }
        guard inHost else { return false }
        switch q.ipProtocol {
        case 6, 17:
            guard t.proto == nil || t.proto == (q.ipProtocol == 6 ? "tcp" : "udp") else { return false }
            guard let ports = t.ports else { return true }
            return ports.contains { $0.contains(Int(q.port)) }
        case 1, 58:
            // Port-less protocols only match `*` ports.
            return t.ports == nil && (t.proto == nil || t.proto == "icmp")
        default:
            return t.ports == nil && t.proto == nil
        }
    }

    private func holds(_ c: GCondition, _ i: GIdentity, _ ms: Int64) -> Bool {
        switch c {
        case .tag(let t): i.tags.contains(t)
        case .not(let x): !holds(x, i, ms)
        case .and(let a, let b): holds(a, i, ms) && holds(b, i, ms)
        case .time(let w): open(w, ms)
        }
    }

    /// Foundation's calendar in the window's zone; a window whose end is not after its start
    /// runs past midnight and belongs to the day it starts on.
    private func open(_ w: GWindow, _ ms: Int64) -> Bool {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zoneByName[w.zone]!
        let date = Date(timeIntervalSince1970: Double(ms / 1000))
        let parts = calendar.dateComponents([.weekday, .hour, .minute], from: date)
        let weekday = (parts.weekday! + 5) % 7  // Foundation: 1 = Sunday; here 0 = Monday
        let minute = parts.hour! * 60 + parts.minute!
        let today = w.days & (1 << weekday) != 0
        let yesterday = w.days & (1 << ((weekday + 6) % 7)) != 0
        if w.start < w.end { return today && minute >= w.start && minute < w.end }
        return (today && minute >= w.start) || (yesterday && minute < w.end)
    }
}
