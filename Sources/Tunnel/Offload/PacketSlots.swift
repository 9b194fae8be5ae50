/// Caller-owned, preallocated room for a vector of packets: `count` slots of `stride`
/// bytes, back to back from `base`, each packet written `headroom` bytes into its slot
/// (so the runtime can seal it in place behind a transport header) and its length stored
/// in `lengths[i]`. This is the layout of the runtime's `DatagramBatch`; segmentation
/// writes into it and allocates nothing.
package struct PacketSlots {
    /// Start of slot 0.
    package let base: UnsafeMutableRawPointer
    /// Distance between consecutive slots.
    package let stride: Int
    /// Bytes left free in front of each packet.
    package let headroom: Int
    /// Number of slots.
    package let count: Int
    /// Where the length of the packet in slot i goes (`lengths[i]`, headroom not included).
    package let lengths: UnsafeMutablePointer<Int>

    /// Describes `count` slots; `headroom` must be below `stride`.
    package init(base: UnsafeMutableRawPointer, stride: Int, headroom: Int, count: Int, lengths: UnsafeMutablePointer<Int>) {
        precondition(headroom >= 0 && headroom < stride && count >= 0, "slot layout out of range")
        self.base = base
        self.stride = stride
        self.headroom = headroom
        self.count = count
        self.lengths = lengths
    }

    /// The most bytes one packet can have.
    package var packetCapacity: Int { stride - headroom }

    /// The packet area of slot `index` (after the headroom, ``packetCapacity`` bytes).
    package func packetArea(_ index: Int) -> UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(start: base + index * stride + headroom, count: packetCapacity)
    }

    /// The packet written into slot `index` (its first `lengths[index]` bytes).
    package func packet(_ index: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: base + index * stride + headroom, count: lengths[index])
    }
}
