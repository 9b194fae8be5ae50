/// Sliding-window replay protection for transport counters, in the style of RFC 6479:
/// a ring of 64-bit blocks where each bit records one counter already accepted.
///
/// Window: the ring holds 8192 bits (128 blocks), of which 8192 - 64 = 8128 counters
/// behind the greatest accepted counter are guaranteed to be tracked (as in
/// wireguard-go); the block holding the newest counter may be only partly used.
/// Counters further back are rejected as too old, counters at or above
/// `WG.REJECT_AFTER_MESSAGES` are always rejected.
///
/// Moving the window forward clears whole blocks instead of shifting a bitmap, so an
/// update costs O(1) amortised however far the counter jumps.
package struct ReplayFilter: Sendable {
    private static let bitsPerBlock: UInt64 = 64
    private static let blockCount: UInt64 = 128
    /// How far behind the greatest accepted counter a counter may be and still be accepted.
    static let windowSize: UInt64 = bitsPerBlock * blockCount - bitsPerBlock

    private var ring = [UInt64](repeating: 0, count: Int(blockCount))
    private var greatest: UInt64 = 0

    /// An empty filter: every counter from 0 up is still acceptable.
    package init() {}

    /// Records `counter` and returns true if it was never seen before and is inside the
    /// window; returns false (changing nothing) for duplicates, counters that are too old
    /// and counters at or beyond `limit`.
    ///
    /// Call this only after the packet authenticated, otherwise a forged packet with a
    /// huge counter would slide the window and make genuine packets look too old.
    package mutating func accept(_ counter: UInt64, limit: UInt64 = WG.REJECT_AFTER_MESSAGES) -> Bool {
        guard counter < limit else { return false }
        let block = counter / Self.bitsPerBlock
        if counter > greatest {
            // Clear the blocks the window slides over; never more than the whole ring.
            let currentBlock = greatest / Self.bitsPerBlock
            let advance = min(block - currentBlock, Self.blockCount)
            var step: UInt64 = 1
            while step <= advance {
                ring[Int((currentBlock + step) % Self.blockCount)] = 0
                step += 1
            }
            greatest = counter
        } else if greatest - counter > Self.windowSize {
            return false
        }
        let index = Int(block % Self.blockCount)
        let bit: UInt64 = 1 << (counter % Self.bitsPerBlock)
        if ring[index] & bit != 0 { return false }
        ring[index] |= bit
        return true
    }

    /// Forgets everything, for a fresh keypair.
    mutating func reset() {
        for i in ring.indices { ring[i] = 0 }
        greatest = 0
    }
}
