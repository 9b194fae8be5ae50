/// The IP-level header work that TCP and UDP coalescing share: the pseudo-header sum a
/// transport checksum starts from, the IP lengths (and IPv4 header checksum) of a merged
/// packet, and byte comparisons of header fields between two packets of one flow.
enum MergedHeaders {
    /// The pseudo-header sum (addresses, protocol, transport length) of the packet at the
    /// front of `packet`, unfolded.
    @inline(__always)
    static func pseudoHeaderSum(_ packet: UnsafeRawBufferPointer, isIPv6: Bool, protocol: UInt8, length: Int) -> UInt32 {
        let addresses = isIPv6
            ? packet[TransportFields.ipv6Addresses..<TransportFields.ipv6Addresses + 32]
            : packet[TransportFields.ipv4Addresses..<TransportFields.ipv4Addresses + 8]
        return InternetChecksum.pseudoHeaderSum(
            addresses: UnsafeRawBufferPointer(rebasing: addresses), protocol: `protocol`, length: length)
    }

    /// Sets the IP length fields for a packet of `totalLength` bytes whose IP header is
    /// `ipLength` long, and recomputes the IPv4 header checksum.
    @inline(__always)
    static func storeIPLength(_ packet: UnsafeMutableRawBufferPointer, isIPv6: Bool, ipLength: Int, totalLength: Int) {
        if isIPv6 {
            packet.storeBigEndian16(UInt16(totalLength - ipLength), at: TransportFields.ipv6PayloadLength)
        } else {
            packet.storeBigEndian16(UInt16(totalLength), at: TransportFields.ipv4TotalLength)
            packet.storeBigEndian16(0, at: TransportFields.ipv4HeaderChecksum)
            let checksum = InternetChecksum.checksum(UnsafeRawBufferPointer(rebasing: packet[..<ipLength]))
            packet.storeBigEndian16(checksum, at: TransportFields.ipv4HeaderChecksum)
        }
    }

    /// Whether `a` and `b` hold the same bytes over `range`.
    @inline(__always)
    static func bytesEqual(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer, _ range: Range<Int>) -> Bool {
        for i in range where a[i] != b[i] { return false }
        return true
    }
}
