#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A failed system call: which operation, and the `errno` it left.
package struct SystemError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The call or step that failed, e.g. `"ioctl(TUNSETIFF)"`.
    let operation: String
    /// The `errno` value.
    package let code: Int32

    package init(_ operation: String, code: Int32) {
        self.operation = operation
        self.code = code
    }

    /// Captures the current `errno`.
    static func current(_ operation: String) -> SystemError {
        SystemError(operation, code: errno)
    }

    package var description: String {
        "\(operation): \(String(cString: strerror(code))) (errno \(code))"
    }
}

/// Runs a system call, retrying while it fails with `EINTR`; any other failure (a
/// negative result) becomes a ``SystemError`` carrying `errno`.
@inline(__always)
func retryingEINTR<T: BinaryInteger>(_ operation: @autoclosure () -> String, _ call: () -> T) throws(SystemError) -> T {
    while true {
        let result = call()
        if result >= 0 { return result }
        let code = errno
        if code == EINTR { continue }
        throw SystemError(operation(), code: code)
    }
}

/// Waits until `fd` is readable or `timeoutMilliseconds` pass; true when readable.
/// Used by the I/O loops so they can notice a stop request without signals.
func waitReadable(_ fd: Int32, timeoutMilliseconds: Int32) throws(SystemError) -> Bool {
    var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
    let ready = try retryingEINTR("poll") { poll(&descriptor, 1, timeoutMilliseconds) }
    return ready > 0
}
