/// The facts about one plain TCP/IP packet that decide whether it can be merged with its
/// neighbours, read once per packet from its headers.
struct TCPSegmentInfo {
    let isIPv6: Bool
    let ipLength: Int
    let headersLength: Int
    let payloadLength: Int
    let sequence: UInt32
    let pushed: Bool
    /// Whether the packet may be merged at all: IPv4 without options or IPv6 without
    /// extension headers, exact length fields, a payload, and only ACK or ACK+PSH set.
    /// A TCP packet that may not still counts as its flow's newest, to keep the order.
    let mergeable: Bool
    /// A cheap digest of the 5-tuple, compared before the addresses themselves.
    let flowHash: UInt32

    /// Parses `packet`; nil unless it is an unfragmented TCP packet whose headers are all
    /// there (anything else passes alone and belongs to no TCP flow).
    init?(_ packet: UnsafeRawBufferPointer) {
        guard let first = packet.first else { return nil }
        let ipLength: Int
        let addressHash: UInt32
        let exactLength: Bool
        switch first >> 4 {
        case 4:
            ipLength = Int(first & 0x0F) * 4
            guard ipLength >= 20, packet.count >= ipLength + TransportFields.tcpMinimumHeaderLength,
                  packet[TransportFields.ipv4Protocol] == TransportFields.IPPROTO_TCP,
                  packet.loadBigEndian16(at: TransportFields.ipv4FlagsAndFragment) & TransportFields.ipv4FragmentMask == 0
            else { return nil }
            isIPv6 = false
            exactLength = ipLength == 20 && Int(packet.loadBigEndian16(at: TransportFields.ipv4TotalLength)) == packet.count
            addressHash = packet.loadUnaligned(fromByteOffset: 12, as: UInt32.self)
                ^ packet.loadUnaligned(fromByteOffset: 16, as: UInt32.self)
        case 6:
            ipLength = TransportFields.ipv6HeaderLength
            guard packet.count >= ipLength + TransportFields.tcpMinimumHeaderLength,
                  packet[TransportFields.ipv6NextHeader] == TransportFields.IPPROTO_TCP
            else { return nil }
            isIPv6 = true
            exactLength = Int(packet.loadBigEndian16(at: TransportFields.ipv6PayloadLength)) + ipLength == packet.count
            var hash: UInt32 = 0
            for word in 0..<8 { hash ^= packet.loadUnaligned(fromByteOffset: 8 + 4 * word, as: UInt32.self) }
            addressHash = hash
        default:
            return nil
        }
        let tcpLength = Int(packet[ipLength + TransportFields.tcpDataOffset] >> 4) * 4
        let flags = packet[ipLength + TransportFields.tcpFlags]
        self.ipLength = ipLength
        headersLength = ipLength + tcpLength
        // A data offset pointing past the packet leaves no payload (and the packet unmergeable).
        payloadLength = max(0, packet.count - headersLength)
        sequence = packet.loadBigEndian32(at: ipLength + TransportFields.tcpSequence)
        pushed = flags & TransportFields.PSH != 0
        mergeable = exactLength && tcpLength >= TransportFields.tcpMinimumHeaderLength && payloadLength > 0
            && (flags == TransportFields.ACK || flags == TransportFields.ACK | TransportFields.PSH)
        flowHash = addressHash ^ packet.loadUnaligned(fromByteOffset: ipLength, as: UInt32.self)
    }

    /// Whether `other` (`otherPacket`) has this segment's (`packet`'s) addresses and ports.
    func sameFlow(_ packet: UnsafeRawBufferPointer, _ other: TCPSegmentInfo, _ otherPacket: UnsafeRawBufferPointer) -> Bool {
        guard isIPv6 == other.isIPv6 else { return false }
        let addresses = isIPv6 ? TransportFields.ipv6Addresses..<TransportFields.ipv6Addresses + 32
            : TransportFields.ipv4Addresses..<TransportFields.ipv4Addresses + 8
        return MergedHeaders.bytesEqual(packet, otherPacket, addresses)
            && MergedHeaders.bytesEqual(packet, otherPacket, ipLength..<ipLength + 4)
    }

    /// Whether `other` of the same flow may follow this segment in one super-packet as far
    /// as its headers go (sequence and size are the run's business): same acknowledgment,
    /// same TCP header length and options, and IP fields the kernel's GRO also insists on.
    func canPrecede(_ packet: UnsafeRawBufferPointer, _ other: TCPSegmentInfo, _ otherPacket: UnsafeRawBufferPointer) -> Bool {
        guard headersLength == other.headersLength else { return false }
        let acknowledgment = ipLength + TransportFields.tcpAcknowledgment
        // Options (timestamps above all) from byte 20 of the TCP header to its end.
        guard MergedHeaders.bytesEqual(packet, otherPacket, acknowledgment..<acknowledgment + 4),
              MergedHeaders.bytesEqual(packet, otherPacket, ipLength + TransportFields.tcpMinimumHeaderLength..<headersLength)
        else { return false }
        if isIPv6 {
            // Version, traffic class and flow label, then the hop limit.
            return MergedHeaders.bytesEqual(packet, otherPacket, 0..<4)
                && packet[TransportFields.ipv6HopLimit] == otherPacket[TransportFields.ipv6HopLimit]
        }
        // ToS (with ECN), DF and the reserved bit, TTL.
        return packet[1] == otherPacket[1]
            && packet[TransportFields.ipv4FlagsAndFragment] >> 5 == otherPacket[TransportFields.ipv4FlagsAndFragment] >> 5
            && packet[TransportFields.ipv4TimeToLive] == otherPacket[TransportFields.ipv4TimeToLive]
    }

    /// Whether the packet's TCP checksum is right: the sum over pseudo-header and segment,
    /// checksum field included, is all ones.
    func checksumIsValid(_ packet: UnsafeRawBufferPointer) -> Bool {
        let segment = UnsafeRawBufferPointer(rebasing: packet[ipLength...])
        return InternetChecksum.sum(segment, initial: pseudoHeaderSum(packet, length: segment.count)) == 0xFFFF
    }

    /// Turns the headers of a merged packet (this segment's, at the front of `packet`,
    /// `totalLength` bytes in all) into those the kernel expects with `NEEDS_CSUM`: IP
    /// lengths and IPv4 checksum for the new size, PSH if the last segment had it, and
    /// the TCP checksum field holding only the pseudo-header sum, which the kernel
    /// completes over the segments it makes (CHECKSUM_PARTIAL).
    func finishMergedHeaders(_ packet: UnsafeMutableRawBufferPointer, totalLength: Int, pushed: Bool) {
        MergedHeaders.storeIPLength(packet, isIPv6: isIPv6, ipLength: ipLength, totalLength: totalLength)
        if pushed { packet[ipLength + TransportFields.tcpFlags] |= TransportFields.PSH }
        let partial = pseudoHeaderSum(UnsafeRawBufferPointer(packet), length: totalLength - ipLength)
        packet.storeBigEndian16(InternetChecksum.fold(partial), at: ipLength + TransportFields.tcpChecksum)
    }

    private func pseudoHeaderSum(_ packet: UnsafeRawBufferPointer, length: Int) -> UInt32 {
        MergedHeaders.pseudoHeaderSum(packet, isIPv6: isIPv6, protocol: TransportFields.IPPROTO_TCP, length: length)
    }
}
