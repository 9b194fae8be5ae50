#if canImport(Glibc)
import Glibc
#endif

/// An AF_UNIX datagram socket to send to by name: a filesystem path, or an abstract name
/// written with a leading '@' (as `$NOTIFY_SOCKET` gives systemd's). For one-way messages
/// such as sd_notify(3)'s, where nobody answers and a missing listener is no failure.
public struct UnixDatagramDestination: Sendable {
    private let address: sockaddr_un
    private let length: socklen_t
    /// The name as given.
    public let name: String

    /// nil if `name` is neither an absolute path nor an '@' abstract name, or does not fit.
    public init?(name: String) {
        var bytes = Array(name.utf8)
        guard let first = bytes.first, first == UInt8(ascii: "/") || first == UInt8(ascii: "@") else { return nil }
        let abstract = first == UInt8(ascii: "@")
        if abstract { bytes[0] = 0 }  // abstract namespace: a leading NUL and no terminator
        var address = sockaddr_un()
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return nil }
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        self.address = address
        length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + (abstract ? 0 : 1))
        self.name = name
    }

    /// Sends `bytes` as one datagram from a fresh socket (MSG_NOSIGNAL, EINTR retried).
    /// Returns whether all of it went.
    @discardableResult
    public func send(_ bytes: [UInt8]) -> Bool {
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        let sent = withUnsafePointer(to: address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                bytes.withUnsafeBytes { raw in
                    retryingOnInterrupt { sendto(fd, raw.baseAddress, raw.count, Int32(MSG_NOSIGNAL), sa, length) }
                }
            }
        }
        if case .success(let n) = sent { return n == bytes.count }
        return false
    }
}

/// CLOCK_MONOTONIC, which systemd's `MONOTONIC_USEC=` and other system interfaces use (Swift's
/// ContinuousClock counts suspended time too on Linux).
public enum MonotonicClock {
    /// Microseconds since an arbitrary point, as `clock_gettime(CLOCK_MONOTONIC)` gives them.
    public static var microseconds: UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1000
    }
}
