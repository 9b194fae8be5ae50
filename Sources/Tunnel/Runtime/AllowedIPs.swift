/// An IP address as the routing table sees it: IPv4 as 32 bits, IPv6 as 128 (two halves).
public enum IPAddress: Hashable, Sendable, CustomStringConvertible {
    case v4(UInt32)
    case v6(UInt64, UInt64)

    /// From 4 or 16 network-order bytes.
    public init?(bytes: some Collection<UInt8>) {
        switch bytes.count {
        case 4: self = .v4(bytes.reduce(0) { $0 << 8 | UInt32($1) })
        case 16:
            let high = bytes.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            let low = bytes.dropFirst(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            self = .v6(high, low)
        default: return nil
        }
    }

    /// Parses numeric IPv4 or IPv6 text.
    public init?(_ text: String) {
        guard let bytes = IPAddressParser.parse(text) else { return nil }
        self.init(bytes: bytes)
    }

    public var bytes: [UInt8] {
        switch self {
        case .v4(let a): return (0..<4).map { UInt8(truncatingIfNeeded: a >> (24 - 8 * UInt32($0))) }
        case .v6(let h, let l):
            return (0..<8).map { UInt8(truncatingIfNeeded: h >> (56 - 8 * UInt64($0))) }
                + (0..<8).map { UInt8(truncatingIfNeeded: l >> (56 - 8 * UInt64($0))) }
        }
    }

    public var description: String { IPAddressParser.format(bytes) }
}

/// A CIDR prefix such as `10.0.0.0/24` or `fd00::/64`; host bits are cleared, as `wg` does.
public struct IPPrefix: Hashable, Sendable, CustomStringConvertible {
    public let address: IPAddress
    public let length: Int

    public init?(address: IPAddress, length: Int) {
        switch address {
        case .v4(let a):
            guard (0...32).contains(length) else { return nil }
            self.address = .v4(length == 0 ? 0 : a & ~UInt32(0) << (32 - length))
        case .v6(let h, let l):
            guard (0...128).contains(length) else { return nil }
            let (mh, ml) = Self.mask128(length)
            self.address = .v6(h & mh, l & ml)
        }
        self.length = length
    }

    /// Parses `ADDRESS/LENGTH`, or a bare address as a host prefix.
    public init?(_ text: String) {
        let parts = text.trimmingWhitespace.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 1 || parts.count == 2, let address = IPAddress(String(parts[0])) else { return nil }
        let full: Int
        if case .v4 = address { full = 32 } else { full = 128 }
        let length: Int
        if parts.count == 2 {
            guard let parsed = Int(parts[1]) else { return nil }
            length = parsed
        } else {
            length = full
        }
        self.init(address: address, length: length)
    }

    public var description: String { "\(address)/\(length)" }

    static func mask128(_ length: Int) -> (UInt64, UInt64) {
        let high: UInt64 = length == 0 ? 0 : (length >= 64 ? ~0 : ~UInt64(0) << (64 - length))
        let low: UInt64 = length <= 64 ? 0 : (length == 128 ? ~0 : ~UInt64(0) << (128 - length))
        return (high, low)
    }
}

/// WireGuard's cryptokey routing table: longest-prefix match from an address to the
/// peer allowed to use it, separately for IPv4 and IPv6. Outbound, the destination
/// picks the peer; inbound, the source must map back to the peer the packet came from.
///
/// One hash table per prefix length, searched from the longest non-empty length down:
/// at most 33 / 129 probes, typically a handful, with no allocation on lookup. Beside it,
/// each value's own prefixes, so that changing one peer costs in proportion to that
/// peer's prefixes, never to the whole table: inserting or removing a prefix is O(1)
/// (amortised), removing a value is O(its prefixes).
public struct AllowedIPs<Value: Hashable & Sendable>: Sendable {
    private struct Key128: Hashable, Sendable { var high: UInt64; var low: UInt64 }
    private var v4: [[UInt32: Value]] = Array(repeating: [:], count: 33)
    private var v6: [[Key128: Value]] = Array(repeating: [:], count: 129)
    /// The non-empty lengths, longest first; rebuilt only when a length's table becomes
    /// empty or stops being empty.
    private var v4Lengths: [Int] = []
    private var v6Lengths: [Int] = []
    private var byValue: [Value: Set<IPPrefix>] = [:]

    public init() {}

    /// Maps `prefix` to `value`, taking it over from any other value (as `wg set` does).
    public mutating func insert(_ prefix: IPPrefix, _ value: Value) {
        let previous: Value?
        switch prefix.address {
        case .v4(let a):
            previous = v4[prefix.length].updateValue(value, forKey: a)
            if previous == nil && v4[prefix.length].count == 1 { refreshLengths() }
        case .v6(let h, let l):
            previous = v6[prefix.length].updateValue(value, forKey: Key128(high: h, low: l))
            if previous == nil && v6[prefix.length].count == 1 { refreshLengths() }
        }
        if let previous {
            if previous == value { return }
            forget(prefix, of: previous)
        }
        byValue[value, default: []].insert(prefix)
    }

