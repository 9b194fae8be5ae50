import PolicyLang

/// A protocol as the tables see it: TCP and UDP have ports; ICMP (v4 and v6) and every other
/// IP protocol do not.
public enum RegionProtocol: String, Sendable, Hashable, CaseIterable, Comparable {
    case tcp, udp, icmp, other

    /// Orders as the cases are listed (tcp, udp, icmp, other), the order reports print regions in.
    public static func < (a: RegionProtocol, b: RegionProtocol) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }

    /// Whether requests of this protocol carry a port.
    package var hasPorts: Bool { self == .tcp || self == .udp }
}

/// One side of a comparison for a region: the verdict, why, and the rules that made it.
package struct RegionVerdict: Sendable, Hashable {
    /// Allow or deny on this side.
    package var verdict: Verdict
    /// Why: an allow, a deny rule, no matching rule, or an unknown identity.
    package var reason: Decision.Reason
    /// Ids of the rules that produced the verdict (every matching deny, or every matching allow).
    package var rules: [String]

    /// A side's verdict, reason and the ids of the rules behind it.
    package init(verdict: Verdict, reason: Decision.Reason, rules: [String]) {
        self.verdict = verdict
        self.reason = reason
        self.rules = rules
    }

    /// `allow (allowed by a/1, a/2)`, `deny (default deny: no rule matches)`.
    package var summary: String {
        let ids = rules.joined(separator: ", ")
        switch reason {
        case .allowed: return "allow (allowed by \(ids))"
        case .denied: return "deny (denied by \(ids))"
        case .noRuleMatched: return "deny (default deny: no rule matches)"
        case .unknownIdentity: return "deny (the identity is not in the policy)"
        }
    }
}

/// A contiguous range of addresses of one family.
public struct AddressSpan: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The family of both bounds.
    public var family: IPAddress.Family
    /// The first address of the range, as `IPAddress.value` holds it.
    public var lower: UInt128
    /// The last address of the range (inclusive), at least `lower`.
    public var upper: UInt128

    /// The addresses `lower` through `upper` of `family`; the caller keeps `lower <= upper`.
    public init(family: IPAddress.Family, lower: UInt128, upper: UInt128) {
        self.family = family
        self.lower = lower
        self.upper = upper
    }

    /// Orders by family (IPv4 first), then by bounds.
    public static func < (a: AddressSpan, b: AddressSpan) -> Bool {
        (a.family.rawValue, a.lower, a.upper) < (b.family.rawValue, b.lower, b.upper)
    }

    /// Whether `address` is of the span's family and lies within it.
    public func contains(_ address: IPAddress) -> Bool {
        address.family == family && address.value >= lower && address.value <= upper
    }

    /// The fewest CIDR prefixes that together are exactly this range.
    public var prefixes: [IPPrefix] {
        let bits = family == .v4 ? 32 : 128
        var out: [IPPrefix] = []
        var lo = lower
        while true {
            // The largest aligned block at `lo` that stays within the range.
            var size = lo == 0 ? bits : min(bits, lo.trailingZeroBitCount)
            while size > 0 {
                let mask: UInt128 = size >= 128 ? .max : (UInt128(1) << size) - 1
                if upper - lo >= mask { break }
                size -= 1
            }
            let address = family == .v4 ? IPAddress(v4: UInt32(truncatingIfNeeded: lo)) : IPAddress(v6: lo)
            out.append(IPPrefix(masking: address, length: bits - size)!)  // aligned: no host bits to mask
            let mask: UInt128 = size >= 128 ? .max : (UInt128(1) << size) - 1
            if upper - lo == mask { return out }
            lo += mask + 1
        }
    }

    /// Prefixes when they are few, else `first-last`.
    public var description: String {
        let p = prefixes
        if p.count <= 3 { return p.map(\.description).joined(separator: " ") }
        let a = family == .v4 ? IPAddress(v4: UInt32(truncatingIfNeeded: lower)) : IPAddress(v6: lower)
        let b = family == .v4 ? IPAddress(v4: UInt32(truncatingIfNeeded: upper)) : IPAddress(v6: upper)
        return "\(a)-\(b)"
    }
}

/// A box of requests that all decide the same way on each side: who, where, which protocol and
/// ports, and when.
public struct DecisionRegion: Sendable, Hashable {
    /// Names of the identities the region is about (empty when it is about ``anyone`` only).
    public var identities: [String]
    /// The group, tag or user whose identities are exactly ``identities``, when there is one.
    public var label: String?
    /// The region is about traffic toward clients, decided for "anyone" (the `*` rules).
    package var anyone: Bool
    /// The destination addresses of the region.
    public var addresses: AddressSpan
    /// The protocol of the region.
    public var proto: RegionProtocol
    /// The port range for TCP and UDP; `*` (0-65535) for protocols without ports.
    public var ports: PortRange
    /// When the region holds: always, or while some time windows are open or closed.
    public var time: TimeCondition
    /// How the old policy (or, for reachability, a policy allowing nothing) decides the region.
    package var before: RegionVerdict
    /// How the new policy decides the region.
    package var after: RegionVerdict

    /// Whether the request falls in the region (its time condition aside).
    public func contains(identity name: String?, address: IPAddress, port: UInt16, proto p: RegionProtocol) -> Bool {
        let who = name.map { identities.contains($0) } ?? anyone
        return who && addresses.contains(address) && proto == p && (!p.hasPorts || ports.contains(port))
    }

    /// Who, as a person reads it: `group:eng (alice-laptop, bob-phone)`.
    package var who: String {
        let toClients = "anyone (traffic toward clients)"
        if identities.isEmpty { return toClients }
        let names = identities.joined(separator: ", ")
        let who = label.map { "\($0) (\(names))" } ?? names
        return anyone ? "\(who); \(toClients)" : who
    }

    /// `10.20.1.5/32 tcp 22`, `fd00::/64 icmp`.
    public var destination: String {
        "\(addresses.description) \(proto.rawValue)" + (proto.hasPorts ? " \(ports)" : "")
    }
}
