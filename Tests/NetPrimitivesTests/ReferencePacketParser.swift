import NetPrimitives

/// A second, deliberately plain reading of the same rules as ``PacketSummary/parse(_:)``: array
/// indexing that traps when out of bounds, every check spelled out, no shared helpers. The
/// mutation test holds the fast parser to it.
enum ReferencePacketParser {
    static func summary(_ p: [UInt8]) -> PacketSummary? {
        guard let first = p.first else { return nil }
        if first >> 4 == 4 { return v4(p, quoted: false) }
        if first >> 4 == 6 { return v6(p, quoted: false) }
        return nil
    }

    static func number(_ p: [UInt8], _ from: Int, _ count: Int) -> UInt128 {
        var v: UInt128 = 0
        for i in from..<(from + count) { v = v << 8 | UInt128(p[i]) }
        return v
    }

    static func v4(_ p: [UInt8], quoted: Bool) -> PacketSummary? {
        if p.count < 20 { return nil }
        let ihl = Int(p[0] % 16) * 4
        if ihl < 20 || ihl > p.count { return nil }
        let total = Int(number(p, 2, 2))
        if !quoted && (total < 20 || total > p.count || total < ihl) { return nil }
        let fragmentOffset = number(p, 6, 2) % 0x2000
        let summary = PacketSummary(family: .v4, ipProtocol: p[9], source: number(p, 12, 4), destination: number(p, 16, 4))
        return fragmentOffset == 0 ? transport(summary, p, ihl, quoted: quoted) : summary
    }

    static func v6(_ p: [UInt8], quoted: Bool) -> PacketSummary? {
        if p.count < 40 { return nil }
        if !quoted && 40 + Int(number(p, 4, 2)) > p.count { return nil }
        var next = p[6]
        var at = 40
        var first = true
        while [0, 43, 60, 44, 51].contains(next) {
            if at + 8 > p.count { return nil }
            let type = next
            next = p[at]
            if type == 44 {
                first = number(p, at + 2, 2) / 8 == 0
                at += 8
            } else if type == 51 {
                at += (Int(p[at + 1]) + 2) * 4
            } else {
                at += (Int(p[at + 1]) + 1) * 8
            }
            if at > p.count { return nil }
        }
        let summary = PacketSummary(family: .v6, ipProtocol: next, source: number(p, 8, 16), destination: number(p, 24, 16))
        return first ? transport(summary, p, at, quoted: quoted) : summary
    }

    static func transport(_ s: PacketSummary, _ p: [UInt8], _ at: Int, quoted: Bool) -> PacketSummary {
        var s = s
        let rest = Array(p[at...])
        if s.ipProtocol == 6 || s.ipProtocol == 17 {
            if rest.count >= 4 {
                s.sourcePort = UInt16(number(rest, 0, 2))
                s.destinationPort = UInt16(number(rest, 2, 2))
            }
            return s
        }
        guard s.ipProtocol == 1 || s.ipProtocol == 58, rest.count >= 8 else { return s }
        let v6 = s.ipProtocol == 58
        let type = rest[0]
        let echoRequest: UInt8 = v6 ? 128 : 8, echoReply: UInt8 = v6 ? 129 : 0
        let errors: [UInt8] = v6 ? [1, 2, 3, 4] : [3, 4, 11, 12]
        if type == echoRequest || type == echoReply {
            s.icmp = type == echoRequest ? .echoRequest : .echoReply
            s.sourcePort = UInt16(number(rest, 4, 2))
        } else if errors.contains(type) {
            s.icmp = .error
            if !quoted {
                let inner = Array(rest[8...])
                if let q = v6 ? self.v6(inner, quoted: true) : self.v4(inner, quoted: true) {
                    s.embedded = .init(
                        ipProtocol: q.ipProtocol, source: q.source, destination: q.destination, sourcePort: q.sourcePort,
                        destinationPort: q.destinationPort)
                }
            }
        } else {
            s.icmp = .other
        }
        return s
    }
}
