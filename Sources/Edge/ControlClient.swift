import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Sends one command to a daemon's control socket and returns its answer.
public enum ControlClient {
    public struct ClientError: Error, CustomStringConvertible {
        public var description: String
    }

    public static func send(_ command: String, to path: String) throws(ClientError) -> String {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ClientError(description: "socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var sa = sockaddr_un()
        sa.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: sa.sun_path) else { throw ClientError(description: "path too long: \(path)") }
        withUnsafeMutableBytes(of: &sa.sun_path) { p in
            for (i, b) in bytes.enumerated() { p[i] = b }
        }
        let rc = withUnsafePointer(to: &sa) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        guard rc == 0 else {
            throw ClientError(description: "cannot connect to \(path): \(String(cString: strerror(errno))) (is ztpd running, and are you root?)")
        }
        let line = Array((command + "\n").utf8)
        _ = line.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        var out = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 8192)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            out += buffer[0..<n]
        }
        return String(decoding: out, as: UTF8.self)
    }
}
