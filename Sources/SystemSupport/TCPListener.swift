#if canImport(Glibc)
import Glibc
#endif

/// A TCP socket listening on a numeric IPv4 or IPv6 address.
public final class TCPListener: StreamListener {
    /// The port it listens on (the one the kernel chose when asked for port 0).
    public let port: UInt16
    public let address: String
    private let socket: ListeningSocket

    /// Listens on `host` (numeric, "127.0.0.1" or "::1") and `port` (0: any free port).
    /// - Throws: ``IOError/invalidAddress(_:)``, ``IOError/socketUnavailable(_:)``,
    ///   ``IOError/bindFailed(address:_:)`` (EADDRINUSE among others), ``IOError/listenFailed(address:_:)``.
    public init(host: String, port: UInt16, backlog: Int32 = 128) throws(IOError) {
        let address = try InternetAddress(host: host, port: port)
        let fd = Glibc.socket(address.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .socketUnavailable(.current) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        guard address.withSockaddr({ bind(fd, $0, $1) }) == 0 else {
            let e = Errno.current
            Glibc.close(fd)
            throw .bindFailed(address: address.text, e)
        }
        guard listen(fd, backlog) == 0 else {
            let e = Errno.current
            Glibc.close(fd)
            throw .listenFailed(address: address.text, e)
        }
        var bound = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &bound) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        // sin_port and sin6_port sit at the same offset, right after the family.
        self.port = withUnsafeBytes(of: bound) { UInt16(bigEndian: $0.load(fromByteOffset: 2, as: UInt16.self)) }
        self.address = host.contains(":") ? "[\(host)]:\(self.port)" : "\(host):\(self.port)"
        socket = try ListeningSocket(descriptor: fd)
    }

    /// Waits for the next client; nil once ``interrupt()`` was called.
    public func accept() throws(IOError) -> Connection? { try socket.accept() }

    /// Makes a waiting and every later ``accept()`` return nil.
    public func interrupt() { socket.interrupt() }

    /// Closes the socket.
    public func close() { socket.close() }
}
