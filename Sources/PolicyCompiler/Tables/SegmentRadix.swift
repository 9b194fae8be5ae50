/// A first step for finding the segment of the address partition that holds an address: a
/// table over 16 bits of the address that says between which segments the answer lies, so
/// that the binary search that follows spans a few segments instead of all of them.
///
/// The 16 bits are the first ones in which the partition's starts differ: for IPv4 usually
/// the top 16; for IPv6, whose prefixes tend to share their top bits (`fd00::/8`), the 16 after
/// the prefix they share. An address outside that shared prefix lies below or above every start
/// but the first. 65,537 entries (256 KiB), of which a lookup reads one cache line.
struct SegmentRadix<Value: FixedWidthInteger & UnsignedInteger & Sendable>: Sendable {
    /// The window is `(value >> shift) & 0xffff`.
    private var shift = 0
    /// What `value >> (shift + 16)` is for every start but the first.
    private var prefix: Value = 0
    /// For each window value, the segment of the first address with it; then the last segment.
    private var first: [UInt32] = []

    init() {}

    /// The radix of a partition: sorted starts, the first of which is 0.
    init(_ starts: [Value]) {
        guard starts.count > 1, let last = starts.last else { return }
        let shared = min((starts[1] ^ last).leadingZeroBitCount, Value.bitWidth - 16)
        shift = Value.bitWidth - shared - 16
        prefix = starts[1] >> (shift + 16)
        first = [UInt32](repeating: 0, count: 65_537)
        var segment = 0
        for h in 0..<65_536 {
            let address = prefix << (shift + 16) | Value(h) << shift
            while segment + 1 < starts.count && starts[segment + 1] <= address { segment += 1 }
            first[h] = UInt32(segment)
        }
        first[65_536] = UInt32(starts.count - 1)
    }

    /// Index of the segment that holds `value`, given the starts the radix was made from.
    @inline(__always)
    func segment(of value: Value, in starts: UnsafeBufferPointer<Value>) -> Int {
        guard starts.count > 1, value >= starts[1] else { return 0 }
        let top = value >> (shift + 16)
        if top != prefix { return top < prefix ? 0 : starts.count - 1 }
        let h = Int(truncatingIfNeeded: value >> shift) & 0xffff
        // Between the segment of this window's first address and that of the next one's.
        var lo = Int(first[h]), hi = Int(first[h + 1]) + 1
        while hi - lo > 1 {
            let mid = (lo + hi) >> 1
            if starts[mid] <= value { lo = mid } else { hi = mid }
        }
        return lo
    }
}
