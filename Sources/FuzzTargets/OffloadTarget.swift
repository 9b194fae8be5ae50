import Tunnel

extension FuzzTargets {
    /// The TUN offload layer: `GSOSegmenter` on a read from an offloading TUN (virtio-net
    /// header and packet, the input as it is), then `TunCoalescer` on what it made, then the
    /// segmenter again on each coalesced write.
    ///
    /// Invariants: a read is rejected with an `OffloadError` or split into packets that fit
    /// their slots; every packet of a GSO read has a valid IPv4 header checksum and TCP/UDP
    /// checksum; every packet lands in exactly one write; and splitting the writes again
    /// gives back exactly the packets they were made of (merging loses nothing and invents
    /// nothing).
    public static func offload(_ bytes: [UInt8]) {
        let buffers = OffloadBuffers.shared
        let slots = buffers.slots, lengths = buffers.slots.lengths, slotCount = buffers.slots.count
        let isGSO = bytes.count >= VirtioNetHeader.byteCount && bytes[1] & ~VirtioNetHeader.VIRTIO_NET_HDR_GSO_ECN != 0
        let count: Int
        do {
            count = try bytes.withUnsafeBytes { read throws(OffloadError) in try GSOSegmenter.segment(read, into: slots) }
        } catch {
            return
        }
        precondition(count >= 1 && count <= slotCount, "segment count out of range")
        let packets = (0..<count).map { index -> [UInt8] in
            precondition(lengths[index] >= 0 && lengths[index] <= slots.packetCapacity, "packet overruns its slot")
            return Array(slots.packet(index))
        }
        if isGSO { packets.forEach(checkChecksums) }

        let coalescer = buffers.coalescer
        let writes: [[UInt8]]
        do {
            let written = try coalescer.coalesce(count: count) { slots.packet($0) }
            writes = (0..<written).map { Array(coalescer.write($0)) }
        } catch {
            preconditionFailure("the coalescer refused packets within its capacity: \(error)")
        }
        precondition((0..<writes.count).reduce(0) { $0 + coalescer.packetCount(ofWrite: $1) } == count,
                     "packets lost or duplicated by coalescing")
        var again: [[UInt8]] = []
        for write in writes {
            do {
                let split = try write.withUnsafeBytes { read throws(OffloadError) in try GSOSegmenter.segment(read, into: slots) }
                again += (0..<split).map { Array(slots.packet($0)) }
            } catch {
                preconditionFailure("a coalesced write does not split again: \(error)")
            }
        }
        precondition(again == packets, "coalescing then splitting changed the packets")
    }

    /// The IPv4 header checksum and the transport checksum of a segment verify.
    private static func checkChecksums(_ packet: [UInt8]) {
        packet.withUnsafeBytes { p in
            let isIPv6 = p[0] >> 4 == 6
            let ipLength = isIPv6 ? 40 : Int(p[0] & 0x0F) * 4
            if !isIPv6 {
                precondition(InternetChecksum.sum(UnsafeRawBufferPointer(rebasing: p[..<ipLength])) == 0xFFFF, "bad IPv4 header checksum")
            }
            let addresses = UnsafeRawBufferPointer(rebasing: isIPv6 ? p[8..<40] : p[12..<20])
            let proto = isIPv6 ? p[6] : p[9]
            let pseudo = InternetChecksum.pseudoHeaderSum(addresses: addresses, protocol: proto, length: p.count - ipLength)
            precondition(InternetChecksum.sum(UnsafeRawBufferPointer(rebasing: p[ipLength...]), initial: pseudo) == 0xFFFF,
                         "bad transport checksum")
        }
    }
}

/// The read slots and the coalescer of the offload target, allocated once and reused by every
/// execution, as the data path reuses its own. Under AddressSanitizer each of their 128 KiB
/// buffers is an mmap, page faults and a munmap: allocated per execution they were half of it.
/// A coalescer that kept state from one batch into the next would now show, as it would on the
/// data path.
private final class OffloadBuffers: @unchecked Sendable {
    // Unchecked: used from one thread at a time (libFuzzer's callback, or one test).
    static let shared = OffloadBuffers()

    let slots: PacketSlots
    let coalescer: TunCoalescer

    private init() {
        let slotCount = 64, stride = 2048, headroom = 16
        let storage = UnsafeMutableRawPointer.allocate(byteCount: slotCount * stride, alignment: 16)
        let lengths = UnsafeMutablePointer<Int>.allocate(capacity: slotCount)
        slots = PacketSlots(base: storage, stride: stride, headroom: headroom, count: slotCount, lengths: lengths)
        coalescer = TunCoalescer(packetCapacity: slotCount, maximumPacketSize: slots.packetCapacity)
    }
}
