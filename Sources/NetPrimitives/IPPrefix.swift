/// An address prefix such as `10.0.0.0/8` or `fd00:30::/64`: an address and the number of its
/// leading bits that matter. A bare address is its own /32 or /128.
///
/// Two ways to make one, named for what they do with bits set below the length:
/// ``init(exactly:length:)`` and ``parse(_:)`` refuse them (a policy or a deny list that says
/// `10.0.0.1/24` more likely holds a typo than a network), while ``init(masking:length:)`` and
/// ``init(_:)`` clear them, as `wg` does for allowed IPs. Either way the stored address has no
/// host bits and the length fits the family.
public struct IPPrefix: Hashable, Sendable, CustomStringConvertible {
    /// The network address: no bits set below `length`.
    public let address: IPAddress
    /// The number of leading bits that matter: 0...32 for IPv4, 0...128 for IPv6.
    public let length: Int

    /// Why text or parts do not make a prefix.
    public enum ParseError: Error, Equatable, Sendable {
        case malformedAddress
        case badPrefixLength
        /// The address has bits set below the length; `suggestion` is the network it probably means.
        case hostBitsSet(suggestion: IPPrefix)
    }

    /// Exactly this network: throws ``ParseError/badPrefixLength`` for a length outside the
    /// family's range and ``ParseError/hostBitsSet(suggestion:)`` for bits set below it.
    public init(exactly address: IPAddress, length: Int) throws(ParseError) {
        guard let masked = IPPrefix(masking: address, length: length) else { throw .badPrefixLength }
        guard masked.address == address else { throw .hostBitsSet(suggestion: masked) }
        self = masked
    }

    /// The network `address` lies in, clearing its bits below `length` (wg's allowed-ips
    /// semantics). Nil for a length outside the family's range.
    public init?(masking address: IPAddress, length: Int) {
        guard length >= 0, length <= address.bitWidth else { return nil }
        self.address = IPAddress(family: address.family, value: address.value & Self.networkMask(address.family, length))
        self.length = length
    }

    /// Parses `ADDRESS[/LENGTH]` strictly, refusing host bits (for policies and deny lists).
    public static func parse(_ text: some StringProtocol) -> Result<IPPrefix, ParseError> {
        do throws(ParseError) {
            return .success(try IPPrefix(parsing: text))
        } catch {
            return .failure(error)
        }
    }

    /// Parses `ADDRESS[/LENGTH]` strictly, refusing host bits (for policies and deny lists).
    public init(parsing text: some StringProtocol) throws(ParseError) {
        let (address, length) = try Self.split(Substring(text))
        try self.init(exactly: address, length: length)
    }

    /// Parses `ADDRESS[/LENGTH]` as `wg` reads allowed IPs: surrounding space is ignored and bits
    /// below the length are cleared (`10.1.2.3/24` is `10.1.2.0/24`). Nil for malformed text.
    public init?(_ text: some StringProtocol) {
        var trimmed = Substring(text)
        while let c = trimmed.first, c.isWhitespace { trimmed = trimmed.dropFirst() }
        while let c = trimmed.last, c.isWhitespace { trimmed = trimmed.dropLast() }
        guard let (address, length) = try? Self.split(trimmed) else { return nil }
        self.init(masking: address, length: length)
    }

    private static func split(_ text: Substring) throws(ParseError) -> (IPAddress, Int) {
        let slash = text.firstIndex(of: "/")
        guard let address = IPAddress(text[..<(slash ?? text.endIndex)]) else { throw .malformedAddress }
        guard let slash else { return (address, address.bitWidth) }
        let digits = text[text.index(after: slash)...]
        guard !digits.isEmpty, digits.utf8.count <= 3, digits.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
            let length = Int(digits), length <= address.bitWidth
        else { throw .badPrefixLength }
        return (address, length)
    }

    /// The bits of a `family` address that a prefix of `length` keeps.
    @inlinable
    public static func networkMask(_ family: IPAddress.Family, _ length: Int) -> UInt128 {
        let width = family == .v4 ? 32 : 128
        let all: UInt128 = family == .v4 ? 0xffff_ffff : .max
        let hostBits = width - length
        return hostBits >= width ? 0 : all & ~((UInt128(1) << hostBits) &- 1)
    }

    /// Whether this is an IPv6 prefix.
    package var isIPv6: Bool { address.family == .v6 }

    /// The lowest address in the prefix: its network address.
    public var first: IPAddress { address }

    /// The highest address in the prefix.
    public var last: IPAddress {
        let hostMask = ~Self.networkMask(address.family, length)
        return IPAddress(family: address.family, value: address.value | hostMask)
    }

    /// Whether `a` lies in this prefix (never across families).
    @inlinable
    public func contains(_ a: IPAddress) -> Bool {
        a.family == address.family && a.value & Self.networkMask(address.family, length) == address.value
    }

    /// Whether every address of `other` lies in this prefix.
    public func contains(_ other: IPPrefix) -> Bool {
        other.length >= length && contains(other.address)
    }

    /// `ADDRESS/LENGTH`, the address in RFC 5952 form.
    public var description: String { "\(address)/\(length)" }
}
