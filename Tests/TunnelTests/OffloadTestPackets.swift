import Foundation
@testable import Tunnel

/// Packets for the offload tests, built field by field with checksums from a reference
/// computation that shares no code with the one under test.
struct TestFlow {
    var isIPv6 = false
    var source: [UInt8] = [10, 1, 0, 1]
    var destination: [UInt8] = [10, 1, 0, 2]
    var sourcePort: UInt16 = 40000
    var destinationPort: UInt16 = 5201
    /// TCP options for every packet of the flow (e.g. ``TestFlow/timestamps``), padded to 4.
    var options: [UInt8] = []
    var timeToLive: UInt8 = 64

    static let v6Source: [UInt8] = [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]
    static let v6Destination: [UInt8] = [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]

    static func v6(options: [UInt8] = []) -> TestFlow {
        TestFlow(isIPv6: true, source: v6Source, destination: v6Destination, options: options)
    }

    /// NOP, NOP, timestamp (kind 8, length 10): the 12 option bytes Linux puts on every segment.
    static func timestamps(_ value: UInt32 = 0x0102_0304, echo: UInt32 = 0x0506_0708) -> [UInt8] {
        [1, 1, 8, 10] + bigEndian(value) + bigEndian(echo)
    }
}

func bigEndian(_ value: UInt32) -> [UInt8] {
    [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
}

func bigEndian(_ value: UInt16) -> [UInt8] { [UInt8(value >> 8), UInt8(value & 0xFF)] }

func readBigEndian16(_ bytes: [UInt8], _ offset: Int) -> UInt16 { UInt16(bytes[offset]) << 8 | UInt16(bytes[offset + 1]) }

func readBigEndian32(_ bytes: [UInt8], _ offset: Int) -> UInt32 {
    (0..<4).reduce(0) { $0 << 8 | UInt32(bytes[offset + $1]) }
}

enum Reference {
    /// RFC 1071 the slow way: 16-bit big-endian words one at a time, carries folded at the end.
    static func sum(_ bytes: [UInt8]) -> UInt16 {
        var total = 0
        var i = 0
        while i < bytes.count {
            let high = Int(bytes[i])
            let low = i + 1 < bytes.count ? Int(bytes[i + 1]) : 0
            total += high << 8 | low
            i += 2
        }
        while total > 0xFFFF { total = (total & 0xFFFF) + (total >> 16) }
        return UInt16(total)
    }

    static func checksum(_ bytes: [UInt8]) -> UInt16 { ~sum(bytes) }

    static func pseudoHeader(source: [UInt8], destination: [UInt8], protocol proto: UInt8, length: Int) -> [UInt8] {
        source + destination + (source.count == 4
            ? [0, proto] + bigEndian(UInt16(length))
            : bigEndian(UInt32(length)) + [0, 0, 0, proto])
    }

    /// The IP header length of a plain IPv4/IPv6 packet.
    static func ipLength(_ packet: [UInt8]) -> Int { packet[0] >> 4 == 6 ? 40 : Int(packet[0] & 0x0F) * 4 }

    /// Whether the TCP or UDP checksum of `packet` verifies (pseudo-header included).
    static func transportChecksumIsValid(_ packet: [UInt8]) -> Bool {
        let ip = ipLength(packet)
        let isV6 = packet[0] >> 4 == 6
        let proto = isV6 ? packet[6] : packet[9]
        let addresses = isV6 ? Array(packet[8..<40]) : Array(packet[12..<20])
        let half = addresses.count / 2
        let pseudo = pseudoHeader(source: Array(addresses[..<half]), destination: Array(addresses[half...]),
                                  protocol: proto, length: packet.count - ip)
        return sum(pseudo + Array(packet[ip...])) == 0xFFFF
    }

    static func ipv4HeaderChecksumIsValid(_ packet: [UInt8]) -> Bool {
        sum(Array(packet[..<ipLength(packet)])) == 0xFFFF
    }
}

enum TestPackets {
    /// A TCP packet of `flow` with a valid checksum (or, with `partialChecksum`, the
    /// pseudo-header sum only, as the kernel hands over a `NEEDS_CSUM` packet).
    static func tcp(_ flow: TestFlow, sequence: UInt32, acknowledgment: UInt32 = 0x1000, flags: UInt8 = 0x10,
                    payload: [UInt8], identification: UInt16 = 0x4242, window: UInt16 = 502,
                    partialChecksum: Bool = false, corruptChecksum: Bool = false) -> [UInt8] {
        var options = flow.options
        while options.count % 4 != 0 { options.append(0) }
        var tcp = bigEndian(flow.sourcePort) + bigEndian(flow.destinationPort) + bigEndian(sequence) + bigEndian(acknowledgment)
        tcp += [UInt8((20 + options.count) / 4) << 4, flags] + bigEndian(window) + [0, 0, 0, 0] + options
        let segment = tcp + payload
        return finish(flow, transport: segment, protocol: 6, checksumAt: 16, identification: identification,
                      partialChecksum: partialChecksum, corruptChecksum: corruptChecksum)
    }

    /// A UDP datagram of `flow`.
    static func udp(_ flow: TestFlow, payload: [UInt8], identification: UInt16 = 0x4242, partialChecksum: Bool = false) -> [UInt8] {
        let datagram = bigEndian(flow.sourcePort) + bigEndian(flow.destinationPort) + bigEndian(UInt16(8 + payload.count))
            + [0, 0] + payload
        return finish(flow, transport: datagram, protocol: 17, checksumAt: 6, identification: identification,
                      partialChecksum: partialChecksum, corruptChecksum: false)
    }

    private static func finish(_ flow: TestFlow, transport: [UInt8], protocol proto: UInt8, checksumAt: Int,
                               identification: UInt16, partialChecksum: Bool, corruptChecksum: Bool) -> [UInt8] {
        var transport = transport
        let pseudo = Reference.pseudoHeader(source: flow.source, destination: flow.destination, protocol: proto, length: transport.count)
        var checksum = partialChecksum ? Reference.sum(pseudo) : Reference.checksum(pseudo + transport)
        if proto == 17 && !partialChecksum && checksum == 0 { checksum = 0xFFFF }
        if corruptChecksum { checksum ^= 0x5555 }
        transport[checksumAt] = UInt8(checksum >> 8)
        transport[checksumAt + 1] = UInt8(checksum & 0xFF)
        if flow.isIPv6 {
            return [0x60, 0, 0, 0] + bigEndian(UInt16(transport.count)) + [proto, flow.timeToLive] + flow.source + flow.destination
                + transport
        }
        var ip: [UInt8] = [0x45, 0] + bigEndian(UInt16(20 + transport.count)) + bigEndian(identification) + [0x40, 0]
        ip += [flow.timeToLive, proto, 0, 0] + flow.source + flow.destination
        let headerChecksum = Reference.checksum(ip)
        ip[10] = UInt8(headerChecksum >> 8)
        ip[11] = UInt8(headerChecksum & 0xFF)
        return ip + transport
    }

    /// A super-packet as an offloading TUN reads it: virtio-net header (`NEEDS_CSUM`, the
    /// TCP GSO type of the flow's family, `gso_size`) and one TCP packet carrying `payload`
    /// whole, its checksum field holding the pseudo-header sum.
    static func tcpSuperPacket(_ flow: TestFlow, sequence: UInt32, flags: UInt8 = 0x18, payload: [UInt8], gsoSize: Int,
                               identification: UInt16 = 0x4242) -> [UInt8] {
        let packet = tcp(flow, sequence: sequence, flags: flags, payload: payload, identification: identification,
                         partialChecksum: true)
        let ip = flow.isIPv6 ? 40 : 20
        let header = VirtioNetHeader(
            flags: VirtioNetHeader.VIRTIO_NET_HDR_F_NEEDS_CSUM,
            gsoType: flow.isIPv6 ? VirtioNetHeader.VIRTIO_NET_HDR_GSO_TCPV6 : VirtioNetHeader.VIRTIO_NET_HDR_GSO_TCPV4,
            headerLength: UInt16(packet.count - payload.count), gsoSize: UInt16(gsoSize),
            checksumStart: UInt16(ip), checksumOffset: 16)
        return encode(header) + packet
    }

    /// A UDP super-packet (`GSO_UDP_L4`).
    static func udpSuperPacket(_ flow: TestFlow, payload: [UInt8], gsoSize: Int) -> [UInt8] {
        let packet = udp(flow, payload: payload, partialChecksum: true)
        let ip = flow.isIPv6 ? 40 : 20
        let header = VirtioNetHeader(
            flags: VirtioNetHeader.VIRTIO_NET_HDR_F_NEEDS_CSUM, gsoType: VirtioNetHeader.VIRTIO_NET_HDR_GSO_UDP_L4,
            headerLength: UInt16(ip + 8), gsoSize: UInt16(gsoSize), checksumStart: UInt16(ip), checksumOffset: 6)
        return encode(header) + packet
    }

    static func encode(_ header: VirtioNetHeader) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: VirtioNetHeader.byteCount)
        bytes.withUnsafeMutableBytes { header.encode(into: $0) }
        return bytes
    }

    /// `count` bytes of a recognisable pattern starting at `start`.
    static func payload(_ count: Int, start: Int = 0) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: ($0 + start) &* 7 &+ ($0 + start) >> 8) }
    }
}

