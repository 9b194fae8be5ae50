import PolicyLang

/// Builds real IPv4 and IPv6 packets for the enforcer tests.
enum Packets {
    static func v4(_ src: String, _ dst: String, proto: UInt8, payload: [UInt8], ihlWords: Int = 5) -> [UInt8] {
        let s = UInt32(truncatingIfNeeded: IPAddress(src)!.value), d = UInt32(truncatingIfNeeded: IPAddress(dst)!.value)
        let header = ihlWords * 4
        let total = header + payload.count
        var p = [UInt8](repeating: 0, count: header)
        p[0] = 0x40 | UInt8(ihlWords)
        p[2] = UInt8(total >> 8)
        p[3] = UInt8(total & 0xff)
        p[8] = 64
        p[9] = proto
        for i in 0..<4 {
            p[12 + i] = UInt8(truncatingIfNeeded: s >> (24 - 8 * i))
            p[16 + i] = UInt8(truncatingIfNeeded: d >> (24 - 8 * i))
        }
        return p + payload
    }

    static func v6(_ src: String, _ dst: String, proto: UInt8, payload: [UInt8]) -> [UInt8] {
        var p = [UInt8](repeating: 0, count: 40)
        p[0] = 0x60
        p[4] = UInt8(payload.count >> 8)
        p[5] = UInt8(payload.count & 0xff)
        p[6] = proto
        p[7] = 64
        let s = IPAddress(src)!.value, d = IPAddress(dst)!.value
        for i in 0..<16 {
            p[8 + i] = UInt8(truncatingIfNeeded: s >> (120 - 8 * i))
            p[24 + i] = UInt8(truncatingIfNeeded: d >> (120 - 8 * i))
        }
        return p + payload
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

    static func udp(_ src: String, _ sport: UInt16, _ dst: String, _ dport: UInt16) -> [UInt8] {
        v4(src, dst, proto: 17, payload: ports(sport, dport, length: 8))
    }

    static func echo(_ src: String, _ dst: String, id: UInt16, reply: Bool = false) -> [UInt8] {
        let v6 = src.contains(":")
        let type: UInt8 = v6 ? (reply ? 129 : 128) : (reply ? 0 : 8)
        let icmp: [UInt8] = [type, 0, 0, 0, UInt8(id >> 8), UInt8(id & 0xff), 0, 1]
        return v6 ? Packets.v6(src, dst, proto: 58, payload: icmp) : v4(src, dst, proto: 1, payload: icmp)
    }

    /// An ICMPv4 destination-unreachable from `from`, quoting `original`.
    static func unreachable(from: String, to: String, quoting original: [UInt8]) -> [UInt8] {
        v4(from, to, proto: 1, payload: [3, 3, 0, 0, 0, 0, 0, 0] + original.prefix(28))
    }
}
