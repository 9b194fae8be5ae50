/// An IPv4 or IPv6 address, held as a 128-bit number so both families share one comparison.
public struct IPAddress: Hashable, Sendable, Comparable, CustomStringConvertible {
    public enum Family: UInt8, Sendable, Codable { case v4 = 4, v6 = 6 }

    public let family: Family
    /// The address bits; an IPv4 address uses the low 32.
    public let value: UInt128

    public init(v4: UInt32) {
        family = .v4
        value = UInt128(v4)
    }

    public init(v6: UInt128) {
        family = .v6
        value = v6
    }

    /// Width of the family's address in bits.
    public var bitWidth: Int { family == .v4 ? 32 : 128 }

    public static func < (a: IPAddress, b: IPAddress) -> Bool {
        (a.family.rawValue, a.value) < (b.family.rawValue, b.value)
    }

    /// Parses dotted-quad IPv4 or RFC 4291 IPv6 text (with `::` and an embedded dotted quad).
    public init?(_ text: some StringProtocol) {
        if text.contains(":") {
            guard let v = Self.parseV6(Substring(text)) else { return nil }
            self.init(v6: v)
        } else {
            guard let v = Self.parseV4(Substring(text)) else { return nil }
            self.init(v4: v)
        }
    }

    static func parseV4(_ text: Substring) -> UInt32? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var value: UInt32 = 0
        for part in parts {
            guard !part.isEmpty, part.count <= 3, part.allSatisfy({ $0.isASCII && $0.isNumber }),
                let octet = UInt32(part), octet <= 255
            else { return nil }
            // A leading zero would be read as octal by some tools; refuse the ambiguity.
            if part.count > 1 && part.first == "0" { return nil }
            value = value << 8 | octet
        }
        return value
    }

    static func parseV6(_ text: Substring) -> UInt128? {
        var groups: [UInt16] = []
        var gapIndex: Int? = nil
        var rest = text
        if rest.hasPrefix("::") {
            gapIndex = 0
            rest = rest.dropFirst(2)
        }
        while !rest.isEmpty {
            let piece: Substring
            if let colon = rest.firstIndex(of: ":") {
                piece = rest[rest.startIndex..<colon]
                rest = rest[rest.index(after: colon)...]
                if rest.hasPrefix(":") {
                    guard gapIndex == nil else { return nil }
                    rest = rest.dropFirst()
                    guard let g = parseGroup(piece) else { return nil }
                    groups.append(g)
                    gapIndex = groups.count
                    continue
                }
                guard !rest.isEmpty else { return nil }
            } else {
                piece = rest
                rest = rest[rest.endIndex...]
                if piece.contains(".") {
                    guard let v4 = parseV4(piece) else { return nil }
                    groups.append(UInt16(v4 >> 16))
                    groups.append(UInt16(v4 & 0xffff))
                    break
                }
            }
            guard let g = parseGroup(piece) else { return nil }
            groups.append(g)
        }
        if let gap = gapIndex {
            guard groups.count < 8 else { return nil }
            groups.insert(contentsOf: repeatElement(0, count: 8 - groups.count), at: gap)
        }
        guard groups.count == 8 else { return nil }
        return groups.reduce(UInt128(0)) { $0 << 16 | UInt128($1) }
    }

    private static func parseGroup(_ s: Substring) -> UInt16? {
        guard !s.isEmpty, s.count <= 4, s.allSatisfy({ $0.isHexDigit }) else { return nil }
        return UInt16(s, radix: 16)
    }

    public var description: String {
        switch family {
        case .v4:
            let v = UInt32(truncatingIfNeeded: value)
            return "\(v >> 24).\(v >> 16 & 0xff).\(v >> 8 & 0xff).\(v & 0xff)"
        case .v6:
            let groups = (0..<8).map { UInt16(truncatingIfNeeded: value >> (112 - 16 * $0)) }
            // Compress the longest run of two or more zero groups, as RFC 5952 asks.
            var best = (start: -1, count: 0)
            var i = 0
            while i < 8 {
                if groups[i] == 0 {
                    var j = i
                    while j < 8 && groups[j] == 0 { j += 1 }
                    if j - i > best.count && j - i >= 2 { best = (i, j - i) }
                    i = j
                } else {
                    i += 1
                }
            }
            let hex = groups.map { String($0, radix: 16) }
            if best.start < 0 { return hex.joined(separator: ":") }
            let head = hex[0..<best.start].joined(separator: ":")
            let tail = hex[(best.start + best.count)...].joined(separator: ":")
            return head + "::" + tail
        }
    }
}

/// An address prefix such as `10.0.0.0/8` or `fd00:30::/64`; a bare address is a full-length prefix.
public struct CIDR: Hashable, Sendable, CustomStringConvertible {
    public let address: IPAddress
    public let prefixLength: Int

    public init(address: IPAddress, prefixLength: Int) {
        self.address = address
        self.prefixLength = prefixLength
    }

    public enum ParseError: Error, Equatable {
        case malformedAddress
        case badPrefixLength
        /// The address has bits set below the prefix; `suggestion` is the network it probably means.
        case hostBitsSet(suggestion: CIDR)
    }

    /// Parses `ADDRESS[/LEN]`, refusing prefixes with host bits set.
    public static func parse(_ text: some StringProtocol) -> Result<CIDR, ParseError> {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = IPAddress(parts[0]) else { return .failure(.malformedAddress) }
        var length = address.bitWidth
        if parts.count == 2 {
            guard parts[1].count <= 3, parts[1].allSatisfy({ $0.isASCII && $0.isNumber }),
                let n = Int(parts[1]), n <= address.bitWidth
            else { return .failure(.badPrefixLength) }
            length = n
        }
        let cidr = CIDR(address: address, prefixLength: length)
        if cidr.first != address {
            let network = address.family == .v4 ? IPAddress(v4: UInt32(cidr.first.value)) : IPAddress(v6: cidr.first.value)
            return .failure(.hostBitsSet(suggestion: CIDR(address: network, prefixLength: length)))
        }
        return .success(cidr)
    }

    private var hostMask: UInt128 {
        let hostBits = address.bitWidth - prefixLength
        return hostBits == 0 ? 0 : (hostBits >= 128 ? UInt128.max : (UInt128(1) << hostBits) - 1)
    }

    /// The lowest address in the prefix.
    public var first: IPAddress {
        let v = address.value & ~hostMask
        return address.family == .v4 ? IPAddress(v4: UInt32(truncatingIfNeeded: v)) : IPAddress(v6: v)
    }

    /// The highest address in the prefix.
    public var last: IPAddress {
        let v = address.value | hostMask
        return address.family == .v4 ? IPAddress(v4: UInt32(truncatingIfNeeded: v)) : IPAddress(v6: v)
    }

    public func contains(_ a: IPAddress) -> Bool {
        a.family == address.family && a.value >= first.value && a.value <= last.value
    }

    public func contains(_ other: CIDR) -> Bool {
        other.address.family == address.family && other.prefixLength >= prefixLength && contains(other.address)
    }

    public var description: String { "\(address)/\(prefixLength)" }
}
