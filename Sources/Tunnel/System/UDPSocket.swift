#if canImport(Glibc)
import CTunnelShim
import Glibc

/// A dual-stack UDP socket (IPv6 with `IPV6_V6ONLY` off, so IPv4 peers arrive as
/// IPv4-mapped addresses) bound to one port on every address.
///
/// A small value type over the descriptor; exactly one owner calls ``close()``.
/// Datagrams are moved into caller-provided buffers, one at a time with
/// `recvfrom`/`sendto` or in batches (``DatagramBatch``, ``UDPReceiveBatch``,
/// `recvmmsg`/`sendmmsg`), so the data path allocates nothing. Batches use the kernel's
/// UDP offloads where it has them (``offloads``).
package struct UDPSocket: Sendable {
    let fileDescriptor: Int32
    /// The port bound when this value was made (the kernel's choice when 0 was asked
    /// for); ``rebind(to:mark:)`` returns the new one.
    package let port: UInt16
    /// Segmentation on send and coalescing on receive, shared by every copy of this value
    /// (and kept across ``rebind(to:mark:)``).
    package let offloads: UDPOffloads

    /// Binds `[::]:port` (and so `0.0.0.0:port`); 0 picks a free port.
    package init(port: UInt16) throws(SystemError) {
        let fd = try retryingEINTR("socket(AF_INET6, SOCK_DGRAM)") {
            socket(AF_INET6, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        }
        do {
            var off: Int32 = 0
            _ = try retryingEINTR("setsockopt(IPV6_V6ONLY)") {
                setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &off, socklen_t(MemoryLayout<Int32>.size))
            }
            // Room for bursts, as wireguard-go asks for (7 MiB): a full receive queue drops
            // datagrams and the TCP inside backs off. The FORCE variants pass the sysctl
            // limits when we have CAP_NET_ADMIN; without it the plain ones are a best effort.
            var size: Int32 = 7 << 20
            let sizeLength = socklen_t(MemoryLayout<Int32>.size)
            for (force, plain) in [(SO_RCVBUFFORCE, SO_RCVBUF), (SO_SNDBUFFORCE, SO_SNDBUF)] {
                if setsockopt(fd, SOL_SOCKET, force, &size, sizeLength) != 0 {
                    _ = setsockopt(fd, SOL_SOCKET, plain, &size, sizeLength)
                }
            }
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_port = port.bigEndian
            address.sin6_addr = in6addr_any
            _ = try retryingEINTR("bind(port \(port))") {
                withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size))
                    }
                }
            }
            var length = socklen_t(MemoryLayout<sockaddr_in6>.size)
            _ = try retryingEINTR("getsockname") {
                withUnsafeMutablePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
                }
            }
            self.port = UInt16(bigEndian: address.sin6_port)
            offloads = UDPOffloads(segmentationSupported: ztp_udp_segment_probe(fd) == 0)
        } catch {
            Glibc.close(fd)
            throw error
        }
        fileDescriptor = fd
    }

    /// Receives one datagram into `buffer`: its length and source.
    func receive(into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> (count: Int, source: Endpoint?) {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let count = try retryingEINTR("recvfrom") {
            withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    recvfrom(fileDescriptor, buffer.baseAddress, buffer.count, 0, $0, &length)
                }
            }
        }
        let source = withUnsafeBytes(of: &storage) { Endpoint(storage: $0.baseAddress!) }
        return (count, source)
    }

    /// Sends one datagram to `destination`.
    func send(_ datagram: UnsafeRawBufferPointer, to destination: Endpoint) throws(SystemError) {
        var address = destination.socketAddress
        _ = try retryingEINTR("sendto(\(destination))") {
            withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(fileDescriptor, datagram.baseAddress, datagram.count, Int32(MSG_NOSIGNAL), $0,
                           socklen_t(MemoryLayout<sockaddr_in6>.size))
                }
            }
        }
    }

    /// Array convenience for handshake messages.
    func send(_ datagram: [UInt8], to destination: Endpoint) throws(SystemError) {
        var failure: SystemError?
        datagram.withUnsafeBytes { raw in
            do throws(SystemError) { try send(raw, to: destination) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    /// Turns on coalescing (`UDP_GRO`): from now on one received message may hold a run of
    /// datagrams of one flow, up to 64 KB, so receive only into a ``UDPReceiveBatch`` of
    /// ``UDPReceiveBatch/coalescedMessageSize``-byte messages. Throws when the kernel
    /// refuses (ENOPROTOOPT before Linux 5.0); datagrams then keep arriving one by one.
    package func enableCoalescing() throws(SystemError) {
        let code = ztp_udp_set_gro(fileDescriptor, 1)
        guard code == 0 else { throw SystemError("setsockopt(UDP_GRO)", code: code) }
        offloads.setCoalescing(true)
    }

    /// Waits until a datagram can be read, or the timeout passes.
    func waitReadable(timeoutMilliseconds: Int32) throws(SystemError) -> Bool {
        try Tunnel.waitReadable(fileDescriptor, timeoutMilliseconds: timeoutMilliseconds)
    }

    /// Moves the socket to another port with the descriptor number unchanged, so threads
    /// that use it need no restart: a socket bound to `port` (0: a free one) and marked
    /// with `mark` (when non-zero) is made first, and only once both succeeded does `dup2`
    /// put it in this descriptor's place, atomically. On failure (EADDRINUSE, EPERM for
    /// the mark) the old binding is untouched. A thread waiting in `poll` on the old socket
    /// goes on waiting on it until its timeout. Coalescing, when on, is turned on for the
    /// new socket too, so receivers need not know. Returns the port now bound.
    func rebind(to port: UInt16, mark: UInt32) throws(SystemError) -> UInt16 {
        let fresh = try UDPSocket(port: port)
        defer { fresh.close() }
        if mark != 0 { try fresh.setMark(mark) }
        if offloads.coalescingActive { try fresh.enableCoalescing() }
        _ = try retryingEINTR("dup2(port \(fresh.port))") { dup2(fresh.fileDescriptor, fileDescriptor) }
        // dup2 clears close-on-exec (Glibc's module map has no dup3); set it again.
        _ = fcntl(fileDescriptor, F_SETFD, FD_CLOEXEC)
        return fresh.port
    }

    /// Marks outgoing datagrams (`SO_MARK`, for policy routing; 0 clears the mark). Needs
    /// CAP_NET_ADMIN.
    func setMark(_ mark: UInt32) throws(SystemError) {
        var value = mark
        _ = try retryingEINTR("setsockopt(SO_MARK \(mark))") {
            setsockopt(fileDescriptor, SOL_SOCKET, SO_MARK, &value, socklen_t(MemoryLayout<UInt32>.size))
        }
    }

    package func close() {
        _ = Glibc.close(fileDescriptor)
    }
}
#endif
