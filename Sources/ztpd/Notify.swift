import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// systemd's readiness protocol (sd_notify(3)): datagrams of `KEY=VALUE` lines sent to the
/// AF_UNIX socket named by `$NOTIFY_SOCKET`. A path, or an abstract name written with a leading
/// '@'. Outside systemd the variable is unset and ``fromEnvironment()`` gives nil, so every call
/// site reads `notifier?.send(...)`.
///
/// A dozen lines of socket code rather than libsystemd: the protocol is one datagram, and
/// ztpd need not link libsystemd for it.
struct SystemdNotifier: Sendable {
    /// The socket address, ready for sendto(2).
    private let address: sockaddr_un
    private let length: socklen_t

    /// The notifier for `$NOTIFY_SOCKET`, or nil when it is unset or names no usable socket.
    static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> SystemdNotifier? {
        guard let name = environment["NOTIFY_SOCKET"], !name.isEmpty else { return nil }
        return SystemdNotifier(socket: name)
    }

    /// nil if `name` is neither an absolute path nor an '@' abstract name, or is too long.
    init?(socket name: String) {
        var bytes = Array(name.utf8)
        guard let first = bytes.first, first == UInt8(ascii: "/") || first == UInt8(ascii: "@") else { return nil }
        if first == UInt8(ascii: "@") { bytes[0] = 0 }  // abstract namespace: a leading NUL, no terminator
        var address = sockaddr_un()
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard bytes.count < capacity else { return nil }
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { path in
            path.copyBytes(from: bytes)
        }
        self.address = address
        length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + (first == UInt8(ascii: "@") ? 0 : 1))
    }

    /// Sends `state` (for example "READY=1\nSTATUS=serving") as one datagram. Returns whether
    /// it was sent; systemd not listening is no reason for the daemon to fail, so nothing throws.
    @discardableResult
    func send(_ state: String) -> Bool {
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = self.address
        let bytes = Array(state.utf8)
        let sent = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                bytes.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL), sa, length) }
            }
        }
        return sent == bytes.count
    }

    /// `READY=1` with a status line: the interface, the policy and XDP are up.
    func ready(status: String) { send("READY=1\nSTATUS=\(status)") }

    /// `RELOADING=1`: a policy reload started; `ready(status:)` ends it.
    func reloading(status: String) {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        // MONOTONIC_USEC lets systemd 253+ (Type=notify-reload) match the reload to its request.
        let microseconds = UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1000
        send("RELOADING=1\nMONOTONIC_USEC=\(microseconds)\nSTATUS=\(status)")
    }

    /// `STOPPING=1`: shutting down.
    func stopping() { send("STOPPING=1\nSTATUS=stopping") }

    /// `WATCHDOG=1`: the data path is alive.
    func watchdog() { send("WATCHDOG=1") }
}
