import XCTest

@testable import PolicyCompiler

final class SegmentRadixTests: XCTestCase {
    /// The last start at or below `value`: what the radix must agree with.
    private func bySearch<T: FixedWidthInteger>(_ value: T, _ starts: [T]) -> Int {
        starts.lastIndex { $0 <= value }!
    }

    func testIPv4SegmentsAgreeWithASearchOverEveryStart() {
        var rng = SplitMix(seed: 7)
        for size in [1, 2, 3, 50, 3_000] {
            var points = Set<UInt32>([0])
            while points.count < size { points.insert(UInt32(truncatingIfNeeded: rng.next()) & (rng.next() % 2 == 0 ? 0x0AFF_FFFF : .max)) }
            let starts = points.sorted()
            let radix = SegmentRadix(starts)
            starts.withUnsafeBufferPointer { s in
                var probes: [UInt32] = [0, .max, 1 << 16, (1 << 16) - 1]
                for start in starts.prefix(200) { probes += [start, start &- 1, start &+ 1] }
                for _ in 0..<2_000 { probes.append(UInt32(truncatingIfNeeded: rng.next())) }
                for v in probes { XCTAssertEqual(radix.segment(of: v, in: s), bySearch(v, starts), "\(v) among \(size) starts") }
            }
        }
    }

    func testIPv6SegmentsUnderASharedPrefixAndOutsideItAgreeWithASearch() {
        var rng = SplitMix(seed: 11)
        let fd: UInt128 = 0xfd << 120
        for (size, spread) in [(2, 80), (40, 80), (2_500, 120), (200, 8)] {
            // Starts under fd00::/8 (spread: how many low bits vary), as the generated policies have.
            var points = Set<UInt128>([0])
            while points.count < size {
                let low = (UInt128(rng.next()) << 64 | UInt128(rng.next())) & ((1 << UInt128(spread)) - 1)
                points.insert(fd | low)
            }
            let starts = points.sorted()
            let radix = SegmentRadix(starts)
            starts.withUnsafeBufferPointer { s in
                var probes: [UInt128] = [0, .max, fd - 1, fd, 0xfe << 120, 0xfc << 120]
                for start in starts.prefix(200) { probes += [start, start &- 1, start &+ 1] }
                for _ in 0..<2_000 {
                    let low = (UInt128(rng.next()) << 64 | UInt128(rng.next())) & ((1 << UInt128(spread)) - 1)
                    probes += [fd | low, UInt128(rng.next()) << 64]
                }
                for v in probes { XCTAssertEqual(radix.segment(of: v, in: s), bySearch(v, starts), "\(v) among \(size) starts") }
            }
        }
    }
}
