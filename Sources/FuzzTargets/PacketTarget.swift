import NetPrimitives

extension FuzzTargets {
    /// The one IP packet parser of the data path (NetPrimitives): the enforcer's flow summary,
    /// `PacketSummary.parse` (IPv4, IPv6 with extension headers, fragments, ICMP errors with the
    /// quoted packet), and the routing fields cryptokey routing reads, `IPPacket`. The input is
    /// the packet.
    ///
    /// Invariants: whatever the summary accepts, the routing reader accepts too and reads the
    /// same family and addresses, and its declared length fits the packet; ports are 0 for a
    /// protocol without them; only an ICMP error quotes a packet.
    public static func packet(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { p in
            let source = IPPacket.source(of: p)
            let destination = IPPacket.destination(of: p)
            if let length = IPPacket.declaredLength(of: p) {
                precondition(length <= p.count && source != nil && destination != nil, "declared length of a packet with no addresses")
            }
            guard let summary = PacketSummary.parse(p) else { return }
            precondition(source.map(value) == summary.source && destination.map(value) == summary.destination,
                         "the summary and the routing reader disagree on the addresses")
            precondition((summary.family == .v4) == (p[0] >> 4 == 4), "the summary got the family wrong")
            precondition(IPPacket.declaredLength(of: p) != nil, "the summary accepted a packet longer than its bytes")
            if ![1, 6, 17, 58].contains(summary.ipProtocol) {
                precondition(summary.sourcePort == 0 && summary.destinationPort == 0 && summary.icmp == .none,
                             "ports for a protocol without them")
            }
            precondition(summary.embedded == nil || summary.icmp == .error, "a quoted packet outside an ICMP error")
            precondition(summary.isICMP || summary.icmp == .none, "ICMP kind on a non-ICMP packet")
        }
    }

    /// The routing reader's address as the summary's 128-bit value.
    private static func value(_ address: IPAddress) -> UInt128 { address.value }
}
