import Foundation
import PolicyLang

/// A WireGuard public key: 32 bytes, held as four words so that it hashes and compares fast.
public struct PeerKey: Hashable, Sendable, CustomStringConvertible {
    public var words: (UInt64, UInt64, UInt64, UInt64)

    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == 32 else { return nil }
        var w: [UInt64] = [0, 0, 0, 0]
        for (i, b) in bytes.enumerated() { w[i / 8] |= UInt64(b) << (8 * UInt64(i % 8)) }
        words = (w[0], w[1], w[2], w[3])
    }

    /// Decodes the base64 text `wg genkey | wg pubkey` prints; nil unless it is exactly 32 bytes.
    public init?(base64: String) {
        guard base64.count == 44, base64.hasSuffix("="), let data = Data(base64Encoded: base64) else { return nil }
        self.init(bytes: data)
    }

    public var bytes: [UInt8] {
        let w = [words.0, words.1, words.2, words.3]
        return (0..<32).map { UInt8(truncatingIfNeeded: w[$0 / 8] >> (8 * UInt64($0 % 8))) }
    }

    public var base64: String { Data(bytes).base64EncodedString() }

    public static func == (a: PeerKey, b: PeerKey) -> Bool { a.words == b.words }

    public func hash(into h: inout Hasher) {
        h.combine(words.0)
        h.combine(words.1)
        h.combine(words.2)
        h.combine(words.3)
    }

    public var description: String { base64 }
}

/// An identity after resolution: its key decoded, its groups flattened.
public struct ResolvedIdentity: Sendable {
    public var name: String
    public var key: PeerKey
    public var user: String?
    public var tags: Set<String>
    /// Every group the identity's user belongs to, directly or through nesting.
    public var groups: Set<String>
    /// Policy evaluations per second this client may cause: its file's `defaults.rate_limit`.
    public var evaluationRate: Rate
    public var decl: IdentityDecl
}

/// One address range of a target, in one family.
public struct AddressRange: Hashable, Sendable {
    public var family: IPAddress.Family
    public var lower: UInt128
    public var upper: UInt128

    public init(_ cidr: CIDR) {
        family = cidr.address.family
        lower = cidr.first.value
        upper = cidr.last.value
    }

    public init(family: IPAddress.Family, lower: UInt128, upper: UInt128) {
        self.family = family
        self.lower = lower
        self.upper = upper
    }

    public static let allV4 = AddressRange(family: .v4, lower: 0, upper: UInt128(UInt32.max))
    public static let allV6 = AddressRange(family: .v6, lower: 0, upper: .max)

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
    public var groupUsers: [String: Set<String>]
    public var groups: [String: GroupDecl]
    public var hosts: [String: HostDecl]
    /// The decision lifetime for a default deny: the shortest `cache_ttl` of the set's files.
    public var defaultTTL: Duration
    public var defaultRate: Rate

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
