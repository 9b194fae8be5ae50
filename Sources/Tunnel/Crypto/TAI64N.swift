#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A TAI64N timestamp (12 bytes): 8-byte big-endian TAI64 label (2^62 + seconds since
/// the epoch) followed by 4-byte big-endian nanoseconds.
///
/// WireGuard puts one, encrypted, in every handshake initiation; the responder keeps the
/// greatest one accepted per peer and refuses any initiation not strictly newer, which
/// stops replays of captured initiations without the responder keeping state per packet.
/// Big-endian layout means byte-wise order equals chronological order.
public struct TAI64N: Sendable, Hashable, Comparable {
    /// Encoded size in bytes.
    package static let byteCount = 12
    /// TAI64 labels count seconds from 2^62, so that the label is never negative.
    private static let epochLabel: UInt64 = 1 << 62

    /// The TAI64 label: 2^62 plus seconds since 1970-01-01.
    let label: UInt64
    /// Nanoseconds within the second.
    package let nanoseconds: UInt32

    /// A timestamp from Unix seconds and nanoseconds. (Leap seconds are ignored, as in
    /// WireGuard: only monotonicity between two readings of one clock matters.)
    public init(unixSeconds: UInt64, nanoseconds: UInt32) {
        label = Self.epochLabel &+ unixSeconds
        self.nanoseconds = nanoseconds
    }

    /// Decodes 12 bytes.
    package init?(bytes: [UInt8]) {
        guard bytes.count == Self.byteCount else { return nil }
        label = bytes[0..<8].reduce(0) { $0 << 8 | UInt64($1) }
        nanoseconds = bytes[8..<12].reduce(0) { $0 << 8 | UInt32($1) }
    }

    /// The 12-byte encoding.
    package var bytes: [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: label >> (56 - 8 * UInt64($0))) }
            + (0..<4).map { UInt8(truncatingIfNeeded: nanoseconds >> (24 - 8 * UInt32($0))) }
    }

    /// The current wall-clock time, with nanoseconds rounded down to a multiple of 2^24
    /// (about 16.8 ms) so the timestamp does not reveal a precise clock reading to an
    /// observer who later learns it; consecutive handshakes are rate limited well below
    /// that resolution anyway.
    public static func now() -> TAI64N {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        let whitened = UInt32(ts.tv_nsec) & ~UInt32((1 << 24) - 1)
        return TAI64N(unixSeconds: UInt64(ts.tv_sec), nanoseconds: whitened)
    }

    /// Chronological order: the label, then the nanoseconds (the same as comparing the
    /// 12-byte encodings byte by byte).
    public static func < (lhs: TAI64N, rhs: TAI64N) -> Bool {
        (lhs.label, lhs.nanoseconds) < (rhs.label, rhs.nanoseconds)
    }
}
