import PolicyLang

/// What enforcement needs from an IP packet: addresses, protocol and ports, read in place.
///
/// For ICMP echo the identifier stands in for the source port (destination port 0), so that an
/// echo and its reply form one flow. For ICMP errors, `embedded` describes the packet that
/// caused the error, which is what the error belongs to.
public struct PacketSummary: Sendable, Equatable {
    public enum ICMPKind: UInt8, Sendable {
        case none, echoRequest, echoReply, error, other
    }

    public var family: IPAddress.Family
    /// IP protocol number; ICMPv6 is 58.
    public var ipProtocol: UInt8
    public var source: UInt128
    public var destination: UInt128
    public var sourcePort: UInt16
    public var destinationPort: UInt16
    public var icmp: ICMPKind
    /// For an ICMP error: the flow of the packet quoted inside it.
    public var embedded: EmbeddedFlow?

    /// The addresses and ports of the packet an ICMP error quotes.
    public struct EmbeddedFlow: Sendable, Equatable {
        public var ipProtocol: UInt8
        public var source: UInt128
        public var destination: UInt128
        public var sourcePort: UInt16
        public var destinationPort: UInt16
    }

    public var isICMP: Bool { ipProtocol == 1 || ipProtocol == 58 }

    /// Reads an IPv4 or IPv6 packet. Returns nil for anything too short or malformed to decide on
    /// (the caller drops it). Non-initial fragments carry no ports and are decided with port 0.
    public static func parse(_ p: UnsafeRawBufferPointer) -> PacketSummary? {
        guard let first = p.first else { return nil }
        switch first >> 4 {
        case 4: return parseV4(p, quoted: false)
        case 6: return parseV6(p, quoted: false)
        default: return nil
        }
    }

    private static func parseV4(_ p: UnsafeRawBufferPointer, quoted: Bool) -> PacketSummary? {
        guard p.count >= 20 else { return nil }
        let ihl = Int(p[0] & 0x0f) * 4
        guard ihl >= 20, p.count >= ihl else { return nil }
        if !quoted {
            let total = Int(p[2]) << 8 | Int(p[3])
            guard total >= ihl, total <= p.count else { return nil }
        }
        let fragmentOffset = (Int(p[6]) << 8 | Int(p[7])) & 0x1fff
        let proto = p[9]
        var s = PacketSummary(
            family: .v4, ipProtocol: proto, source: UInt128(be32(p, 12)), destination: UInt128(be32(p, 16)),
            sourcePort: 0, destinationPort: 0, icmp: .none, embedded: nil)
        if fragmentOffset == 0 { s.readTransport(p, at: ihl, quoted: quoted) }
        return s
    }

    private static func parseV6(_ p: UnsafeRawBufferPointer, quoted: Bool) -> PacketSummary? {
        guard p.count >= 40 else { return nil }
        if !quoted {
            let payload = Int(p[4]) << 8 | Int(p[5])
            guard 40 + payload <= p.count else { return nil }
        }
        var next = p[6]
        var offset = 40
        var initialFragment = true
        // Extension headers: hop-by-hop, routing, destination options, fragment.
        loop: while true {
            switch next {
            case 0, 43, 60:
                guard p.count >= offset + 8 else { return nil }
                next = p[offset]
                offset += (Int(p[offset + 1]) + 1) * 8
            case 44:
                guard p.count >= offset + 8 else { return nil }
                next = p[offset]
                initialFragment = (Int(p[offset + 2]) << 8 | Int(p[offset + 3])) & 0xfff8 == 0
                offset += 8
            default:
                break loop
            }
            guard offset <= p.count else { return nil }
        }
        var s = PacketSummary(
            family: .v6, ipProtocol: next, source: be128(p, 8), destination: be128(p, 24), sourcePort: 0,
            destinationPort: 0, icmp: .none, embedded: nil)
        if initialFragment { s.readTransport(p, at: offset, quoted: quoted) }
        return s
    }

    private mutating func readTransport(_ p: UnsafeRawBufferPointer, at offset: Int, quoted: Bool) {
        switch ipProtocol {
        case 6, 17:
            guard p.count >= offset + 4 else { return }
            sourcePort = UInt16(p[offset]) << 8 | UInt16(p[offset + 1])
            destinationPort = UInt16(p[offset + 2]) << 8 | UInt16(p[offset + 3])
        case 1, 58:
            guard p.count >= offset + 8 else { return }
            let type = p[offset]
            let v6 = ipProtocol == 58
            switch (v6, type) {
            case (false, 8), (true, 128):
                icmp = .echoRequest
                sourcePort = UInt16(p[offset + 4]) << 8 | UInt16(p[offset + 5])
            case (false, 0), (true, 129):
                icmp = .echoReply
                sourcePort = UInt16(p[offset + 4]) << 8 | UInt16(p[offset + 5])
            case (false, 3), (false, 4), (false, 11), (false, 12), (true, 1), (true, 2), (true, 3), (true, 4):
                icmp = .error
                // An error quoting an error is not followed further.
                guard !quoted else { return }
                let inner = UnsafeRawBufferPointer(rebasing: p[(offset + 8)...])
                let quotedPacket = v6 ? Self.parseV6(inner, quoted: true) : Self.parseV4(inner, quoted: true)
                if let q = quotedPacket {
                    embedded = EmbeddedFlow(
                        ipProtocol: q.ipProtocol, source: q.source, destination: q.destination, sourcePort: q.sourcePort,
                        destinationPort: q.destinationPort)
                }
            default:
                icmp = .other
            }
        default:
            break
        }
    }

    @inline(__always)
    private static func be32(_ p: UnsafeRawBufferPointer, _ o: Int) -> UInt32 {
        UInt32(p[o]) << 24 | UInt32(p[o + 1]) << 16 | UInt32(p[o + 2]) << 8 | UInt32(p[o + 3])
    }

    @inline(__always)
    private static func be128(_ p: UnsafeRawBufferPointer, _ o: Int) -> UInt128 {
        var v: UInt128 = 0
        for i in 0..<16 { v = v << 8 | UInt128(p[o + i]) }
        return v
    }
}
