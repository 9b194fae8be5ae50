/// WireGuard's cryptokey routing table: longest-prefix match from an address to the
/// peer allowed to use it, separately for IPv4 and IPv6. Outbound, the destination
/// picks the peer; inbound, the source must map back to the peer the packet came from.
///
/// One hash table per prefix length, searched from the longest non-empty length down:
/// at most 33 / 129 probes, typically a handful, with no allocation on lookup.
public struct AllowedIPs<Value: Equatable & Sendable>: Sendable {
    private struct Key128: Hashable, Sendable {
        var high: UInt64
        var low: UInt64
        init(high: UInt64, low: UInt64) { (self.high, self.low) = (high, low) }
        init(_ value: UInt128) { (high, low) = (UInt64(truncatingIfNeeded: value >> 64), UInt64(truncatingIfNeeded: value)) }
        var value: UInt128 { UInt128(high) << 64 | UInt128(low) }
    }
    private var v4: [[UInt32: Value]] = Array(repeating: [:], count: 33)
    private var v6: [[Key128: Value]] = Array(repeating: [:], count: 129)
    private var v4Lengths: [Int] = []
    private var v6Lengths: [Int] = []

    public init() {}

    /// Maps `prefix` to `value`, taking it over from any other value (as `wg set` does).
    public mutating func insert(_ prefix: IPPrefix, _ value: Value) {
        switch prefix.address.family {
        case .v4: v4[prefix.length][UInt32(truncatingIfNeeded: prefix.address.value)] = value
        case .v6: v6[prefix.length][Key128(prefix.address.value)] = value
        }
        refreshLengths()
    }

    /// Removes every prefix mapped to `value`.
    public mutating func removeAll(_ value: Value) {
        for i in v4.indices { v4[i] = v4[i].filter { $0.value != value } }
        for i in v6.indices { v6[i] = v6[i].filter { $0.value != value } }
        refreshLengths()
    }

    /// The prefixes mapped to `value`, longest first.
    public func prefixes(of value: Value) -> [IPPrefix] {
        var out: [IPPrefix] = []
        for length in v4Lengths {
            for (a, v) in v4[length] where v == value { out.append(IPPrefix(masking: IPAddress(v4: a), length: length)!) }
        }
        for length in v6Lengths {
            for (k, v) in v6[length] where v == value { out.append(IPPrefix(masking: IPAddress(v6: k.value), length: length)!) }
        }
        return out
    }

    /// Longest-prefix match.
    public func lookup(_ address: IPAddress) -> Value? {
        switch address.family {
        case .v4:
            let a = UInt32(truncatingIfNeeded: address.value)
            for length in v4Lengths {
                let masked = length == 0 ? 0 : a & ~UInt32(0) << (32 - length)
                if let value = v4[length][masked] { return value }
            }
        case .v6:
            let h = UInt64(truncatingIfNeeded: address.value >> 64), l = UInt64(truncatingIfNeeded: address.value)
            for length in v6Lengths {
                let (mh, ml) = Self.mask128(length)
                if let value = v6[length][Key128(high: h & mh, low: l & ml)] { return value }
            }
        }
        return nil
    }

    /// The two halves of an IPv6 network mask of `length` bits.
    static func mask128(_ length: Int) -> (UInt64, UInt64) {
        let high: UInt64 = length == 0 ? 0 : (length >= 64 ? ~0 : ~UInt64(0) << (64 - length))
        let low: UInt64 = length <= 64 ? 0 : (length == 128 ? ~0 : ~UInt64(0) << (128 - length))
        return (high, low)
    }

    private mutating func refreshLengths() {
        v4Lengths = v4.indices.reversed().filter { !v4[$0].isEmpty }
        v6Lengths = v6.indices.reversed().filter { !v6[$0].isEmpty }
    }
}
