import Glibc

/// An IPv4 or IPv6 prefix of outer source addresses, as the deny list takes them:
/// `203.0.113.0/24`, `2001:db8::/32`; a bare address is its own /32 or /128.
public struct IPPrefix: Hashable, Sendable, CustomStringConvertible {
    /// The network address in network byte order: 4 bytes for IPv4, 16 for IPv6.
    public let address: [UInt8]
    /// The number of leading bits that matter.
    public let length: Int

    /// Whether this is an IPv6 prefix.
    public var isIPv6: Bool { address.count == 16 }

    /// A prefix from its network-order address bytes (4 or 16) and length.
    /// Throws ``XDPError/invalidPrefix(_:)`` for another byte count, a length out of range or
    /// bits set below the length (a typo more often than not, so it is not silently masked).
    public init(address: [UInt8], length: Int) throws {
        guard address.count == 4 || address.count == 16, (0...address.count * 8).contains(length) else {
            throw XDPError.invalidPrefix("\(address)/\(length)")
        }
        for bit in length..<(address.count * 8) where address[bit / 8] & (0x80 >> UInt8(bit % 8)) != 0 {
            throw XDPError.invalidPrefix(Self.format(address, length))
        }
        self.address = address
        self.length = length
    }

    /// Parses `ADDRESS[/LENGTH]`.
    public init(_ text: String) throws {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        var v4 = in_addr()
        var v6 = in6_addr()
        let bytes: [UInt8]
        if inet_pton(AF_INET, String(parts[0]), &v4) == 1 {
            bytes = withUnsafeBytes(of: &v4) { Array($0) }
        } else if inet_pton(AF_INET6, String(parts[0]), &v6) == 1 {
            bytes = withUnsafeBytes(of: &v6) { Array($0) }
        } else {
            throw XDPError.invalidPrefix(text)
        }
        var length = bytes.count * 8
        if parts.count == 2 {
            guard let parsed = Int(parts[1]), parts[1].allSatisfy(\.isASCII) else { throw XDPError.invalidPrefix(text) }
            length = parsed
        }
        do {
            try self.init(address: bytes, length: length)
        } catch {
            throw XDPError.invalidPrefix(text)
        }
    }

    public var description: String { Self.format(address, length) }

    private static func format(_ address: [UInt8], _ length: Int) -> String {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let family = address.count == 4 ? AF_INET : AF_INET6
        let ok = address.withUnsafeBytes { inet_ntop(family, $0.baseAddress, &buffer, socklen_t(buffer.count)) } != nil
        let text = ok ? String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : "?"
        return "\(text)/\(length)"
    }
}
