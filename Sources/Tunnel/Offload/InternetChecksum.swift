/// The Internet checksum (RFC 1071): the ones'-complement sum of 16-bit big-endian words,
/// used by the IPv4 header, TCP and UDP. Segmentation computes one per segment and the
/// coalescer verifies one per merged packet, so the sum is the hot loop of the offload
/// layer: it adds 8 bytes at a time in the host's byte order with end-around carry, which
/// RFC 1071 §2(B) shows equals the big-endian sum once the folded result is byte-swapped.
package enum InternetChecksum {
    /// The ones'-complement sum of `bytes` (a trailing odd byte padded with zero), plus
    /// `initial` (a partial sum, e.g. of a pseudo-header), folded to 16 bits and not
    /// complemented. Costs one pass over the bytes; allocates nothing.
    package static func sum(_ bytes: UnsafeRawBufferPointer, initial: UInt32 = 0) -> UInt16 {
        var accumulator: UInt64 = 0
        var carry: UInt64 = 0
        if var pointer = bytes.baseAddress {
            var remaining = bytes.count
            // Four independent words per round keep the adder busy; carries are gathered
            // apart and added back once, which is what end-around carry amounts to.
            while remaining >= 32 {
                let a = pointer.loadUnaligned(as: UInt64.self)
                let b = pointer.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
                let c = pointer.loadUnaligned(fromByteOffset: 16, as: UInt64.self)
                let d = pointer.loadUnaligned(fromByteOffset: 24, as: UInt64.self)
                var overflow: Bool
                (accumulator, overflow) = accumulator.addingReportingOverflow(a)
                carry &+= overflow ? 1 : 0
                (accumulator, overflow) = accumulator.addingReportingOverflow(b)
                carry &+= overflow ? 1 : 0
                (accumulator, overflow) = accumulator.addingReportingOverflow(c)
                carry &+= overflow ? 1 : 0
                (accumulator, overflow) = accumulator.addingReportingOverflow(d)
                carry &+= overflow ? 1 : 0
                pointer += 32
                remaining -= 32
            }
            while remaining >= 8 {
                let (next, overflow) = accumulator.addingReportingOverflow(pointer.loadUnaligned(as: UInt64.self))
                accumulator = next
                carry &+= overflow ? 1 : 0
                pointer += 8
                remaining -= 8
            }
            // The tail, at most 7 bytes, gathered into one word in memory order so that it
            // lines up with the 16-bit words of the loads above.
            var tail: UInt64 = 0
            var shift: UInt64 = 0
            for i in 0..<remaining {
                tail |= UInt64(pointer.load(fromByteOffset: i, as: UInt8.self)) << shift
                shift += 8
            }
            #if _endian(big)
            tail = tail.byteSwapped
            #endif
            let (next, overflow) = accumulator.addingReportingOverflow(tail)
            accumulator = next
            carry &+= overflow ? 1 : 0
        }
        let folded = fold(accumulator, carry: carry)
        return add(UInt16(bigEndian: folded), UInt32(initial))
    }

    /// The finished checksum field for `bytes`: the complement of ``sum(_:initial:)``.
    package static func checksum(_ bytes: UnsafeRawBufferPointer, initial: UInt32 = 0) -> UInt16 {
        ~sum(bytes, initial: initial)
    }

    /// The partial sum of the TCP/UDP pseudo-header (RFC 793 §3.1, RFC 8200 §8.1): source
    /// and destination address (4 or 16 bytes each), protocol and upper-layer length.
    /// Not folded, so that callers add it as `initial`.
    package static func pseudoHeaderSum(addresses: UnsafeRawBufferPointer, protocol: UInt8, length: Int) -> UInt32 {
        UInt32(sum(addresses)) + UInt32(`protocol`) + UInt32(truncatingIfNeeded: length & 0xFFFF) + UInt32(length >> 16)
    }

    /// Folds a 64-bit host-order accumulator and its lost carries to 16 bits.
    static func fold(_ accumulator: UInt64, carry: UInt64) -> UInt16 {
        var value = (accumulator & 0xFFFF_FFFF) + (accumulator >> 32) + carry
        value = (value & 0xFFFF) + (value >> 16)
        value = (value & 0xFFFF) + (value >> 16)
        value = (value & 0xFFFF) + (value >> 16)
        return UInt16(truncatingIfNeeded: value)
    }

    /// Ones'-complement addition of a 16-bit sum and a 32-bit partial sum.
    static func add(_ sum: UInt16, _ partial: UInt32) -> UInt16 {
        var value = UInt64(sum) + UInt64(partial)
        value = (value & 0xFFFF) + (value >> 16)
        value = (value & 0xFFFF) + (value >> 16)
        return UInt16(truncatingIfNeeded: value)
    }
}

extension InternetChecksum {
    /// Folds a partial sum (such as ``pseudoHeaderSum(addresses:protocol:length:)``) to 16
    /// bits, not complemented: what a `NEEDS_CSUM` packet carries in its checksum field.
    package static func fold(_ partial: UInt32) -> UInt16 {
        add(0, partial)
    }
}
