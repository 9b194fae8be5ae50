/// Coalescing at the TUN boundary (GRO in userspace, after decryption): consecutive TCP
/// segments of one flow in a vector of plain IP packets become one large packet behind a
/// virtio-net header (`GSO_TCPV4`/`GSO_TCPV6`, `NEEDS_CSUM`), so the kernel takes a whole
/// run with one `write(2)` and one trip up its stack; where the TUN took USO
/// (`TUN_F_USO4`/`TUN_F_USO6`), consecutive UDP datagrams of one flow likewise become one
/// `GSO_UDP_L4` packet. Every other packet is passed through behind a `GSO_NONE` header, as
/// an offloading TUN requires of every write.
///
/// A UDP datagram joins the newest run of its flow when it has the run's IP header fields
/// (as for TCP), a payload no longer than the run's first, the run has not ended with a
/// shorter one, and the run stays within 64 segments (the kernel's `UDP_MAX_SEGMENTS`) and
/// 64 KB. Datagrams without a UDP checksum (IPv4, 0) pass alone.
///
/// A packet joins a run when it has the run's 5-tuple, acknowledgment number, IP header
/// fields (ToS/traffic class, TTL/hop limit, DF; the whole first word for IPv6) and TCP
/// options, carries the next sequence number, is no longer than the run's segments, and
/// only ACK (or ACK+PSH) is set; a shorter segment or PSH ends the run, and SYN, RST, FIN,
/// URG or anything else makes a packet pass alone. A packet only ever joins the newest run
/// of its flow, so the packets of one flow keep their order. With checksum verification on
/// (the default), each merged segment's TCP checksum is checked first, because the kernel
/// trusts a `NEEDS_CSUM` packet and would otherwise accept a corrupted segment.
///
/// One instance per writer thread: the writes live in storage the coalescer owns and
/// reuses for every vector, sized at init for `packetCapacity` packets of at most
/// `maximumPacketSize` bytes. Nothing is allocated per packet or per vector.
package final class TunCoalescer {
    /// The most packets one ``coalesce(count:packet:)`` call takes.
    package let packetCapacity: Int
    /// The longest input packet.
    package let maximumPacketSize: Int
    /// Whether segments are checksum-verified before they are merged.
    package let verifiesChecksums: Bool
    /// Whether IPv4 and IPv6 UDP datagrams are merged (the TUN took `TUN_F_USO4`/`TUN_F_USO6`).
    package let coalescesUDPv4: Bool
    package let coalescesUDPv6: Bool
    /// How many writes the last ``coalesce(count:packet:)`` produced.
    package private(set) var writeCount = 0

    private let storage: UnsafeMutableRawBufferPointer
    private let inputs: UnsafeMutablePointer<UnsafeRawBufferPointer>
    /// The next packet of the same run, or -1: runs are linked lists through the inputs.
    private let successor: UnsafeMutablePointer<Int>
    private let runs: UnsafeMutablePointer<CoalescingRun>
    private let writeOffsets: UnsafeMutablePointer<Int>
    private let writeLengths: UnsafeMutablePointer<Int>

    /// Preallocates room for `packetCapacity` packets of up to `maximumPacketSize` bytes
    /// each, plus a virtio-net header per write: about `packetCapacity × maximumPacketSize`.
    /// UDP datagrams are merged for the families `offloads` has USO for (none by default:
    /// a TUN that refused USO takes no `GSO_UDP_L4` packet).
    package init(packetCapacity: Int, maximumPacketSize: Int, verifiesChecksums: Bool = true, offloads: TunOffloads = .tcp) {
        precondition(packetCapacity > 0 && maximumPacketSize > 0, "coalescer capacity must be positive")
        self.packetCapacity = packetCapacity
        self.maximumPacketSize = maximumPacketSize
        self.verifiesChecksums = verifiesChecksums
        coalescesUDPv4 = offloads.contains(.TUN_F_USO4)
        coalescesUDPv6 = offloads.contains(.TUN_F_USO6)
        storage = .allocate(byteCount: packetCapacity * (maximumPacketSize + VirtioNetHeader.byteCount), alignment: 16)
        inputs = .allocate(capacity: packetCapacity)
        inputs.initialize(repeating: UnsafeRawBufferPointer(start: nil, count: 0), count: packetCapacity)
        successor = .allocate(capacity: packetCapacity)
        successor.initialize(repeating: -1, count: packetCapacity)
        runs = .allocate(capacity: packetCapacity)
        runs.initialize(repeating: CoalescingRun(), count: packetCapacity)
        writeOffsets = .allocate(capacity: packetCapacity)
        writeOffsets.initialize(repeating: 0, count: packetCapacity)
        writeLengths = .allocate(capacity: packetCapacity)
        writeLengths.initialize(repeating: 0, count: packetCapacity)
    }

    deinit {
        storage.deallocate()
        inputs.deallocate()
        successor.deallocate()
        runs.deallocate()
        writeOffsets.deallocate()
        writeLengths.deallocate()
    }

    /// Coalesces packets `packet(0)..<packet(count)` (each an exact IP packet) into writes,
    /// returned by ``write(_:)`` for `0..<writeCount`; returns `writeCount`. Every input
    /// ends up in exactly one write. The inputs are only read, and only during this call.
    /// Costs one copy of every byte and, with verification, one checksum pass over merged
    /// packets. Invalidates the previous call's writes.
    /// - Throws: ``OffloadError/batchTooLarge(_:)`` or ``OffloadError/packetTooLarge(_:)``
    ///   when the vector exceeds the capacity given at init; no write is produced then.
    package func coalesce(count: Int, packet: (Int) -> UnsafeRawBufferPointer) throws(OffloadError) -> Int {
        writeCount = 0
        guard count <= packetCapacity else { throw .batchTooLarge(count) }
        for index in 0..<count {
            let input = packet(index)
            guard input.count <= maximumPacketSize else { throw .packetTooLarge(input.count) }
            inputs[index] = input
            successor[index] = -1
        }
        var runCount = 0
        for index in 0..<count {
            if let segment = TCPSegmentInfo(inputs[index]) {
                if appendToNewestRun(of: segment, index, runCount) { continue }
                runs[runCount] = CoalescingRun(first: index, segment: segment)
            } else if coalescesUDPv4 || coalescesUDPv6, let datagram = UDPDatagramInfo(inputs[index]),
                      datagram.isIPv6 ? coalescesUDPv6 : coalescesUDPv4 {
                if appendToNewestRun(of: datagram, index, runCount) { continue }
                runs[runCount] = CoalescingRun(first: index, datagram: datagram)
            } else {
                runs[runCount] = CoalescingRun(first: index, segment: nil)
            }
            runCount += 1
        }
        var cursor = 0
        for run in 0..<runCount {
            writeOffsets[run] = cursor
            writeLengths[run] = lay(runs[run], at: cursor)
            cursor += writeLengths[run]
        }
        writeCount = runCount
        return runCount
    }

    /// Write `index` of the last ``coalesce(count:packet:)``: a virtio-net header and one IP
    /// packet, to hand to the TUN in one `write(2)`. Valid until the next call.
    package func write(_ index: Int) -> UnsafeRawBufferPointer {
        precondition(index >= 0 && index < writeCount, "no such write")
        return UnsafeRawBufferPointer(start: storage.baseAddress! + writeOffsets[index], count: writeLengths[index])
    }

    /// How many input packets write `index` carries (1 for a packet passed alone).
    package func packetCount(ofWrite index: Int) -> Int {
        precondition(index >= 0 && index < writeCount, "no such write")
        return runs[index].packets
    }

    /// Finds the newest run of `segment`'s flow and appends the packet to it if it fits
    /// there; false when the packet must start a run of its own.
    private func appendToNewestRun(of segment: TCPSegmentInfo, _ index: Int, _ runCount: Int) -> Bool {
        var candidate = runCount - 1
        while candidate >= 0 {
            if let head = runs[candidate].segment, head.flowHash == segment.flowHash,
               head.sameFlow(inputs[runs[candidate].first], segment, inputs[index]) {
                break
            }
            candidate -= 1
        }
        guard candidate >= 0 else { return false }
        var run = runs[candidate]
        guard segment.mergeable, run.open, let head = run.segment, head.canPrecede(inputs[run.first], segment, inputs[index]),
              segment.sequence == run.nextSequence, segment.payloadLength <= head.payloadLength,
              run.totalLength + segment.payloadLength <= TransportFields.maximumIPLength
        else { return false }
        // Checked only once a merge is at hand: a packet that passes alone is verified by
        // the kernel itself.
        if run.packets == 1, !verifies(head, run.first) {
            runs[candidate].open = false
            return false
        }
        guard verifies(segment, index) else { return false }
        successor[run.last] = index
        run.last = index
        run.packets += 1
        run.totalLength += segment.payloadLength
        run.nextSequence = segment.sequence &+ UInt32(segment.payloadLength)
        run.pushed = segment.pushed
        if segment.pushed || segment.payloadLength < head.payloadLength { run.open = false }
        runs[candidate] = run
        return true
    }

    /// The UDP counterpart: the newest run of `datagram`'s flow takes it if it fits there.
    private func appendToNewestRun(of datagram: UDPDatagramInfo, _ index: Int, _ runCount: Int) -> Bool {
        var candidate = runCount - 1
        while candidate >= 0 {
            if let head = runs[candidate].datagram, head.flowHash == datagram.flowHash,
               head.sameFlow(inputs[runs[candidate].first], datagram, inputs[index]) {
                break
            }
            candidate -= 1
        }
        guard candidate >= 0 else { return false }
        var run = runs[candidate]
        guard run.open, let head = run.datagram, head.canPrecede(inputs[run.first], inputs[index]),
              datagram.payloadLength <= head.payloadLength, run.packets < Self.UDP_MAX_SEGMENTS,
              run.totalLength + datagram.payloadLength <= TransportFields.maximumIPLength
        else { return false }
        if run.packets == 1, verifiesChecksums, !head.checksumIsValid(inputs[run.first]) {
            runs[candidate].open = false
            return false
        }
        guard !verifiesChecksums || datagram.checksumIsValid(inputs[index]) else { return false }
        successor[run.last] = index
        run.last = index
        run.packets += 1
        run.totalLength += datagram.payloadLength
        // Nothing may follow a shorter datagram: the kernel cuts at the first one's size.
        if datagram.payloadLength < head.payloadLength { run.open = false }
        runs[candidate] = run
        return true
    }

    /// The most segments the kernel makes of one UDP super-packet (`UDP_MAX_SEGMENTS`,
    /// include/linux/udp.h).
    static let UDP_MAX_SEGMENTS = 64

    private func verifies(_ segment: TCPSegmentInfo, _ index: Int) -> Bool {
        !verifiesChecksums || segment.checksumIsValid(inputs[index])
    }

    /// Writes `run` (header and packet) at `offset` of the storage; returns its length.
    private func lay(_ run: CoalescingRun, at offset: Int) -> Int {
        let out = UnsafeMutableRawBufferPointer(rebasing: storage[offset...])
        let firstPacket = inputs[run.first]
        let packetArea = UnsafeMutableRawBufferPointer(rebasing: out[VirtioNetHeader.byteCount...])
        UnsafeMutableRawBufferPointer(rebasing: packetArea[..<firstPacket.count]).copyMemory(from: firstPacket)
        guard run.packets > 1 else {
            VirtioNetHeader().encode(into: out)
            return VirtioNetHeader.byteCount + firstPacket.count
        }
        if let datagram = run.datagram { return layDatagrams(run, datagram, out) }
        guard let head = run.segment else { preconditionFailure("a merged run is TCP or UDP") }
        var end = firstPacket.count
        var next = successor[run.first]
        while next >= 0 {
            let payload = UnsafeRawBufferPointer(rebasing: inputs[next][head.headersLength...])
            UnsafeMutableRawBufferPointer(rebasing: packetArea[end..<end + payload.count]).copyMemory(from: payload)
            end += payload.count
            next = successor[next]
        }
        head.finishMergedHeaders(packetArea, totalLength: end, pushed: run.pushed)
        VirtioNetHeader(
            flags: VirtioNetHeader.VIRTIO_NET_HDR_F_NEEDS_CSUM,
            gsoType: head.isIPv6 ? VirtioNetHeader.VIRTIO_NET_HDR_GSO_TCPV6 : VirtioNetHeader.VIRTIO_NET_HDR_GSO_TCPV4,
            headerLength: UInt16(head.headersLength), gsoSize: UInt16(head.payloadLength),
            checksumStart: UInt16(head.ipLength), checksumOffset: UInt16(TransportFields.tcpChecksum)
        ).encode(into: out)
        return VirtioNetHeader.byteCount + end
    }

    /// ``lay(_:at:)`` for a merged UDP run whose first packet is already in place.
    private func layDatagrams(_ run: CoalescingRun, _ head: UDPDatagramInfo, _ out: UnsafeMutableRawBufferPointer) -> Int {
        let packetArea = UnsafeMutableRawBufferPointer(rebasing: out[VirtioNetHeader.byteCount...])
        var end = inputs[run.first].count
        var next = successor[run.first]
        while next >= 0 {
            let payload = UnsafeRawBufferPointer(rebasing: inputs[next][head.headersLength...])
            UnsafeMutableRawBufferPointer(rebasing: packetArea[end..<end + payload.count]).copyMemory(from: payload)
            end += payload.count
            next = successor[next]
        }
        head.finishMergedHeaders(packetArea, totalLength: end)
        VirtioNetHeader(
            flags: VirtioNetHeader.VIRTIO_NET_HDR_F_NEEDS_CSUM, gsoType: VirtioNetHeader.VIRTIO_NET_HDR_GSO_UDP_L4,
            headerLength: UInt16(head.headersLength), gsoSize: UInt16(head.payloadLength),
            checksumStart: UInt16(head.ipLength), checksumOffset: UInt16(TransportFields.udpChecksum)
        ).encode(into: out)
        return VirtioNetHeader.byteCount + end
    }
}

/// One write in the making: a lone packet, or a run of TCP segments or UDP datagrams of one flow.
struct CoalescingRun {
    var first = 0
    var last = 0
    var packets = 1
    /// The first packet's TCP facts; nil when it is not TCP at all.
    var segment: TCPSegmentInfo?
    /// The first packet's UDP facts, when it is a UDP datagram that may be merged.
    var datagram: UDPDatagramInfo?
    /// Whether another segment may still be appended.
    var open = false
    var totalLength = 0
    var nextSequence: UInt32 = 0
    /// Whether the last segment appended carried PSH.
    var pushed = false

    init() {}

    init(first: Int, segment: TCPSegmentInfo?) {
        self.first = first
        last = first
        self.segment = segment
        if let segment {
            open = segment.mergeable && !segment.pushed
            totalLength = segment.headersLength + segment.payloadLength
            nextSequence = segment.sequence &+ UInt32(segment.payloadLength)
            pushed = segment.pushed
        }
    }

    init(first: Int, datagram: UDPDatagramInfo) {
        self.first = first
        last = first
        self.datagram = datagram
        open = true
        totalLength = datagram.headersLength + datagram.payloadLength
    }
}