    /// Removes `prefix` if it is mapped to `value` (wireguard-go's `allowed_ip=-PREFIX`).
    public mutating func remove(_ prefix: IPPrefix, _ value: Value) {
        guard byValue[value]?.contains(prefix) == true else { return }
        forget(prefix, of: value)
        removeEntry(prefix)
    }

    /// Removes every prefix mapped to `value`: O(its prefixes).
    public mutating func removeAll(_ value: Value) {
        guard let owned = byValue.removeValue(forKey: value) else { return }
        for prefix in owned { removeEntry(prefix) }
    }

    /// How many prefixes are mapped to `value`.
    public func count(of value: Value) -> Int { byValue[value]?.count ?? 0 }

    /// The prefixes mapped to `value`: IPv4 before IPv6, longest first, then by address.
    public func prefixes(of value: Value) -> [IPPrefix] {
        guard let owned = byValue[value] else { return [] }
        return owned.sorted(by: Self.displayOrder)
    }

    /// Longest-prefix match.
    public func lookup(_ address: IPAddress) -> Value? {
        switch address {
        case .v4(let a):
            for length in v4Lengths {
                let masked = length == 0 ? 0 : a & ~UInt32(0) << (32 - length)
                if let value = v4[length][masked] { return value }
            }
        case .v6(let h, let l):
            for length in v6Lengths {
                let (mh, ml) = IPPrefix.mask128(length)
                if let value = v6[length][Key128(high: h & mh, low: l & ml)] { return value }
            }
        }
        return nil
    }

    private mutating func forget(_ prefix: IPPrefix, of value: Value) {
        byValue[value]?.remove(prefix)
        if byValue[value]?.isEmpty == true { byValue.removeValue(forKey: value) }
    }

    /// Drops `prefix` from the lookup tables (not from `byValue`).
    private mutating func removeEntry(_ prefix: IPPrefix) {
        switch prefix.address {
        case .v4(let a):
            v4[prefix.length].removeValue(forKey: a)
            if v4[prefix.length].isEmpty { refreshLengths() }
        case .v6(let h, let l):
            v6[prefix.length].removeValue(forKey: Key128(high: h, low: l))
            if v6[prefix.length].isEmpty { refreshLengths() }
        }
    }

    private mutating func refreshLengths() {
        v4Lengths = v4.indices.reversed().filter { !v4[$0].isEmpty }
        v6Lengths = v6.indices.reversed().filter { !v6[$0].isEmpty }
    }

    private static func displayOrder(_ a: IPPrefix, _ b: IPPrefix) -> Bool {
        switch (a.address, b.address) {
        case (.v4, .v6): return true
        case (.v6, .v4): return false
        case (.v4(let x), .v4(let y)): return a.length != b.length ? a.length > b.length : x < y
        case (.v6(let xh, let xl), .v6(let yh, let yl)):
            return a.length != b.length ? a.length > b.length : (xh, xl) < (yh, yl)
        }
    }
}

/// Just enough IP header parsing for routing: version, addresses, declared length.
public enum IPPacket {
    /// The destination address, or nil if this is not a plausible IPv4/IPv6 packet.
    public static func destination(of packet: UnsafeRawBufferPointer) -> IPAddress? {
        address(of: packet, v4Offset: 16, v6Offset: 24)
    }

    /// The source address, or nil if this is not a plausible IPv4/IPv6 packet.
    public static func source(of packet: UnsafeRawBufferPointer) -> IPAddress? {
        address(of: packet, v4Offset: 12, v6Offset: 8)
    }

    /// The length the header declares (IPv4 total length, IPv6 40 + payload length),
    /// or nil if the packet is malformed or shorter than that.
    public static func declaredLength(of packet: UnsafeRawBufferPointer) -> Int? {
        guard let first = packet.first else { return nil }
        switch first >> 4 {
        case 4:
            guard packet.count >= 20 else { return nil }
            let length = Int(packet[2]) << 8 | Int(packet[3])
            return length >= 20 && length <= packet.count ? length : nil
        case 6:
            guard packet.count >= 40 else { return nil }
            let length = 40 + (Int(packet[4]) << 8 | Int(packet[5]))
            return length <= packet.count ? length : nil
        default:
            return nil
        }
    }

    private static func address(of packet: UnsafeRawBufferPointer, v4Offset: Int, v6Offset: Int) -> IPAddress? {
        guard let first = packet.first else { return nil }
        switch first >> 4 {
        case 4:
            guard packet.count >= 20 else { return nil }
            return .v4(UInt32(bigEndian: packet.loadUnaligned(fromByteOffset: v4Offset, as: UInt32.self)))
        case 6:
            guard packet.count >= 40 else { return nil }
            return .v6(UInt64(bigEndian: packet.loadUnaligned(fromByteOffset: v6Offset, as: UInt64.self)),
                       UInt64(bigEndian: packet.loadUnaligned(fromByteOffset: v6Offset + 8, as: UInt64.self)))
        default:
            return nil
        }
    }
}
