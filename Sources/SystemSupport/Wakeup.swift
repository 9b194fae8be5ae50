import CSystemShim
#if canImport(Glibc)
import Glibc
#endif

/// An eventfd that stops a thread waiting in poll(): once signalled it stays readable, so every
/// later wait on it returns at once too (that is what "stop" means for the loops that use it).
public final class Wakeup: Sendable {
    let descriptor: Int32

    /// - Throws: ``IOError/socketUnavailable(_:)`` when no eventfd can be had (descriptor limit).
    public init() throws(IOError) {
        let fd = ztp_eventfd()
        guard fd >= 0 else { throw .socketUnavailable(.current) }
        descriptor = fd
    }

    /// Wakes every current and future waiter.
    public func signal() {
        var one: UInt64 = 1
        _ = retryingOnInterrupt { write(descriptor, &one, 8) }
    }

    deinit { close(descriptor) }
}
