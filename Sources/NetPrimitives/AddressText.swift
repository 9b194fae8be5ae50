/// The text forms of addresses: the strict parsers and the RFC 5952 formatter behind
/// ``IPAddress/init(_:)`` and ``IPAddress/description``.
enum AddressText {
    static func parseV4(_ text: Substring) -> UInt32? {
        var value: UInt32 = 0
        var parts = 0
        for part in text.split(separator: ".", omittingEmptySubsequences: false) {
            parts += 1
            guard parts <= 4, !part.isEmpty, part.utf8.count <= 3, part.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                let octet = UInt32(part), octet <= 255
            else { return nil }
            // A leading zero would be read as octal by some tools; refuse the ambiguity.
            if part.utf8.count > 1 && part.utf8.first == 0x30 { return nil }
            value = value << 8 | octet
        }
        return parts == 4 ? value : nil
    }

    static func parseV6(_ text: Substring) -> UInt128? {
        // Groups before and after the `::`, if any; at most eight in all.
        var head: [UInt16] = []
        var tail: [UInt16] = []
        var sawGap = false
        var rest = text
        if rest.hasPrefix("::") {
            sawGap = true
            rest = rest.dropFirst(2)
        }
        while !rest.isEmpty {
            guard head.count + tail.count < 8 else { return nil }
            let piece: Substring
            if let colon = rest.firstIndex(of: ":") {
                piece = rest[rest.startIndex..<colon]
                rest = rest[rest.index(after: colon)...]
                guard let group = parseGroup(piece) else { return nil }
                if sawGap { tail.append(group) } else { head.append(group) }
                if rest.hasPrefix(":") {
                    guard !sawGap else { return nil }
                    sawGap = true
                    rest = rest.dropFirst()
                } else if rest.isEmpty {
                    // A single trailing colon.
                    return nil
                }
                continue
            }
            piece = rest
            rest = rest[rest.endIndex...]
            let groups: [UInt16]
            if piece.contains(".") {
                guard let v4 = parseV4(piece) else { return nil }
                groups = [UInt16(v4 >> 16), UInt16(v4 & 0xffff)]
            } else {
                guard let group = parseGroup(piece) else { return nil }
                groups = [group]
            }
            if sawGap { tail += groups } else { head += groups }
        }
        let count = head.count + tail.count
        // `::` stands for at least one zero group (RFC 4291 2.2); without it there must be eight.
        guard sawGap ? count <= 7 : count == 8 else { return nil }
        let all = head + repeatElement(0, count: 8 - count) + tail
        return all.reduce(UInt128(0)) { $0 << 16 | UInt128($1) }
    }

    private static func parseGroup(_ s: Substring) -> UInt16? {
        guard !s.isEmpty, s.utf8.count <= 4, s.utf8.allSatisfy(isHexDigit) else { return nil }
        return UInt16(s, radix: 16)
    }

    private static func isHexDigit(_ c: UInt8) -> Bool {
        (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66)
    }

    static func formatV4(_ v: UInt32) -> String {
        "\(v >> 24).\(v >> 16 & 0xff).\(v >> 8 & 0xff).\(v & 0xff)"
    }

    static func formatV6(_ value: UInt128) -> String {
        // RFC 5952 section 5: an IPv4-mapped address keeps its dotted quad.
        if value >> 32 == 0xffff { return "::ffff:" + formatV4(UInt32(truncatingIfNeeded: value)) }
        let groups = (0..<8).map { UInt16(truncatingIfNeeded: value >> (112 - 16 * $0)) }
        // Compress the longest run of two or more zero groups; the first one on a tie (section 4.2.3).
        var best = (start: -1, count: 0)
        var i = 0
        while i < 8 {
            guard groups[i] == 0 else {
                i += 1
                continue
            }
            var j = i
            while j < 8 && groups[j] == 0 { j += 1 }
            if j - i > best.count && j - i >= 2 { best = (i, j - i) }
            i = j
        }
        let hex = groups.map { String($0, radix: 16) }
        if best.start < 0 { return hex.joined(separator: ":") }
        let head = hex[0..<best.start].joined(separator: ":")
        let tail = hex[(best.start + best.count)...].joined(separator: ":")
        return head + "::" + tail
    }
}
