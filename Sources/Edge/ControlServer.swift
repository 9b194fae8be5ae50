import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The daemon's control socket: a Unix socket only root can open (mode 0600 in a 0700
/// directory). A client writes one command line and reads the answer until the server closes.
public final class ControlServer: @unchecked Sendable {
    private let fd: Int32
    public let path: String
    private let handle: @Sendable (String) -> String

    public init(path: String, handle: @escaping @Sendable (String) -> String) throws {
        self.path = path
        self.handle = handle
        let directory = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        unlink(path)
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw MetricsHTTPServer.ServerError(description: "socket: \(String(cString: strerror(errno)))") }
        var sa = sockaddr_un()
        sa.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: sa.sun_path) else {
            close(fd)
            throw MetricsHTTPServer.ServerError(description: "control socket path too long: \(path)")
        }
        withUnsafeMutableBytes(of: &sa.sun_path) { p in
            for (i, b) in bytes.enumerated() { p[i] = b }
        }
        // The socket is created with no permissions for group and others from the start.
        let old = umask(0o177)
        let rc = withUnsafePointer(to: &sa) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        umask(old)
        guard rc == 0, chmod(path, 0o600) == 0, listen(fd, 8) == 0 else {
            let e = String(cString: strerror(errno))
            close(fd)
            throw MetricsHTTPServer.ServerError(description: "cannot listen on \(path): \(e)")
        }
    }

    public func start() {
        let t = Thread { [self] in serve() }
        t.name = "ztp-control"
        t.start()
    }

    public func stop() {
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
        unlink(path)
    }

    private func serve() {
        SocketServing.serve(listener: fd) { request in
            let command = String(decoding: request, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            return Array(handle(command).utf8)
        }
    }
}
