#if canImport(Glibc)
import Glibc
#endif

/// A POSIX error number, as a value: what a failed system call left in `errno`.
public struct Errno: Error, Hashable, Sendable, CustomStringConvertible {
    /// The raw `errno` value.
    public let rawValue: Int32

    public init(rawValue: Int32) { self.rawValue = rawValue }

    /// The calling thread's `errno`, read right after the failing call.
    public static var current: Errno { Errno(rawValue: errno) }

    /// The C library's text for the error ("Broken pipe").
    public var description: String { String(cString: strerror(rawValue)) }

    public static let interrupted = Errno(rawValue: EINTR)
    public static let wouldBlock = Errno(rawValue: EAGAIN)
    public static let brokenPipe = Errno(rawValue: EPIPE)
    public static let connectionReset = Errno(rawValue: ECONNRESET)
    public static let connectionRefused = Errno(rawValue: ECONNREFUSED)
    public static let inProgress = Errno(rawValue: EINPROGRESS)
    public static let noSuchFile = Errno(rawValue: ENOENT)
    public static let fileExists = Errno(rawValue: EEXIST)
    public static let addressInUse = Errno(rawValue: EADDRINUSE)
    public static let invalidArgument = Errno(rawValue: EINVAL)
}

/// Calls `body` again for as long as it fails with EINTR: the one place that knows a signal can
/// interrupt a system call, so call sites never need their own loop. `body` returns the call's
/// result (negative on failure, with `errno` set); every other failure comes back as its ``Errno``.
package func retryingOnInterrupt<Value: SignedInteger>(_ body: () -> Value) -> Result<Value, Errno> {
    while true {
        let value = body()
        if value >= 0 { return .success(value) }
        let error = Errno.current
        if error != .interrupted { return .failure(error) }
    }
}
