/// The IP, TCP and UDP header fields that segmentation and coalescing rewrite, named as in
/// RFC 791 (IPv4), RFC 8200 (IPv6), RFC 9293 (TCP) and RFC 768 (UDP).
enum TransportFields {
    /// IP protocol numbers (IANA): `IPPROTO_TCP`, `IPPROTO_UDP`.
    static let IPPROTO_TCP: UInt8 = 6
    static let IPPROTO_UDP: UInt8 = 17

    /// IPv4: total length, identification, flags and fragment offset, TTL, protocol,
    /// header checksum, then the addresses (source at 12, destination at 16).
    static let ipv4TotalLength = 2
    static let ipv4Identification = 4
    static let ipv4FlagsAndFragment = 6
    static let ipv4TimeToLive = 8
    static let ipv4Protocol = 9
    static let ipv4HeaderChecksum = 10
    static let ipv4Addresses = 12
    /// IPv4 "more fragments" flag and the 13-bit fragment offset.
    static let ipv4FragmentMask: UInt16 = 0x3FFF
    /// IPv6: payload length, next header, hop limit, then the addresses (source at 8,
    /// destination at 24). Extension headers are not offloaded.
    static let ipv6PayloadLength = 4
    static let ipv6NextHeader = 6
    static let ipv6HopLimit = 7
    static let ipv6Addresses = 8
    static let ipv6HeaderLength = 40

    /// TCP: sequence number, acknowledgment number, data offset (high nibble), flags, checksum.
    static let tcpSequence = 4
    static let tcpAcknowledgment = 8
    static let tcpDataOffset = 12
    static let tcpFlags = 13
    static let tcpChecksum = 16
    static let tcpMinimumHeaderLength = 20
    static let tcpMaximumHeaderLength = 60
    /// TCP control bits (RFC 9293 §3.1; CWR and ECE from RFC 3168).
    static let FIN: UInt8 = 0x01
    static let SYN: UInt8 = 0x02
    static let RST: UInt8 = 0x04
    static let PSH: UInt8 = 0x08
    static let ACK: UInt8 = 0x10
    static let URG: UInt8 = 0x20
    static let ECE: UInt8 = 0x40
    static let CWR: UInt8 = 0x80

    /// UDP: length, checksum; the header is 8 bytes.
    static let udpLength = 4
    static let udpChecksum = 6
    static let udpHeaderLength = 8

    /// The largest IPv4 total length or IPv6 payload length: what one write may carry.
    static let maximumIPLength = 65535
}
