import Foundation
import Logging
import Tunnel

/// The cross-platform WireGuard userspace API on `/var/run/wireguard/NAME.sock` (a
/// root-only socket, mode 0600), so `wg show NAME` works on our interface.
///
/// The socket side only: the protocol (`get=1`, `set=1` as one transaction, and our
/// `ztp-stats=1`) is Tunnel's ``UAPIHandler`` over the runtime.
final class UAPIServer: @unchecked Sendable {
    static let directory = "/var/run/wireguard"
    let path: String
    private let fd: Int32
    private let handler: UAPIHandler
    private let lock = NSLock()
    private var running = true
    private let done = DispatchSemaphore(value: 0)

    init(interface: String, runtime: TunnelRuntime, logger: Logger) throws {
        handler = UAPIHandler(target: runtime) { level, message in
            switch level {
            case .debug: logger.debug("\(message)")
            case .info: logger.info("\(message)")
            case .warning: logger.warning("\(message)")
            case .error: logger.error("\(message)")
            }
        }
        path = "\(Self.directory)/\(interface).sock"
        mkdir(Self.directory, 0o755)
        unlink(path)
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemError("socket(AF_UNIX)", code: errno) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            close(fd)
            throw SystemError("UAPI path too long", code: ENAMETOOLONG)
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, byte) in bytes.enumerated() { raw[i] = byte }
        }
        // Create the socket node already without group/other access.
        let oldMask = umask(0o077)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        umask(oldMask)
        guard bound == 0, chmod(path, 0o600) == 0, listen(fd, 8) == 0 else {
            let error = SystemError("bind/listen \(path)", code: errno)
            close(fd)
            throw error
        }
        let thread = Thread { [self] in acceptLoop() }
        thread.name = "ztp-uapi"
        thread.start()
    }

    func stop() {
        lock.lock()
        running = false
        lock.unlock()
        done.wait()
        close(fd)
        unlink(path)
    }

    private var isRunning: Bool {
        lock.lock()
        defer { lock.unlock() }
        return running
    }

    private func acceptLoop() {
        defer { done.signal() }
        while isRunning {
            var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&descriptor, 1, 200) > 0 else { continue }
            let client = accept(fd, nil, nil)
            guard client >= 0 else { continue }
            var timeout = timeval(tv_sec: 2, tv_usec: 0)
            setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            serve(client)
            close(client)
        }
    }

    /// One connection: requests until the client closes or stops answering.
    private func serve(_ client: Int32) {
        var reader = UAPILineReader { buffer in
            while true {
                let n = read(client, buffer.baseAddress, buffer.count)
                if n >= 0 { return n }
                if errno != EINTR { throw SystemError("read(UAPI)", code: errno) }
            }
        }
        handler.serve(readLine: { () throws(UAPIError) in try reader.next() }, write: { try Self.send($0, to: client) })
    }

    /// send with MSG_NOSIGNAL: a client that hung up (`wg show | head -1`) is EPIPE, not SIGPIPE.
    private static func send(_ reply: String, to client: Int32) throws {
        let bytes = Array(reply.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { throw SystemError("send(UAPI)", code: errno) }
            offset += n
        }
    }
}
