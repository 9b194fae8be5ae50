/// Why a packet read from (or bound for) an offloading TUN could not be split or merged.
/// Every case is bad input, never a crash: the runtime drops the packet and counts it.
package enum OffloadError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Fewer than the 10 bytes of a virtio-net header were read.
    case truncatedVirtioHeader(Int)
    /// `gso_type` names a segmentation this layer does not perform (e.g. UFO).
    case unsupportedSegmentation(UInt8)
    /// The IP version does not match the GSO type, or is neither 4 nor 6.
    case ipVersionMismatch(version: UInt8, gsoType: UInt8)
    /// The IP header is cut short, or its header length field is out of range.
    case malformedIPHeader
    /// The IP protocol / next header is not the transport the GSO type says.
    case transportMismatch(UInt8)
    /// `csum_start` is not where the transport header begins.
    case checksumStartMismatch(UInt16)
    /// `csum_start + csum_offset` (plus the 2 bytes of the field) lies beyond the packet, or
    /// `csum_offset` is not the checksum field of the transport.
    case checksumOffsetOutOfRange(start: UInt16, offset: UInt16)
    /// The TCP data offset is below 20 or above 60, or the transport header is cut short.
    case malformedTransportHeader
    /// `hdr_len` claims more header bytes than the packet holds.
    case headerLengthBeyondPacket(headerLength: UInt16, packetLength: Int)
    /// A GSO packet with `gso_size` 0.
    case zeroSegmentSize
    /// The super-packet needs more output slots than were given.
    case tooManySegments(needed: Int, available: Int)
    /// A packet or segment does not fit in an output slot or the coalescer's storage.
    case packetTooLarge(Int)
    /// More packets than the coalescer was built for.
    case batchTooLarge(Int)

    package var description: String {
        switch self {
        case .truncatedVirtioHeader(let count): "virtio-net header cut short (\(count) bytes)"
        case .unsupportedSegmentation(let type): "unsupported GSO type \(type)"
        case .ipVersionMismatch(let version, let type): "IP version \(version) with GSO type \(type)"
        case .malformedIPHeader: "malformed IP header"
        case .transportMismatch(let proto): "IP protocol \(proto) does not match the GSO type"
        case .checksumStartMismatch(let start): "csum_start \(start) is not the transport header"
        case .checksumOffsetOutOfRange(let start, let offset): "checksum at \(start)+\(offset) out of range"
        case .malformedTransportHeader: "malformed TCP/UDP header"
        case .headerLengthBeyondPacket(let header, let packet): "hdr_len \(header) beyond the \(packet)-byte packet"
        case .zeroSegmentSize: "GSO packet with gso_size 0"
        case .tooManySegments(let needed, let available): "\(needed) segments for \(available) slots"
        case .packetTooLarge(let count): "\(count)-byte packet does not fit"
        case .batchTooLarge(let count): "batch of \(count) packets exceeds the coalescer's capacity"
        }
    }
}
