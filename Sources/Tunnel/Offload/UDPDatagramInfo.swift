/// The facts about one plain UDP/IP packet that decide whether it can be merged with its
/// neighbours into a `GSO_UDP_L4` super-packet, read once per packet from its headers.
///
/// The kernel cuts such a super-packet into datagrams of `gso_size` payload bytes each (the
/// last may be shorter), all with the first datagram's headers. So datagrams merge only when
/// those headers would come out the same: one 5-tuple, the IP fields the kernel's GRO also
/// compares, and equal payload sizes, save a shorter last one.
struct UDPDatagramInfo {
    let isIPv6: Bool
    let ipLength: Int
    let payloadLength: Int
    /// A cheap digest of the 5-tuple, compared before the addresses themselves.
    let flowHash: UInt32

    /// The headers in front of the payload: IP and UDP.
    var headersLength: Int { ipLength + TransportFields.udpHeaderLength }

    /// Parses `packet`; nil unless it is an unfragmented UDP packet with no IPv4 options or
    /// IPv6 extension headers, exact IP and UDP length fields and a payload (anything else
    /// passes alone).
    init?(_ packet: UnsafeRawBufferPointer) {
        guard let first = packet.first else { return nil }
        let addressHash: UInt32
        switch first >> 4 {
        case 4:
            ipLength = 20
            guard first & 0x0F == 5, packet.count > ipLength + TransportFields.udpHeaderLength,
                  packet[TransportFields.ipv4Protocol] == TransportFields.IPPROTO_UDP,
                  packet.loadBigEndian16(at: TransportFields.ipv4FlagsAndFragment) & TransportFields.ipv4FragmentMask == 0,
                  Int(packet.loadBigEndian16(at: TransportFields.ipv4TotalLength)) == packet.count
            else { return nil }
            isIPv6 = false
            addressHash = packet.loadUnaligned(fromByteOffset: 12, as: UInt32.self)
                ^ packet.loadUnaligned(fromByteOffset: 16, as: UInt32.self)
        case 6:
            ipLength = TransportFields.ipv6HeaderLength
            guard packet.count > ipLength + TransportFields.udpHeaderLength,
                  packet[TransportFields.ipv6NextHeader] == TransportFields.IPPROTO_UDP,
                  Int(packet.loadBigEndian16(at: TransportFields.ipv6PayloadLength)) + ipLength == packet.count
            else { return nil }
            isIPv6 = true
            var hash: UInt32 = 0
            for word in 0..<8 { hash ^= packet.loadUnaligned(fromByteOffset: 8 + 4 * word, as: UInt32.self) }
            addressHash = hash
        default:
            return nil
        }
        guard Int(packet.loadBigEndian16(at: ipLength + TransportFields.udpLength)) == packet.count - ipLength else { return nil }
        payloadLength = packet.count - ipLength - TransportFields.udpHeaderLength
        flowHash = addressHash ^ packet.loadUnaligned(fromByteOffset: ipLength, as: UInt32.self)
    }

    /// Whether `otherPacket` has `packet`'s family, addresses and ports.
    func sameFlow(_ packet: UnsafeRawBufferPointer, _ other: UDPDatagramInfo, _ otherPacket: UnsafeRawBufferPointer) -> Bool {
        guard isIPv6 == other.isIPv6 else { return false }
        let addresses = isIPv6 ? TransportFields.ipv6Addresses..<TransportFields.ipv6Addresses + 32
            : TransportFields.ipv4Addresses..<TransportFields.ipv4Addresses + 8
        return MergedHeaders.bytesEqual(packet, otherPacket, addresses) && MergedHeaders.bytesEqual(packet, otherPacket, ipLength..<ipLength + 4)
    }

    /// Whether `otherPacket` of the same flow may follow `packet` in one super-packet as far
    /// as its IP header goes: ToS, DF and TTL for IPv4; version, traffic class, flow label and
    /// hop limit for IPv6 (sizes are the run's business).
    func canPrecede(_ packet: UnsafeRawBufferPointer, _ otherPacket: UnsafeRawBufferPointer) -> Bool {
        if isIPv6 {
            return MergedHeaders.bytesEqual(packet, otherPacket, 0..<4)
                && packet[TransportFields.ipv6HopLimit] == otherPacket[TransportFields.ipv6HopLimit]
        }
        return packet[1] == otherPacket[1]
            && packet[TransportFields.ipv4FlagsAndFragment] >> 5 == otherPacket[TransportFields.ipv4FlagsAndFragment] >> 5
            && packet[TransportFields.ipv4TimeToLive] == otherPacket[TransportFields.ipv4TimeToLive]
    }

    /// Whether the packet carries a UDP checksum and it is right. An IPv4 datagram without
    /// one (0, RFC 768) is not merged: the super-packet's segments would get one computed by
    /// the kernel over bytes nobody vouched for.
    func checksumIsValid(_ packet: UnsafeRawBufferPointer) -> Bool {
        guard packet.loadBigEndian16(at: ipLength + TransportFields.udpChecksum) != 0 else { return false }
        let datagram = UnsafeRawBufferPointer(rebasing: packet[ipLength...])
        return InternetChecksum.sum(datagram, initial: pseudoHeaderSum(packet, length: datagram.count)) == 0xFFFF
    }

    /// Turns the headers of a merged packet (this datagram's, at the front of `packet`,
    /// `totalLength` bytes in all) into those the kernel expects with `NEEDS_CSUM`: IP
    /// lengths and IPv4 checksum, the UDP length of the whole, and the UDP checksum field
    /// holding only the pseudo-header sum, which the kernel completes per segment.
    func finishMergedHeaders(_ packet: UnsafeMutableRawBufferPointer, totalLength: Int) {
        MergedHeaders.storeIPLength(packet, isIPv6: isIPv6, ipLength: ipLength, totalLength: totalLength)
        packet.storeBigEndian16(UInt16(totalLength - ipLength), at: ipLength + TransportFields.udpLength)
        let partial = pseudoHeaderSum(UnsafeRawBufferPointer(packet), length: totalLength - ipLength)
        packet.storeBigEndian16(InternetChecksum.fold(partial), at: ipLength + TransportFields.udpChecksum)
    }

    private func pseudoHeaderSum(_ packet: UnsafeRawBufferPointer, length: Int) -> UInt32 {
        MergedHeaders.pseudoHeaderSum(packet, isIPv6: isIPv6, protocol: TransportFields.IPPROTO_UDP, length: length)
    }
}
