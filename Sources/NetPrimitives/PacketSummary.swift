/// What enforcement needs from an IP packet: addresses, protocol and ports, read in place with no
/// allocation, on top of ``IPPacket``'s fixed-header reading.
///
/// For ICMP echo the identifier stands in for the source port (destination port 0), so that an
/// echo and its reply form one flow. For ICMP errors, `embedded` describes the packet that
/// caused the error, which is what the error belongs to.
public struct PacketSummary: Sendable, Equatable {
    /// What kind of ICMP or ICMPv6 message the packet is, if any.
    public enum ICMPKind: UInt8, Sendable {
        case none, echoRequest, echoReply, error, other
    }

    /// The IP version of the outer packet.
    public var family: IPAddress.Family
    /// IP protocol number after any IPv6 extension headers; ICMPv6 is 58.
    public var ipProtocol: UInt8
    /// The source address bits (IPv4 in the low 32), as `IPAddress.value` holds them.
    public var source: UInt128
    /// The destination address bits (IPv4 in the low 32).
    public var destination: UInt128
    /// TCP/UDP source port; the echo identifier for ICMP echo; 0 otherwise.
    public var sourcePort: UInt16
    /// TCP/UDP destination port; 0 for ICMP and other protocols.
    public var destinationPort: UInt16
    /// Which ICMP message this is (`.none` for other protocols); errors carry `embedded`.
    public var icmp: ICMPKind
    /// For an ICMP error: the flow of the packet quoted inside it.
    public var embedded: EmbeddedFlow?

    /// The addresses and ports of the packet an ICMP error quotes.
    public struct EmbeddedFlow: Sendable, Equatable {
        /// IP protocol number of the quoted packet.
        public var ipProtocol: UInt8
        /// Source address bits of the quoted packet (the packet our side sent).
        public var source: UInt128
        /// Destination address bits of the quoted packet.
        public var destination: UInt128
        /// Source port of the quoted packet (echo identifier for a quoted echo).
        public var sourcePort: UInt16
        /// Destination port of the quoted packet.
        public var destinationPort: UInt16

        /// Builds a quoted flow from its parts; inlinable so that the packet parser builds it in place.
        @inlinable
        public init(ipProtocol: UInt8, source: UInt128, destination: UInt128, sourcePort: UInt16, destinationPort: UInt16) {
            self.ipProtocol = ipProtocol
            self.source = source
            self.destination = destination
            self.sourcePort = sourcePort
            self.destinationPort = destinationPort
        }
    }

    /// A summary from its parts (tests and synthetic decisions; packets come through ``parse(_:)``).
    @inlinable
    public init(
        family: IPAddress.Family, ipProtocol: UInt8, source: UInt128, destination: UInt128, sourcePort: UInt16 = 0,
        destinationPort: UInt16 = 0, icmp: ICMPKind = .none, embedded: EmbeddedFlow? = nil
    ) {
        self.family = family
        self.ipProtocol = ipProtocol
        self.source = source
        self.destination = destination
        self.sourcePort = sourcePort
        self.destinationPort = destinationPort
        self.icmp = icmp
        self.embedded = embedded
    }

    /// Whether the packet is ICMP or ICMPv6 (protocol 1 or 58).
    package var isICMP: Bool { ipProtocol == 1 || ipProtocol == 58 }

    /// The source address as a value.
    package var sourceAddress: IPAddress { IPAddress(family: family, value: source) }
    /// The destination address as a value.
    package var destinationAddress: IPAddress { IPAddress(family: family, value: destination) }

    /// Reads an IPv4 or IPv6 packet. Returns nil for anything too short or malformed to decide on
    /// (the caller drops it): a fixed header cut short, an IPv4 header length below 20 or past the
    /// packet, a declared length past the packet, an IPv6 extension header cut short.
    /// Non-initial fragments carry no ports and are summarized with ports 0.
    /// Inlinable: it is most of the enforcer's per-packet cost on a cache hit, and a call across
    /// the module boundary (returning the summary indirectly) measured 14 ns slower there.
    @inlinable
    public static func parse(_ p: UnsafeRawBufferPointer) -> PacketSummary? {
        switch IPPacket.family(of: p) {
        case .v4: parseV4(p, quoted: false)
        case .v6: parseV6(p, quoted: false)
        case nil: nil
        }
    }

