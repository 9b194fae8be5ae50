import Foundation
import PolicyLang

/// An identity after resolution: its key decoded, its groups flattened.
public struct ResolvedIdentity: Sendable {
    /// The identity's name in the policy.
    public var name: String
    /// The decoded WireGuard public key.
    public var key: PublicKey
    /// The user (e-mail) the key belongs to, if the policy names one.
    public var user: String?
    /// The identity's tags.
    public var tags: Set<String>
    /// Every group the identity's user belongs to, directly or through nesting.
    public var groups: Set<String>
    /// Policy evaluations per second this client may cause: its file's `defaults.rate_limit`.
    public var evaluationRate: Rate
    var decl: IdentityDecl
}

/// One address range of a target, in one family.
package struct AddressRange: Hashable, Sendable {
    /// The family of both bounds.
    package var family: IPAddress.Family
    /// The first address, as `IPAddress.value` holds it.
    package var lower: UInt128
    /// The last address (inclusive).
    package var upper: UInt128

    /// The addresses of the prefix `cidr`.
    package init(_ cidr: IPPrefix) {
        family = cidr.address.family
        lower = cidr.first.value
        upper = cidr.last.value
    }

    /// The addresses `lower` through `upper` of `family`; the caller keeps `lower <= upper`.
    package init(family: IPAddress.Family, lower: UInt128, upper: UInt128) {
        self.family = family
        self.lower = lower
        self.upper = upper
    }

    static let allV4 = AddressRange(family: .v4, lower: 0, upper: UInt128(UInt32.max))
    static let allV6 = AddressRange(family: .v6, lower: 0, upper: .max)

    /// Whether all of `o` is of the same family and inside this range.
    package func contains(_ o: AddressRange) -> Bool { o.family == family && o.lower >= lower && o.upper <= upper }
}

/// A target with its host resolved to address ranges.
public struct ResolvedTarget: Sendable, Hashable {
    /// The host's addresses: a prefix's range, an alias's prefixes, or everything of both families for `*`.
    package var ranges: [AddressRange]
    /// The port ranges as written; `[.all]` for `*`.
    public var ports: [PortRange]
    /// The protocol, or nil for any.
    public var proto: TransportProtocol?
    /// The target as written, for messages.
    public var source: Target
}

/// A rule after resolution.
public struct ResolvedRule: Sendable {
    /// The rule's position in ``ResolvedPolicySet/rules``, which is also its index in the tables' rules.
    package var index: Int
    /// The rule as parsed.
    public var rule: Rule
    /// The rule's targets with their hosts resolved.
    public var targets: [ResolvedTarget]
    /// The rule's id, `POLICY/NAME` or `POLICY/N`.
    public var id: String { rule.id }
    /// Whether the rule allows or denies.
    package var action: Verdict { rule.action }
}

/// A policy set with every name resolved: the input to lint and to table lowering.
public struct ResolvedPolicySet: Sendable {
    /// The parsed files the set was resolved from.
    package var parsed: ParsedPolicySet
    /// Every identity whose key decoded and is not another's, in source order (the first of
    /// duplicated names or keys).
    public var identities: [ResolvedIdentity]
    /// Every rule, in load order.
    public var rules: [ResolvedRule]
    /// Flattened group membership: group name to the users in it.
    var groupUsers: [String: Set<String>]
    /// Group declarations by name, across all files.
    public var groups: [String: GroupDecl]
    /// Host aliases by name, across all files.
    public var hosts: [String: HostDecl]
    /// The decision lifetime for a default deny: the shortest `cache_ttl` of the set's files.
    var defaultTTL: Duration
    /// The evaluation rate for unknown peers and for "anyone": the first file's `rate_limit`
    /// default (100/s unless set).
    package var defaultRate: Rate

    /// Whether `subject` names `identity`, from the identity's static attributes.
    public func subject(_ subject: Subject, matches identity: ResolvedIdentity) -> Bool {
        switch subject {
        case .any: true
        case .user(let u): identity.user == u
        case .group(let g): identity.groups.contains(g)
        case .tag(let t): identity.tags.contains(t)
        case .identity(let n): identity.name == n
        }
    }

    /// Whether any subject of `rule` names `identity` (its condition aside).
    public func rule(_ rule: ResolvedRule, appliesTo identity: ResolvedIdentity) -> Bool {
        rule.rule.subjects.contains { subject($0.value, matches: identity) }
    }
}
