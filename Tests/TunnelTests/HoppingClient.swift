import Foundation
import NetTestSupport
import XCTest
@testable import Tunnel

/// A roaming WireGuard client scripted on a ``Device``, with one UDP socket per underlay
/// address it hops between. Each ``handshakeBurst()`` is what a client that just changed
/// networks may send: an initiation from every address, a newer one from every address
/// 30 ms after the first answer (past HANDSHAKE_INITIATION_RATE), then late copies of the
/// first. It keeps the keypair from the response to its newest initiation, as an
/// initiator must. Used against an in-process runtime and against ztpd in a namespace.
struct HoppingClient {
    let edge: PublicKey
    let server: Endpoint
    let sockets: [BoundUDPSocket]
    private var device: Device
    /// TAI64N seconds of the next initiation: strictly increasing, whatever the wall clock.
    private var clock: UInt64 = 1_800_000_000
    /// Responses to a burst's newest initiation received, over all bursts.
    private(set) var newestAnswers = 0

    init(key: PrivateKey, edge: PublicKey, server: Endpoint, sockets: [BoundUDPSocket]) throws {
        self.edge = edge
        self.server = server
        self.sockets = sockets
        device = Device(privateKey: key)
        try device.addPeer(edge)
    }

    /// One burst; the keypair of the session it establishes.
    mutating func handshakeBurst() throws -> Keypair {
        let first = try nextInitiation()
        for socket in sockets { try socket.send(first.bytes, to: server) }
        var responses = BoundUDPSocket.receiveAll(sockets, idleMilliseconds: 150)
        usleep(30_000)
        let newest = try nextInitiation()
        for socket in sockets { try socket.send(newest.bytes, to: server) }
        for socket in sockets { try socket.send(first.bytes, to: server) }
        responses += BoundUDPSocket.receiveAll(sockets, idleMilliseconds: 150)

        var keypair: Keypair?
        for datagram in responses where datagram.count == MessageResponse.byteCount {
            let response = try MessageResponse(bytes: datagram)
            guard response.receiverIndex == newest.senderIndex else { continue }
            newestAnswers += 1
            if keypair == nil, (try? device.consumeResponse(response)) != nil {
                keypair = try device.beginSession(with: edge)
            }
        }
        guard let keypair else { throw NetLabError("no usable response to the newest initiation among \(responses.count) datagrams") }
        return keypair
    }

    private mutating func nextInitiation() throws -> MessageInitiation {
        clock += 1
        return try device.createInitiation(to: edge, timestamp: TAI64N(unixSeconds: clock, nanoseconds: 0))
    }
}

/// An IPv4 UDP socket bound to one address, optionally inside a network namespace (the
/// socket is made on a short-lived thread that enters the namespace, and stays there).
final class BoundUDPSocket {
    let fd: Int32

    init(address: [UInt8], namespace: String? = nil) throws {
        final class Outcome: @unchecked Sendable { var fd: Int32 = -1; var failure: String? }
        let outcome = Outcome()
        let body: @Sendable () -> Void = {
            if let namespace {
                let target = open("/var/run/netns/\(namespace)", O_RDONLY | O_CLOEXEC)
                defer { if target >= 0 { close(target) } }
                guard target >= 0, BoundUDPSocket.setns(target, BoundUDPSocket.cloneNewNet) == 0 else {
                    outcome.failure = "setns(\(namespace)): errno \(errno)"
                    return
                }
            }
            let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            var sin = sockaddr_in()
            sin.sin_family = sa_family_t(AF_INET)
            sin.sin_addr.s_addr = address.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
            let bound = withUnsafePointer(to: &sin) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard fd >= 0, bound == 0 else {
                outcome.failure = "bind \(address): errno \(errno)"
                if fd >= 0 { close(fd) }
                return
            }
            outcome.fd = fd
        }
        if namespace == nil {
            body()
        } else {
            // Only that thread changes namespace; it ends right after.
            let done = DispatchSemaphore(value: 0)
            Thread { body(); done.signal() }.start()
            done.wait()
        }
        if let failure = outcome.failure { throw NetLabError(failure) }
        fd = outcome.fd
    }

    /// setns(2), which Glibc's Swift module leaves out (it is a _GNU_SOURCE declaration).
    private static let setns: @convention(c) (Int32, Int32) -> Int32 = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "setns") else { return { _, _ in -1 } }
        return unsafeBitCast(symbol, to: (@convention(c) (Int32, Int32) -> Int32).self)
    }()
    private static let cloneNewNet: Int32 = 0x4000_0000

    func send(_ bytes: [UInt8], to destination: Endpoint) throws {
        var sin = sockaddr_in()
        sin.sin_family = sa_family_t(AF_INET)
        sin.sin_addr.s_addr = destination.addressBytes.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
        sin.sin_port = destination.port.bigEndian
        let sent = bytes.withUnsafeBytes { raw in
            withUnsafePointer(to: &sin) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(fd, raw.baseAddress, raw.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        }
        guard sent == bytes.count else { throw NetLabError("sendto \(destination): errno \(errno)") }
    }

    /// What arrives on any of `sockets` until nothing has for `idleMilliseconds`, or until
    /// a datagram satisfies `done` (which is then the last one returned).
    static func receiveAll(_ sockets: [BoundUDPSocket], idleMilliseconds: Int32,
                           until done: ([UInt8]) -> Bool = { _ in false }) -> [[UInt8]] {
        var out: [[UInt8]] = []
        var buffer = [UInt8](repeating: 0, count: 2048)
        var descriptors = sockets.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
        while poll(&descriptors, nfds_t(descriptors.count), idleMilliseconds) > 0 {
            for descriptor in descriptors where descriptor.revents & Int16(POLLIN) != 0 {
                let n = buffer.withUnsafeMutableBytes { recv(descriptor.fd, $0.baseAddress, $0.count, 0) }
                guard n > 0 else { continue }
                out.append(Array(buffer[..<n]))
                if done(out.last!) { return out }
            }
        }
        return out
    }

    deinit { close(fd) }
}
