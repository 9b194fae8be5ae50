import NetPrimitives

/// Builds real IPv4 and IPv6 packets for the parser tests.
enum PacketBuilder {
    static func v4(_ src: String, _ dst: String, proto: UInt8, payload: [UInt8], ihlWords: Int = 5, fragmentOffset: UInt16 = 0) -> [UInt8] {
        let header = ihlWords * 4
        let total = header + payload.count
        var p = [UInt8](repeating: 0, count: header)
        p[0] = 0x40 | UInt8(ihlWords)
        p[2] = UInt8(total >> 8)
        p[3] = UInt8(total & 0xff)
        p[6] = UInt8(fragmentOffset >> 8)
        p[7] = UInt8(fragmentOffset & 0xff)
        p[8] = 64
        p[9] = proto
        p.replaceSubrange(12..<16, with: IPAddress(src)!.bytes)
        p.replaceSubrange(16..<20, with: IPAddress(dst)!.bytes)
        return p + payload
    }

    /// An IPv6 packet; `extensions` are (header type, body) pairs placed in order before the payload,
    /// each body padded to its header's unit.
    static func v6(_ src: String, _ dst: String, proto: UInt8, payload: [UInt8], extensions: [(UInt8, [UInt8])] = []) -> [UInt8] {
        var chain: [UInt8] = []
        let types = extensions.map(\.0) + [proto]
        for (i, (type, body)) in extensions.enumerated() {
            var header = [types[i + 1], 0] + body
            switch type {
            case 44:
                header = Array((header + [UInt8](repeating: 0, count: 8)).prefix(8))
            case 51:
                while header.count % 4 != 0 || header.count < 8 { header.append(0) }
                header[1] = UInt8(header.count / 4 - 2)
            default:
                while header.count % 8 != 0 { header.append(0) }
                header[1] = UInt8(header.count / 8 - 1)
            }
            chain += header
        }
        var p = [UInt8](repeating: 0, count: 40)
        let length = chain.count + payload.count
        p[0] = 0x60
        p[4] = UInt8(length >> 8)
        p[5] = UInt8(length & 0xff)
        p[6] = types[0]
        p[7] = 64
        p.replaceSubrange(8..<24, with: IPAddress(src)!.bytes)
        p.replaceSubrange(24..<40, with: IPAddress(dst)!.bytes)
        return p + chain + payload
    }

    static func ports(_ sport: UInt16, _ dport: UInt16, length: Int = 20) -> [UInt8] {
        var t = [UInt8](repeating: 0, count: length)
        t[0] = UInt8(sport >> 8); t[1] = UInt8(sport & 0xff)
        t[2] = UInt8(dport >> 8); t[3] = UInt8(dport & 0xff)
        return t
    }

    static func tcp(_ src: String, _ sport: UInt16, _ dst: String, _ dport: UInt16) -> [UInt8] {
        src.contains(":") ? v6(src, dst, proto: 6, payload: ports(sport, dport)) : v4(src, dst, proto: 6, payload: ports(sport, dport))
    }

    static func echo(_ src: String, _ dst: String, id: UInt16, reply: Bool = false) -> [UInt8] {
        let v6 = src.contains(":")
        let type: UInt8 = v6 ? (reply ? 129 : 128) : (reply ? 0 : 8)
        let icmp: [UInt8] = [type, 0, 0, 0, UInt8(id >> 8), UInt8(id & 0xff), 0, 1]
        return v6 ? PacketBuilder.v6(src, dst, proto: 58, payload: icmp) : v4(src, dst, proto: 1, payload: icmp)
    }

    /// An ICMP destination-unreachable (ICMPv6 type 1) from `from`, quoting the start of `original`.
    static func unreachable(from: String, to: String, quoting original: [UInt8]) -> [UInt8] {
        from.contains(":")
            ? v6(from, to, proto: 58, payload: [1, 4, 0, 0, 0, 0, 0, 0] + original.prefix(48))
            : v4(from, to, proto: 1, payload: [3, 3, 0, 0, 0, 0, 0, 0] + original.prefix(28))
    }
}
