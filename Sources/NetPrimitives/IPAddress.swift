/// An IPv4 or IPv6 address, held as a 128-bit number so that both families share one comparison,
/// one hash and one masking rule. An IPv4 address uses the low 32 bits.
///
/// The one address type of the package: policies, cryptokey routing, the enforcer and the XDP
/// deny list all hold this, so no layer converts addresses through text.
public struct IPAddress: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The address family; the raw value is the IP version number.
    public enum Family: UInt8, Sendable, Codable { case v4 = 4, v6 = 6 }

    /// IPv4 or IPv6; decides how many of `value`'s bits are the address.
    public let family: Family
    /// The address bits, most significant first as on the wire; an IPv4 address uses the low 32.
    public let value: UInt128

    /// An IPv4 address from its 32 bits (host order).
    @inlinable
    public init(v4: UInt32) {
        family = .v4
        value = UInt128(v4)
    }

    /// An IPv6 address from its 128 bits (host order).
    @inlinable
    public init(v6: UInt128) {
        family = .v6
        value = v6
    }

    /// An address of `family`; for IPv4 only the low 32 bits of `value` are kept.
    @inlinable
    public init(family: Family, value: UInt128) {
        self.family = family
        self.value = family == .v4 ? value & 0xffff_ffff : value
    }

    /// From 4 or 16 network-order bytes; nil for any other count.
    public init?(bytes: some Collection<UInt8>) {
        switch bytes.count {
        case 4: self.init(v4: bytes.reduce(0) { $0 << 8 | UInt32($1) })
        case 16: self.init(v6: bytes.reduce(0) { $0 << 8 | UInt128($1) })
        default: return nil
        }
    }

    /// Width of the family's address in bits: 32 or 128.
    @inlinable
    package var bitWidth: Int { family == .v4 ? 32 : 128 }

    /// The address in network byte order: 4 bytes for IPv4, 16 for IPv6. Allocates; not for the data path.
    public var bytes: [UInt8] {
        let count = bitWidth / 8
        return (0..<count).map { UInt8(truncatingIfNeeded: value >> (8 * (count - 1 - $0))) }
    }

    /// The IPv4 bits, or nil for an IPv6 address.
    @inlinable
    public var v4: UInt32? { family == .v4 ? UInt32(truncatingIfNeeded: value) : nil }

    /// The IPv4 address an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) stands for, else nil.
    package var unmappedV4: IPAddress? {
        guard family == .v6, value >> 32 == 0xffff else { return nil }
        return IPAddress(v4: UInt32(truncatingIfNeeded: value))
    }

    /// IPv4 sorts before IPv6, then by value.
    public static func < (a: IPAddress, b: IPAddress) -> Bool {
        (a.family.rawValue, a.value) < (b.family.rawValue, b.value)
    }

    /// Parses dotted-quad IPv4 or RFC 4291 IPv6 text (with `::` and an embedded dotted quad at the
    /// end). Strict: no leading zeros in a dotted quad (some tools read them as octal), at most
    /// four hex digits a group, one `::`, no zone, no surrounding space. Nil for anything else.
    public init?(_ text: some StringProtocol) {
        let text = Substring(text)
        if text.contains(":") {
            guard let v = AddressText.parseV6(text) else { return nil }
            self.init(v6: v)
        } else {
            guard let v = AddressText.parseV4(text) else { return nil }
            self.init(v4: v)
        }
    }

    /// RFC 5952 text: dotted quad for IPv4; for IPv6 lowercase hex without leading zeros, the
    /// longest run (the first of equals) of two or more zero groups as `::`, and IPv4-mapped
    /// addresses as `::ffff:a.b.c.d`.
    public var description: String {
        switch family {
        case .v4: AddressText.formatV4(UInt32(truncatingIfNeeded: value))
        case .v6: AddressText.formatV6(value)
        }
    }
}
