/// The fixed IPv4 and IPv6 headers, read in place from a packet's bytes with no allocation.
///
/// Cryptokey routing reads just these fields (the destination picks the peer outbound, the
/// source must belong to the sending peer inbound, the declared length trims padding), and
/// ``PacketSummary`` reads the rest of the packet on top of them, so the two agree on what
/// counts as an IP packet.
public enum IPPacket {
    /// The packet's family, when its first nibble is 4 or 6 and its fixed header (20 or 40
    /// bytes) is all there; nil otherwise.
    @inlinable
    public static func family(of packet: UnsafeRawBufferPointer) -> IPAddress.Family? {
        guard let first = packet.first else { return nil }
        switch first >> 4 {
        case 4: return packet.count >= 20 ? .v4 : nil
        case 6: return packet.count >= 40 ? .v6 : nil
        default: return nil
        }
    }

    /// The destination address, or nil if this is not a plausible IPv4/IPv6 packet.
    @inlinable
    public static func destination(of packet: UnsafeRawBufferPointer) -> IPAddress? {
        guard let family = family(of: packet) else { return nil }
        return IPAddress(family: family, value: destinationValue(packet, family))
    }

    /// The source address, or nil if this is not a plausible IPv4/IPv6 packet.
    @inlinable
    public static func source(of packet: UnsafeRawBufferPointer) -> IPAddress? {
        guard let family = family(of: packet) else { return nil }
        return IPAddress(family: family, value: sourceValue(packet, family))
    }

    /// The length the header declares (IPv4 total length, at least 20; IPv6 40 + payload
    /// length), or nil if the packet is malformed or shorter than that.
    @inlinable
    public static func declaredLength(of packet: UnsafeRawBufferPointer) -> Int? {
        switch family(of: packet) {
        case .v4:
            let length = Int(be16(packet, 2))
            return length >= 20 && length <= packet.count ? length : nil
        case .v6:
            let length = 40 + Int(be16(packet, 4))
            return length <= packet.count ? length : nil
        case nil:
            return nil
        }
    }

    /// The source address bits of a packet whose fixed header of `family` is present.
    @inlinable
    static func sourceValue(_ p: UnsafeRawBufferPointer, _ family: IPAddress.Family) -> UInt128 {
        family == .v4 ? UInt128(be32(p, 12)) : be128(p, 8)
    }

    /// The destination address bits of a packet whose fixed header of `family` is present.
    @inlinable
    static func destinationValue(_ p: UnsafeRawBufferPointer, _ family: IPAddress.Family) -> UInt128 {
        family == .v4 ? UInt128(be32(p, 16)) : be128(p, 24)
    }

    @inlinable
    static func be16(_ p: UnsafeRawBufferPointer, _ offset: Int) -> UInt16 {
        UInt16(bigEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }

    @inlinable
    static func be32(_ p: UnsafeRawBufferPointer, _ offset: Int) -> UInt32 {
        UInt32(bigEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    @inlinable
    static func be128(_ p: UnsafeRawBufferPointer, _ offset: Int) -> UInt128 {
        UInt128(UInt64(bigEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt64.self))) << 64
            | UInt128(UInt64(bigEndian: p.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self)))
    }
}
