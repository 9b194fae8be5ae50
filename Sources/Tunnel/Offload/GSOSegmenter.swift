/// Segmentation of what an offloading TUN hands over (TSO/USO done in userspace, before
/// encryption): a TCP or UDP super-packet of up to 64 KB behind a virtio-net header is cut
/// into MTU-sized IP packets, each with its own IP header (IPv4 total length, identification
/// and header checksum; IPv6 payload length), TCP sequence number and flags or UDP length,
/// and a transport checksum computed in full. A plain packet whose checksum the kernel left
/// partial (`NEEDS_CSUM` with `GSO_NONE`) gets it completed.
///
/// The kernel's `hdr_len` is not trusted (on the forwarding path it may span the whole first
/// segment): the header length is recomputed from the IP and TCP headers, as wireguard-go does.
package enum GSOSegmenter {
    /// The largest read from an offloading TUN: a virtio-net header and a 64 KB IP packet.
    package static let maximumReadSize = VirtioNetHeader.byteCount + TransportFields.maximumIPLength

    /// Splits one read (`VirtioNetHeader` then the packet) into `slots`, one IP packet per
    /// slot from slot 0, and returns how many slots it filled. Copies every byte once and
    /// sums every transport byte once; allocates nothing.
    /// - Throws: ``OffloadError`` for a malformed or unsupported read, or when the segments
    ///   do not fit in `slots`; nothing usable is left in the slots then.
    package static func segment(_ read: UnsafeRawBufferPointer, into slots: PacketSlots) throws(OffloadError) -> Int {
        let header = try VirtioNetHeader(decoding: read)
        let packet = UnsafeRawBufferPointer(rebasing: read[VirtioNetHeader.byteCount...])
        if header.segmentation == VirtioNetHeader.VIRTIO_NET_HDR_GSO_NONE {
            guard slots.count >= 1 else { throw .tooManySegments(needed: 1, available: 0) }
            guard packet.count <= slots.packetCapacity else { throw .packetTooLarge(packet.count) }
            let out = UnsafeMutableRawBufferPointer(rebasing: slots.packetArea(0)[..<packet.count])
            out.copyMemory(from: packet)
            if header.needsChecksum { try completeChecksum(out, header: header) }
            slots.lengths[0] = packet.count
            return 1
        }
        let layout = try SegmentLayout(packet, header)
        guard layout.segmentCount <= slots.count else {
            throw .tooManySegments(needed: layout.segmentCount, available: slots.count)
        }
        let largest = layout.headersLength + min(layout.gsoSize, layout.payloadLength)
        guard largest <= slots.packetCapacity else { throw .packetTooLarge(largest) }
        for index in 0..<layout.segmentCount {
            slots.lengths[index] = writeSegment(index, of: packet, layout, into: slots.packetArea(index))
        }
        return layout.segmentCount
    }

    /// Completes a checksum the kernel left partial (`VIRTIO_NET_HDR_F_NEEDS_CSUM`): the
    /// field at `csum_start + csum_offset` holds the pseudo-header sum, so the checksum is
    /// the complement of the sum from `csum_start` to the end, field included. In place, for
    /// a runtime that read a plain packet straight into its slot.
    /// - Throws: ``OffloadError/checksumOffsetOutOfRange(start:offset:)`` when the field is
    ///   not inside `packet`.
    package static func completeChecksum(_ packet: UnsafeMutableRawBufferPointer, header: VirtioNetHeader) throws(OffloadError) {
        let start = Int(header.checksumStart)
        let field = start + Int(header.checksumOffset)
        guard field + 2 <= packet.count else {
            throw .checksumOffsetOutOfRange(start: header.checksumStart, offset: header.checksumOffset)
        }
        let checksum = InternetChecksum.checksum(UnsafeRawBufferPointer(rebasing: packet[start...]))
        // A UDP checksum of 0 means "none" (RFC 768): the kernel writes 0xFFFF instead
        // (CSUM_MANGLED_0), which TCP reads as the same ones'-complement value.
        packet.storeBigEndian16(checksum == 0 ? 0xFFFF : checksum, at: field)
    }

    /// Writes segment `index` into `out`; returns its length.
    private static func writeSegment(_ index: Int, of packet: UnsafeRawBufferPointer, _ layout: SegmentLayout,
                                     into out: UnsafeMutableRawBufferPointer) -> Int {
        let ip = layout.ipLength
        let headers = layout.headersLength
        let payloadStart = headers + index * layout.gsoSize
        let payloadLength = min(layout.gsoSize, layout.payloadLength - index * layout.gsoSize)
        let total = headers + payloadLength
        let isLast = index == layout.segmentCount - 1

        UnsafeMutableRawBufferPointer(rebasing: out[..<headers]).copyMemory(from: UnsafeRawBufferPointer(rebasing: packet[..<headers]))
        UnsafeMutableRawBufferPointer(rebasing: out[headers..<total])
            .copyMemory(from: UnsafeRawBufferPointer(rebasing: packet[payloadStart..<payloadStart + payloadLength]))

        if layout.isIPv6 {
            out.storeBigEndian16(UInt16(total - ip), at: TransportFields.ipv6PayloadLength)
        } else {
            // Consecutive identifications, as the kernel's own GSO gives its segments.
            let identification = packet.loadBigEndian16(at: TransportFields.ipv4Identification) &+ UInt16(truncatingIfNeeded: index)
            out.storeBigEndian16(UInt16(total), at: TransportFields.ipv4TotalLength)
            out.storeBigEndian16(identification, at: TransportFields.ipv4Identification)
            out.storeBigEndian16(0, at: TransportFields.ipv4HeaderChecksum)
            let checksum = InternetChecksum.checksum(UnsafeRawBufferPointer(rebasing: out[..<ip]))
            out.storeBigEndian16(checksum, at: TransportFields.ipv4HeaderChecksum)
        }

        let checksumField: Int
        if layout.isTCP {
            let sequence = packet.loadBigEndian32(at: ip + TransportFields.tcpSequence)
                &+ UInt32(truncatingIfNeeded: index * layout.gsoSize)
            out.storeBigEndian32(sequence, at: ip + TransportFields.tcpSequence)
            // As tcp_gso_segment: FIN and PSH belong to the last segment, CWR to the first.
            var flags = packet[ip + TransportFields.tcpFlags]
            if !isLast { flags &= ~(TransportFields.FIN | TransportFields.PSH) }
            if index > 0 { flags &= ~TransportFields.CWR }
            out[ip + TransportFields.tcpFlags] = flags
            checksumField = ip + TransportFields.tcpChecksum
        } else {
            out.storeBigEndian16(UInt16(total - ip), at: ip + TransportFields.udpLength)
            checksumField = ip + TransportFields.udpChecksum
        }
        out.storeBigEndian16(0, at: checksumField)
        let pseudo = layout.addressSum + UInt32(layout.transportProtocol) + UInt32(total - ip)
        let checksum = InternetChecksum.checksum(UnsafeRawBufferPointer(rebasing: out[ip..<total]), initial: pseudo)
        out.storeBigEndian16(!layout.isTCP && checksum == 0 ? 0xFFFF : checksum, at: checksumField)
        return total
    }
}

