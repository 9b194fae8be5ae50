#if canImport(Glibc)
import Glibc

/// A Linux TUN interface (layer 3, no packet information header): each `read` yields
/// one IP packet the kernel routed into the interface, each `write` injects one.
///
/// Opened with offloading, the interface also carries a ``VirtioNetHeader`` in front of
/// every packet both ways (`IFF_VNET_HDR`) and the kernel may hand over TCP (and UDP)
/// super-packets of up to 64 KB (`TUNSETOFFLOAD`): ``GSOSegmenter`` splits what is read,
/// ``TunCoalescer`` prepares what is written. ``offloads`` tells which mode it is in.
///
/// A small value type over the file descriptor: copies share the descriptor, and
/// exactly one owner calls ``close()``. Addressing is left to `ip`.
package struct TunDevice: Sendable {
    /// `_IOW('T', 202, int)` from linux/if_tun.h.
    private static let TUNSETIFF: UInt = 0x4004_54CA
    private static let IFF_TUN: Int16 = 0x0001
    private static let IFF_NO_PI: Int16 = 0x1000
    private static let IFF_VNET_HDR: Int16 = 0x4000
    /// `_IOW('T', 208, unsigned int)`; its argument is the flag word itself, not a pointer.
    private static let TUNSETOFFLOAD: UInt = 0x4004_54D0
    private static let IFF_UP: Int16 = 0x1
    private static let IFF_RUNNING: Int16 = 0x40
    /// Longest interface name the kernel accepts (IFNAMSIZ - 1).
    static let maximumNameLength = 15

    /// The open `/dev/net/tun` descriptor.
    let fileDescriptor: Int32
    /// The interface name the kernel assigned (the requested one unless it held `%d`).
    package let name: String
    /// The offloads the kernel accepted; empty for a plain TUN (no virtio-net headers).
    package let offloads: TunOffloads
    /// Why offloading was asked for and not granted (the device is plain then), for the
    /// caller to log once.
    package let offloadRefusal: SystemError?

    /// Whether every packet read and written carries a ``VirtioNetHeader``.
    package var hasVirtioHeaders: Bool { !offloads.isEmpty }

    /// Creates (or attaches to) the TUN interface `name`.
    ///
    /// With `offloading`, first tries `IFF_VNET_HDR` with TCP and UDP segmentation offload,
    /// then with TCP only (kernels before 6.2 refuse USO); when the kernel refuses even that,
    /// the device is opened plain and ``offloadRefusal`` says why. Without it (the default),
    /// the device is plain.
    /// - Throws: ``SystemError`` when the plain device cannot be opened either.
    package init(name: String, offloading: Bool = false) throws(SystemError) {
        guard !name.isEmpty, name.utf8.count <= Self.maximumNameLength, !name.contains("/") else {
            throw SystemError("interface name \"\(name)\"", code: EINVAL)
        }
        var refusal: SystemError?
        if offloading {
            do {
                let (fd, assigned, accepted) = try Self.open(name, flags: Self.IFF_VNET_HDR) { fd throws(SystemError) in
                    try Self.enableOffloads(fd, name)
                }
                fileDescriptor = fd
                self.name = assigned
                offloads = accepted
                offloadRefusal = nil
                return
            } catch {
                refusal = error
            }
        }
        let (fd, assigned, _) = try Self.open(name, flags: 0) { _ throws(SystemError) in TunOffloads() }
        fileDescriptor = fd
        self.name = assigned
        offloads = []
        offloadRefusal = refusal
    }

    /// Wraps a descriptor that carries one IP packet per read/write (for tests: one end
    /// of a `SOCK_SEQPACKET`/`SOCK_DGRAM` socket pair stands in for the kernel's side).
    /// With `offloads`, every packet carries a virtio-net header both ways, as on an
    /// offloading TUN, and the test plays the kernel's part of `TUNSETOFFLOAD`.
    init(packetDescriptor: Int32, name: String, offloads: TunOffloads = []) {
        fileDescriptor = packetDescriptor
        self.name = name
        self.offloads = offloads
        offloadRefusal = nil
    }

    /// Opens `/dev/net/tun` as `name` with `IFF_TUN | IFF_NO_PI | flags`, then runs `configure`
    /// on the descriptor; closes it again if either fails. Returns the descriptor, the name
    /// the kernel assigned and what `configure` returned.
    private static func open(_ name: String, flags: Int16, configure: (Int32) throws(SystemError) -> TunOffloads)
        throws(SystemError) -> (Int32, String, TunOffloads)
    {
        let fd = try retryingEINTR("open(/dev/net/tun)") { Glibc.open("/dev/net/tun", O_RDWR | O_CLOEXEC) }
        var request = Self.interfaceRequest(name)
        request.ifr_ifru.ifru_flags = Self.IFF_TUN | Self.IFF_NO_PI | flags
        do {
            _ = try retryingEINTR("ioctl(TUNSETIFF \(name))") {
                withUnsafeMutablePointer(to: &request) { ioctl(fd, Self.TUNSETIFF, UnsafeMutableRawPointer($0)) }
            }
            let accepted = try configure(fd)
            return (fd, Self.name(of: &request), accepted)
        } catch {
            Glibc.close(fd)
            throw error
        }
    }

    /// Asks for ``TunOffloads/tcpAndUDP``, then for ``TunOffloads/tcp`` alone; returns what
    /// the kernel took.
    private static func enableOffloads(_ fd: Int32, _ name: String) throws(SystemError) -> TunOffloads {
        for wanted in [TunOffloads.tcpAndUDP, .tcp] {
            let result = ioctl(fd, Self.TUNSETOFFLOAD, CInt(bitPattern: wanted.rawValue))
            if result == 0 { return wanted }
            if errno != EINVAL { break }
        }
        throw SystemError.current("ioctl(TUNSETOFFLOAD \(name))")
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
