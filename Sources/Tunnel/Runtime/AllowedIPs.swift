/// WireGuard's cryptokey routing table: longest-prefix match from an address to the
/// peer allowed to use it, separately for IPv4 and IPv6. Outbound, the destination
/// picks the peer; inbound, the source must map back to the peer the packet came from.
///
/// One hash table per prefix length, searched from the longest non-empty length down:
/// at most 33 / 129 probes, typically a handful, with no allocation on lookup. Beside it,
/// each value's own prefixes, so that changing one peer costs in proportion to that
/// peer's prefixes, never to the whole table: inserting or removing a prefix is O(1)
/// (amortised), removing a value is O(its prefixes).
package struct AllowedIPs<Value: Hashable & Sendable>: Sendable {
    private struct Key128: Hashable, Sendable {
        var high: UInt64
        var low: UInt64
        init(high: UInt64, low: UInt64) { (self.high, self.low) = (high, low) }
        init(_ value: UInt128) { (high, low) = (UInt64(truncatingIfNeeded: value >> 64), UInt64(truncatingIfNeeded: value)) }
    }
    private var v4: [[UInt32: Value]] = Array(repeating: [:], count: 33)
    private var v6: [[Key128: Value]] = Array(repeating: [:], count: 129)
    /// The non-empty lengths, longest first; rebuilt only when a length's table becomes
    /// empty or stops being empty.
    private var v4Lengths: [Int] = []
    private var v6Lengths: [Int] = []
    private var byValue: [Value: Set<IPPrefix>] = [:]

    package init() {}

    /// Maps `prefix` to `value`, taking it over from any other value (as `wg set` does).
    mutating func insert(_ prefix: IPPrefix, _ value: Value) {
        let previous: Value?
        switch prefix.address.family {
        case .v4:
            previous = v4[prefix.length].updateValue(value, forKey: UInt32(truncatingIfNeeded: prefix.address.value))
            if previous == nil && v4[prefix.length].count == 1 { refreshLengths() }
        case .v6:
            previous = v6[prefix.length].updateValue(value, forKey: Key128(prefix.address.value))
            if previous == nil && v6[prefix.length].count == 1 { refreshLengths() }
        }
        if let previous {
            if previous == value { return }
            forget(prefix, of: previous)
        }
        byValue[value, default: []].insert(prefix)
    }

    /// Removes `prefix` if it is mapped to `value` (wireguard-go's `allowed_ip=-PREFIX`).
    mutating func remove(_ prefix: IPPrefix, _ value: Value) {
        guard byValue[value]?.contains(prefix) == true else { return }
        forget(prefix, of: value)
        removeEntry(prefix)
    }

    /// Removes every prefix mapped to `value`: O(its prefixes).
    mutating func removeAll(_ value: Value) {
        guard let owned = byValue.removeValue(forKey: value) else { return }
        for prefix in owned { removeEntry(prefix) }
    }

    /// How many prefixes are mapped to `value`.
    package func count(of value: Value) -> Int { byValue[value]?.count ?? 0 }

    /// The prefixes mapped to `value`: IPv4 before IPv6, longest first, then by address.
    func prefixes(of value: Value) -> [IPPrefix] {
        guard let owned = byValue[value] else { return [] }
        return owned.sorted(by: Self.displayOrder)
    }

    /// Longest-prefix match.
    func lookup(_ address: IPAddress) -> Value? {
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

    private mutating func forget(_ prefix: IPPrefix, of value: Value) {
        byValue[value]?.remove(prefix)
        if byValue[value]?.isEmpty == true { byValue.removeValue(forKey: value) }
    }

    /// Drops `prefix` from the lookup tables (not from `byValue`).
    private mutating func removeEntry(_ prefix: IPPrefix) {
        switch prefix.address.family {
        case .v4:
            v4[prefix.length].removeValue(forKey: UInt32(truncatingIfNeeded: prefix.address.value))
            if v4[prefix.length].isEmpty { refreshLengths() }
        case .v6:
            v6[prefix.length].removeValue(forKey: Key128(prefix.address.value))
            if v6[prefix.length].isEmpty { refreshLengths() }
        }
    }

    private mutating func refreshLengths() {
        v4Lengths = v4.indices.reversed().filter { !v4[$0].isEmpty }
        v6Lengths = v6.indices.reversed().filter { !v6[$0].isEmpty }
    }

    private static func displayOrder(_ a: IPPrefix, _ b: IPPrefix) -> Bool {
        if a.address.family != b.address.family { return a.address.family == .v4 }
        return a.length != b.length ? a.length > b.length : a.address.value < b.address.value
    }
}
