import Foundation
import PolicyLang

/// An identity after resolution: its key decoded, its groups flattened.
public struct ResolvedIdentity: Sendable {
    public var name: String
    public var key: PublicKey
    public var user: String?
    public var tags: Set<String>
    /// Every group the identity's user belongs to, directly or through nesting.
    public var groups: Set<String>
    /// Policy evaluations per second this client may cause: its file's `defaults.rate_limit`.
    public var evaluationRate: Rate
    var decl: IdentityDecl
}

/// One address range of a target, in one family.
public struct AddressRange: Hashable, Sendable {
    public var family: IPAddress.Family
    public var lower: UInt128
    public var upper: UInt128

    public init(_ cidr: IPPrefix) {
        family = cidr.address.family
        lower = cidr.first.value
        upper = cidr.last.value
    }

    public init(family: IPAddress.Family, lower: UInt128, upper: UInt128) {
        self.family = family
        self.lower = lower
        self.upper = upper
    }

    static let allV4 = AddressRange(family: .v4, lower: 0, upper: UInt128(UInt32.max))
    static let allV6 = AddressRange(family: .v6, lower: 0, upper: .max)

    public func contains(_ o: AddressRange) -> Bool { o.family == family && o.lower >= lower && o.upper <= upper }
}

/// A target with its host resolved to address ranges.
public struct ResolvedTarget: Sendable, Hashable {
    public var ranges: [AddressRange]
    public var ports: [PortRange]
    public var proto: TransportProtocol?
    public var source: Target
}

/// A rule after resolution.
public struct ResolvedRule: Sendable {
    public var index: Int
    public var rule: Rule
    public var targets: [ResolvedTarget]
    public var id: String { rule.id }
    public var action: Verdict { rule.action }
}

/// A policy set with every name resolved: the input to lint and to table lowering.
public struct ResolvedPolicySet: Sendable {
    public var parsed: ParsedPolicySet
    public var identities: [ResolvedIdentity]
    public var rules: [ResolvedRule]
    /// Flattened group membership: group name to the users in it.
    var groupUsers: [String: Set<String>]
    public var groups: [String: GroupDecl]
    public var hosts: [String: HostDecl]
    /// The decision lifetime for a default deny: the shortest `cache_ttl` of the set's files.
    var defaultTTL: Duration
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

    public func rule(_ rule: ResolvedRule, appliesTo identity: ResolvedIdentity) -> Bool {
        rule.rule.subjects.contains { subject($0.value, matches: identity) }
    }
}
