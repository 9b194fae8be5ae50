#if canImport(Glibc)
import Glibc

/// A Linux TUN interface (layer 3, no packet information header): each `read` yields
/// one IP packet the kernel routed into the interface, each `write` injects one.
///
/// A small value type over the file descriptor: copies share the descriptor, and
/// exactly one owner calls ``close()``. Addressing is left to `ip`.
package struct TunDevice: Sendable {
    /// `_IOW('T', 202, int)` from linux/if_tun.h.
    private static let TUNSETIFF: UInt = 0x4004_54CA
    private static let IFF_TUN: Int16 = 0x0001
    private static let IFF_NO_PI: Int16 = 0x1000
    private static let IFF_UP: Int16 = 0x1
    private static let IFF_RUNNING: Int16 = 0x40
    /// Longest interface name the kernel accepts (IFNAMSIZ - 1).
    static let maximumNameLength = 15

    /// The open `/dev/net/tun` descriptor.
    let fileDescriptor: Int32
    /// The interface name the kernel assigned (the requested one unless it held `%d`).
    package let name: String

    /// Creates (or attaches to) the TUN interface `name`.
    package init(name: String) throws(SystemError) {
        guard !name.isEmpty, name.utf8.count <= Self.maximumNameLength, !name.contains("/") else {
            throw SystemError("interface name \"\(name)\"", code: EINVAL)
        }
        let fd = try retryingEINTR("open(/dev/net/tun)") { open("/dev/net/tun", O_RDWR | O_CLOEXEC) }
        var request = Self.interfaceRequest(name)
        request.ifr_ifru.ifru_flags = Self.IFF_TUN | Self.IFF_NO_PI
        do {
            _ = try retryingEINTR("ioctl(TUNSETIFF \(name))") {
                withUnsafeMutablePointer(to: &request) { ioctl(fd, Self.TUNSETIFF, UnsafeMutableRawPointer($0)) }
            }
        } catch {
            Glibc.close(fd)
            throw error
        }
        fileDescriptor = fd
        self.name = Self.name(of: &request)
    }

    /// Wraps a descriptor that carries one IP packet per read/write (for tests: one end
    /// of a `SOCK_SEQPACKET`/`SOCK_DGRAM` socket pair stands in for the kernel's side).
    init(packetDescriptor: Int32, name: String) {
        fileDescriptor = packetDescriptor
        self.name = name
    }

    /// Makes reads return EAGAIN instead of blocking, so a reader can drain what is
    /// queued in a burst and wait (``waitReadable(timeoutMilliseconds:)``) only when empty.
    func setNonBlocking() throws(SystemError) {
        let flags = try retryingEINTR("fcntl(F_GETFL \(name))") { fcntl(fileDescriptor, F_GETFL) }
        _ = try retryingEINTR("fcntl(F_SETFL \(name))") { fcntl(fileDescriptor, F_SETFL, flags | O_NONBLOCK) }
    }

    /// Sets the interface MTU (`SIOCSIFMTU`).
    package func setMTU(_ mtu: Int) throws(SystemError) {
        var request = Self.interfaceRequest(name)
        request.ifr_ifru.ifru_mtu = Int32(mtu)
        try Self.interfaceIOCTL(UInt(SIOCSIFMTU), &request, "ioctl(SIOCSIFMTU \(name))")
    }

    /// Brings the interface up (`IFF_UP`), like `ip link set NAME up`.
    package func setUp() throws(SystemError) {
        var request = Self.interfaceRequest(name)
        try Self.interfaceIOCTL(UInt(SIOCGIFFLAGS), &request, "ioctl(SIOCGIFFLAGS \(name))")
        request.ifr_ifru.ifru_flags |= Self.IFF_UP | Self.IFF_RUNNING
        try Self.interfaceIOCTL(UInt(SIOCSIFFLAGS), &request, "ioctl(SIOCSIFFLAGS \(name))")
    }

    /// Reads one packet into `buffer`; returns its length.
    package func read(into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> Int {
        try retryingEINTR("read(\(name))") { Glibc.read(fileDescriptor, buffer.baseAddress, buffer.count) }
    }

    /// Writes one packet.
    package func write(_ packet: UnsafeRawBufferPointer) throws(SystemError) {
        _ = try retryingEINTR("write(\(name))") { Glibc.write(fileDescriptor, packet.baseAddress, packet.count) }
    }

    /// Waits until a packet can be read, or the timeout passes.
    func waitReadable(timeoutMilliseconds: Int32) throws(SystemError) -> Bool {
        try Tunnel.waitReadable(fileDescriptor, timeoutMilliseconds: timeoutMilliseconds)
    }

    /// Closes the descriptor; the kernel removes the (non-persistent) interface.
    package func close() {
        _ = Glibc.close(fileDescriptor)
    }

    private static func interfaceRequest(_ name: String) -> ifreq {
        var request = ifreq()
        withUnsafeMutableBytes(of: &request.ifr_ifrn.ifrn_name) { raw in
            for (i, byte) in name.utf8.prefix(maximumNameLength).enumerated() { raw[i] = byte }
        }
        return request
    }

    private static func name(of request: inout ifreq) -> String {
        withUnsafeBytes(of: &request.ifr_ifrn.ifrn_name) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    /// Interface ioctls go through any socket of the right namespace.
    private static func interfaceIOCTL(_ call: UInt, _ request: inout ifreq, _ operation: String) throws(SystemError) {
        let sock = try retryingEINTR("socket(AF_INET)") { socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }
        defer { Glibc.close(sock) }
        _ = try retryingEINTR(operation) {
            withUnsafeMutablePointer(to: &request) { ioctl(sock, call, UnsafeMutableRawPointer($0)) }
        }
    }
}
#endif
