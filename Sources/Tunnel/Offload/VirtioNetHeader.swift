/// `struct virtio_net_hdr` from linux/virtio_net.h: the 10 bytes a TUN opened with
/// `IFF_VNET_HDR` puts in front of every packet it reads and expects in front of every
/// packet written to it. It tells whether the packet is a GSO super-packet (one TCP or UDP
/// header for many MTU-sized segments) and where a checksum is still to be completed.
///
/// The fields are `__virtio16`, which for a TUN (no `TUNSETVNETBE`) means the host's order:
/// little-endian on every machine this daemon targets, so they are read and written
/// little-endian explicitly.
package struct VirtioNetHeader: Equatable, Sendable {
    /// `sizeof(struct virtio_net_hdr)`, the kernel's default `TUNSETVNETHDRSZ`.
    package static let byteCount = 10

    /// `VIRTIO_NET_HDR_F_NEEDS_CSUM`: the checksum at `csum_start + csum_offset` holds only
    /// the pseudo-header sum; whoever consumes the packet must complete it over
    /// `csum_start..<end` (CHECKSUM_PARTIAL in the kernel).
    package static let VIRTIO_NET_HDR_F_NEEDS_CSUM: UInt8 = 1
    /// `VIRTIO_NET_HDR_F_DATA_VALID`: the checksum was already verified.
    package static let VIRTIO_NET_HDR_F_DATA_VALID: UInt8 = 2

    /// `VIRTIO_NET_HDR_GSO_NONE`: one ordinary packet.
    package static let VIRTIO_NET_HDR_GSO_NONE: UInt8 = 0
    /// `VIRTIO_NET_HDR_GSO_TCPV4`: an IPv4 TCP super-packet (TSO).
    package static let VIRTIO_NET_HDR_GSO_TCPV4: UInt8 = 1
    /// `VIRTIO_NET_HDR_GSO_UDP`: IPv4 UDP fragmentation offload (UFO); never requested here.
    package static let VIRTIO_NET_HDR_GSO_UDP: UInt8 = 3
    /// `VIRTIO_NET_HDR_GSO_TCPV6`: an IPv6 TCP super-packet (TSO).
    package static let VIRTIO_NET_HDR_GSO_TCPV6: UInt8 = 4
    /// `VIRTIO_NET_HDR_GSO_UDP_L4`: a UDP super-packet cut into datagrams (USO, Linux 6.2),
    /// either IP version. Newer than the machine's linux/virtio_net.h, hence spelled here.
    package static let VIRTIO_NET_HDR_GSO_UDP_L4: UInt8 = 5
    /// `VIRTIO_NET_HDR_GSO_ECN`: or-ed into `gso_type` when the TCP stream uses ECN.
    package static let VIRTIO_NET_HDR_GSO_ECN: UInt8 = 0x80

    /// `flags`: `VIRTIO_NET_HDR_F_*`.
    package var flags: UInt8
    /// `gso_type`: `VIRTIO_NET_HDR_GSO_*`, possibly with `VIRTIO_NET_HDR_GSO_ECN`.
    package var gsoType: UInt8
    /// `hdr_len`: length of the IP and transport headers (a hint: the kernel may set it to
    /// the whole first segment on the forwarding path, so segmentation recomputes it).
    package var headerLength: UInt16
    /// `gso_size`: payload bytes per segment (the MSS for TCP).
    package var gsoSize: UInt16
    /// `csum_start`: offset of the transport header, where checksumming starts.
    package var checksumStart: UInt16
    /// `csum_offset`: offset of the checksum field from `csum_start` (16 for TCP, 6 for UDP).
    package var checksumOffset: UInt16

    /// A header with every field given; the defaults describe a plain packet (GSO_NONE, no
    /// checksum work), which is what a packet that was not coalesced is written with.
    package init(flags: UInt8 = 0, gsoType: UInt8 = VirtioNetHeader.VIRTIO_NET_HDR_GSO_NONE, headerLength: UInt16 = 0,
                 gsoSize: UInt16 = 0, checksumStart: UInt16 = 0, checksumOffset: UInt16 = 0) {
        self.flags = flags
        self.gsoType = gsoType
        self.headerLength = headerLength
        self.gsoSize = gsoSize
        self.checksumStart = checksumStart
        self.checksumOffset = checksumOffset
    }

    /// Decodes the header at the start of `bytes`.
    /// - Throws: ``OffloadError/truncatedVirtioHeader(_:)`` when fewer than 10 bytes are there.
    package init(decoding bytes: UnsafeRawBufferPointer) throws(OffloadError) {
        guard bytes.count >= Self.byteCount else { throw .truncatedVirtioHeader(bytes.count) }
        flags = bytes[0]
        gsoType = bytes[1]
        headerLength = bytes.loadLittleEndian16(at: 2)
        gsoSize = bytes.loadLittleEndian16(at: 4)
        checksumStart = bytes.loadLittleEndian16(at: 6)
        checksumOffset = bytes.loadLittleEndian16(at: 8)
    }

    /// Encodes the header into the first 10 bytes of `bytes`, which must have room for them
    /// (a programmer's mistake otherwise: every caller sizes its buffers with ``byteCount``).
    package func encode(into bytes: UnsafeMutableRawBufferPointer) {
        precondition(bytes.count >= Self.byteCount, "no room for a virtio-net header")
        bytes[0] = flags
        bytes[1] = gsoType
        bytes.storeLittleEndian16(headerLength, at: 2)
        bytes.storeLittleEndian16(gsoSize, at: 4)
        bytes.storeLittleEndian16(checksumStart, at: 6)
        bytes.storeLittleEndian16(checksumOffset, at: 8)
    }

    /// `gso_type` without the ECN bit: which segmentation the packet asks for.
    package var segmentation: UInt8 { gsoType & ~Self.VIRTIO_NET_HDR_GSO_ECN }

    /// Whether `VIRTIO_NET_HDR_F_NEEDS_CSUM` is set.
    package var needsChecksum: Bool { flags & Self.VIRTIO_NET_HDR_F_NEEDS_CSUM != 0 }
}
