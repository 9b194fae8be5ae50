import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Serves `GET /metrics` in the Prometheus text format on a TCP address, one request at a time
/// on its own thread (a scrape every few seconds needs nothing more).
public final class MetricsHTTPServer: @unchecked Sendable {
    private let fd: Int32
    private let render: @Sendable () -> [UInt8]
    public let address: HostPort

    public struct ServerError: Error, CustomStringConvertible {
        public var description: String
    }

    public init(address: HostPort, render: @escaping @Sendable () -> [UInt8]) throws {
        self.address = address
        self.render = render
        let v6 = address.host.contains(":")
        fd = socket(v6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw ServerError(description: "socket: \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        let rc: Int32
        if v6 {
            var sa = sockaddr_in6()
            sa.sin6_family = sa_family_t(AF_INET6)
            sa.sin6_port = address.port.bigEndian
            inet_pton(AF_INET6, address.host, &sa.sin6_addr)
            rc = withUnsafePointer(to: &sa) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) } }
        } else {
            var sa = sockaddr_in()
            sa.sin_family = sa_family_t(AF_INET)
            sa.sin_port = address.port.bigEndian
            inet_pton(AF_INET, address.host, &sa.sin_addr)
            rc = withUnsafePointer(to: &sa) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        }
        guard rc == 0, listen(fd, 16) == 0 else {
            let e = String(cString: strerror(errno))
            close(fd)
            throw ServerError(description: "cannot listen on \(address.host):\(address.port): \(e)")
        }
    }

    public func start() {
        let t = Thread { [self] in serve() }
        t.name = "ztp-metrics"
        t.start()
    }

    /// Stops accepting; the thread ends at its next accept.
    public func stop() {
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
    }

    private func serve() {
        SocketServing.serve(listener: fd) { request in
            let head = String(decoding: request, as: UTF8.self)
            guard head.hasPrefix("GET /metrics ") || head.hasPrefix("GET / ") else {
                return Array("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".utf8)
            }
            let body = render()
            return Array(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: \(body.count)\r\nConnection: close\r\n\r\n".utf8)
                + body
        }
    }
}