    /// An IPv4 header. A quoted header (inside an ICMP error) is usually cut short, so its
    /// declared length is not checked.
    @inlinable
    static func parseV4(_ p: UnsafeRawBufferPointer, quoted: Bool) -> PacketSummary? {
        guard p.count >= 20 else { return nil }
        let ihl = Int(p[0] & 0x0f) * 4
        guard ihl >= 20, p.count >= ihl else { return nil }
        if !quoted {
            guard let total = IPPacket.declaredLength(of: p), total >= ihl else { return nil }
        }
        let fragmentOffset = IPPacket.be16(p, 6) & 0x1fff
        var s = PacketSummary(
            family: .v4, ipProtocol: p[9], source: IPPacket.sourceValue(p, .v4),
            destination: IPPacket.destinationValue(p, .v4), sourcePort: 0, destinationPort: 0, icmp: .none,
            embedded: nil)
        if fragmentOffset == 0 { s.readTransport(p, at: ihl, quoted: quoted) }
        return s
    }

    /// An IPv6 header and its extension headers, up to the upper-layer header.
    @inlinable
    static func parseV6(_ p: UnsafeRawBufferPointer, quoted: Bool) -> PacketSummary? {
        guard p.count >= 40 else { return nil }
        if !quoted {
            guard IPPacket.declaredLength(of: p) != nil else { return nil }
        }
        var next = p[6]
        var offset = 40
        var initialFragment = true
        // Every extension header is at least 8 bytes, so the walk ends within the packet.
        walk: while true {
            switch next {
            case 0, 43, 60:
                // Hop-by-hop, routing, destination options: length in 8-byte units past the first 8.
                guard p.count >= offset + 8 else { return nil }
                next = p[offset]
                offset += (Int(p[offset + 1]) + 1) * 8
            case 44:
                // Fragment: fixed 8 bytes; only the first fragment holds the upper-layer header.
                guard p.count >= offset + 8 else { return nil }
                next = p[offset]
                initialFragment = IPPacket.be16(p, offset + 2) & 0xfff8 == 0
                offset += 8
            case 51:
                // Authentication header: length in 4-byte units, minus 2 (RFC 4302).
                guard p.count >= offset + 8 else { return nil }
                next = p[offset]
                offset += (Int(p[offset + 1]) + 2) * 4
            default:
                break walk
            }
            guard offset <= p.count else { return nil }
        }
        var s = PacketSummary(
            family: .v6, ipProtocol: next, source: IPPacket.sourceValue(p, .v6),
            destination: IPPacket.destinationValue(p, .v6), sourcePort: 0, destinationPort: 0, icmp: .none,
            embedded: nil)
        if initialFragment { s.readTransport(p, at: offset, quoted: quoted) }
        return s
    }

    @inlinable
    mutating func readTransport(_ p: UnsafeRawBufferPointer, at offset: Int, quoted: Bool) {
        switch ipProtocol {
        case 6, 17:
            guard p.count >= offset + 4 else { return }
            sourcePort = IPPacket.be16(p, offset)
            destinationPort = IPPacket.be16(p, offset + 2)
        case 1, 58:
            guard p.count >= offset + 8 else { return }
            let type = p[offset]
            let v6 = ipProtocol == 58
            switch (v6, type) {
            case (false, 8), (true, 128):
                icmp = .echoRequest
                sourcePort = IPPacket.be16(p, offset + 4)
            case (false, 0), (true, 129):
                icmp = .echoReply
                sourcePort = IPPacket.be16(p, offset + 4)
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
}
