#if canImport(Glibc)
import CTunnelShim
import Glibc

/// How a send batch becomes `sendmmsg` messages: each run of consecutive datagrams to one
/// destination, all of one size (the last may be shorter), becomes one `UDP_SEGMENT`
/// message that the kernel (or the device) cuts back into those datagrams; every other
/// datagram is a message of its own. Pure arithmetic on the batch's lengths and
/// addresses, so it is tested without a socket.
enum UDPSegmentation {
    /// Most datagrams in one `UDP_SEGMENT` message: the kernel's `UDP_MAX_SEGMENTS`.
    static let maximumSegments = 64
    /// Most bytes in one `UDP_SEGMENT` message: an IPv4 packet's 65,535 bytes less the
    /// IPv4 and UDP headers. IPv6 would allow 20 more; one limit for both families keeps
    /// the dual-stack socket's grouping independent of the destination.
    static let maximumBytes = 65_535 - 20 - 8

    /// Writes the messages for datagrams `first..<count` (`lengths[i]` bytes to
    /// `destinations[i]`) to `runs`, in order, and returns how many there are. With
    /// `segmenting` off, or for a datagram that does not fit a run, a message carries one
    /// datagram. `runs` has room for `count - first` entries (one per datagram at worst).
    static func plan(first: Int, count: Int, lengths: UnsafePointer<Int>,
                     destinations: UnsafePointer<sockaddr_in6>, segmenting: Bool,
                     into runs: UnsafeMutablePointer<ztp_send_run>) -> Int {
        var planned = 0
        var start = first
        while start < count {
            let size = lengths[start]
            var end = start + 1
            if segmenting, size > 0 {
                var bytes = size
                while end < count, end - start < maximumSegments, lengths[end] <= size, lengths[end] > 0,
                      bytes + lengths[end] <= maximumBytes,
                      sameDestination(destinations + start, destinations + end) {
                    bytes += lengths[end]
                    end += 1
                    // A shorter datagram can only close a run: the kernel cuts at `size`.
                    if lengths[end - 1] < size { break }
                }
            }
            let segments = end - start
            runs[planned] = ztp_send_run(first: Int32(start), count: Int32(segments),
                                         segment: segments > 1 ? UInt16(size) : 0)
            planned += 1
            start = end
        }
        return planned
    }

    /// `sockaddr_in6` has no padding (family, port, flow label, address, scope), so equal
    /// bytes are equal endpoints; ``Endpoint/socketAddress`` leaves the flow label 0.
    @inline(__always)
    private static func sameDestination(_ a: UnsafePointer<sockaddr_in6>, _ b: UnsafePointer<sockaddr_in6>) -> Bool {
        memcmp(a, b, MemoryLayout<sockaddr_in6>.size) == 0
    }
}
#endif