/// Preallocated output slots for segmentation, like the runtime's batch.
final class TestSlots {
    let storage: UnsafeMutableRawBufferPointer
    let lengths: UnsafeMutablePointer<Int>
    let slots: PacketSlots

    init(count: Int, stride: Int = 2048, headroom: Int = 16) {
        storage = .allocate(byteCount: count * stride, alignment: 16)
        storage.initializeMemory(as: UInt8.self, repeating: 0xEE)
        lengths = .allocate(capacity: max(count, 1))
        lengths.initialize(repeating: -1, count: max(count, 1))
        slots = PacketSlots(base: storage.baseAddress!, stride: stride, headroom: headroom, count: count, lengths: lengths)
    }

    deinit {
        storage.deallocate()
        lengths.deallocate()
    }

    /// Segments `read` and returns the packets as arrays.
    func segment(_ read: [UInt8]) throws -> [[UInt8]] {
        let count = try read.withUnsafeBytes { bytes throws(OffloadError) in try GSOSegmenter.segment(bytes, into: slots) }
        return (0..<count).map { Array(slots.packet($0)) }
    }
}

extension TunCoalescer {
    /// Coalesces `packets` and returns the writes as arrays.
    func coalesce(_ packets: [[UInt8]]) throws -> [[UInt8]] {
        // Keep every input alive and addressable for the duration of the call.
        let buffers = packets.map { bytes -> UnsafeMutableRawBufferPointer in
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 1), alignment: 1)
            buffer.copyBytes(from: bytes)
            return buffer
        }
        defer { buffers.forEach { $0.deallocate() } }
        let count = try coalesce(count: packets.count) { UnsafeRawBufferPointer(rebasing: buffers[$0][..<packets[$0].count]) }
        return (0..<count).map { Array(write($0)) }
    }
}

func decodeHeader(_ write: [UInt8]) throws -> VirtioNetHeader {
    try write.withUnsafeBytes { bytes throws(OffloadError) in try VirtioNetHeader(decoding: bytes) }
}

/// SplitMix64, so that the randomized offload tests replay exactly.
struct OffloadRandom: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