/// Where the headers of a GSO super-packet end and how its payload divides, checked once
/// before any segment is written.
struct SegmentLayout {
    let isIPv6: Bool
    let isTCP: Bool
    let transportProtocol: UInt8
    let ipLength: Int
    let headersLength: Int
    let payloadLength: Int
    let gsoSize: Int
    let segmentCount: Int
    /// Ones'-complement sum of source and destination address, shared by every segment's
    /// pseudo-header.
    let addressSum: UInt32

    init(_ packet: UnsafeRawBufferPointer, _ header: VirtioNetHeader) throws(OffloadError) {
        let type = header.segmentation
        let isTCP: Bool
        switch type {
        case VirtioNetHeader.VIRTIO_NET_HDR_GSO_TCPV4, VirtioNetHeader.VIRTIO_NET_HDR_GSO_TCPV6: isTCP = true
        case VirtioNetHeader.VIRTIO_NET_HDR_GSO_UDP_L4: isTCP = false
        default: throw .unsupportedSegmentation(header.gsoType)
        }
        guard let first = packet.first else { throw .malformedIPHeader }
        let version = first >> 4
        let transportProtocol = isTCP ? TransportFields.IPPROTO_TCP : TransportFields.IPPROTO_UDP
        let ipLength: Int
        switch version {
        case 4:
            guard type != VirtioNetHeader.VIRTIO_NET_HDR_GSO_TCPV6 else { throw .ipVersionMismatch(version: version, gsoType: type) }
            ipLength = Int(first & 0x0F) * 4
            guard ipLength >= 20, packet.count >= ipLength else { throw .malformedIPHeader }
            guard packet[TransportFields.ipv4Protocol] == transportProtocol else {
                throw .transportMismatch(packet[TransportFields.ipv4Protocol])
            }
        case 6:
            guard type != VirtioNetHeader.VIRTIO_NET_HDR_GSO_TCPV4 else { throw .ipVersionMismatch(version: version, gsoType: type) }
            ipLength = TransportFields.ipv6HeaderLength
            guard packet.count >= ipLength else { throw .malformedIPHeader }
            guard packet[TransportFields.ipv6NextHeader] == transportProtocol else {
                throw .transportMismatch(packet[TransportFields.ipv6NextHeader])
            }
        default:
            throw .ipVersionMismatch(version: version, gsoType: type)
        }
        guard Int(header.checksumStart) == ipLength else { throw .checksumStartMismatch(header.checksumStart) }
        let expectedOffset = isTCP ? TransportFields.tcpChecksum : TransportFields.udpChecksum
        guard Int(header.checksumOffset) == expectedOffset else {
            throw .checksumOffsetOutOfRange(start: header.checksumStart, offset: header.checksumOffset)
        }
        let transportLength: Int
        if isTCP {
            guard packet.count >= ipLength + TransportFields.tcpMinimumHeaderLength else { throw .malformedTransportHeader }
            transportLength = Int(packet[ipLength + TransportFields.tcpDataOffset] >> 4) * 4
            guard transportLength >= TransportFields.tcpMinimumHeaderLength,
                  packet.count >= ipLength + transportLength
            else { throw .malformedTransportHeader }
        } else {
            transportLength = TransportFields.udpHeaderLength
            guard packet.count >= ipLength + transportLength else { throw .malformedTransportHeader }
        }
        guard Int(header.headerLength) <= packet.count else {
            throw .headerLengthBeyondPacket(headerLength: header.headerLength, packetLength: packet.count)
        }
        guard header.gsoSize > 0 else { throw .zeroSegmentSize }
        guard packet.count <= TransportFields.maximumIPLength else { throw .packetTooLarge(packet.count) }

        self.isIPv6 = version == 6
        self.isTCP = isTCP
        self.transportProtocol = transportProtocol
        self.ipLength = ipLength
        headersLength = ipLength + transportLength
        payloadLength = packet.count - headersLength
        gsoSize = Int(header.gsoSize)
        segmentCount = payloadLength == 0 ? 1 : (payloadLength + gsoSize - 1) / gsoSize
        let addresses = isIPv6
            ? packet[TransportFields.ipv6Addresses..<TransportFields.ipv6Addresses + 32]
            : packet[TransportFields.ipv4Addresses..<TransportFields.ipv4Addresses + 8]
        addressSum = UInt32(InternetChecksum.sum(UnsafeRawBufferPointer(rebasing: addresses)))
    }
}
