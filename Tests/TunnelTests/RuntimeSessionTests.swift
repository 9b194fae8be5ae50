import Foundation
import NetTestSupport
import XCTest
@testable import Tunnel

/// Two ``TunnelRuntime``s in this process, talking over loopback UDP, each with a socket
/// pair standing in for its TUN device: the session API (closeSession, statistics, the
/// packet filter) without root, namespaces or a kernel interface.
final class RuntimeSessionTests: XCTestCase {
    /// One runtime and the test's end of its fake TUN device.
    final class Side: @unchecked Sendable {
        let key = PrivateKey()
        let address: String
        let name: String
        var runtime: TunnelRuntime!
        var kernelEnd: Int32 = -1
        let events = EventLog()
        /// Every set `receiverIndicesChanged` reported, in order.
        let indexSets = Log<Set<UInt32>>()
        init(address: String, name: String = "") { self.address = address; self.name = name }
    }

    final class Log<Entry>: @unchecked Sendable {
        private let lock = NSLock()
        private var entries: [Entry] = []
        func append(_ entry: Entry) { lock.lock(); entries.append(entry); lock.unlock() }
        var all: [Entry] { lock.lock(); defer { lock.unlock() }; return entries }
    }
    typealias EventLog = Log<String>

    var sides: [Side] = []
    /// Both sides' session events and index reports, in the order they happened.
    let timeline = EventLog()

    override func tearDown() {
        for side in sides {
            side.runtime?.stop()
            if side.kernelEnd >= 0 { close(side.kernelEnd) }
        }
        sides = []
        super.tearDown()
    }

    /// `a` knows `b`'s endpoint (or `bEndpointPort` on loopback); `b` learns `a`'s from
    /// its handshake. With `slowIndexHook`, each receiverIndicesChanged call takes 100 ms.
    func makePair(filterOnB: (@Sendable (TunnelRuntime.Direction, PublicKey, UnsafeRawBufferPointer) -> TunnelRuntime.Verdict)? = nil,
                  repeatedOnB: (@Sendable (TunnelRuntime.Direction, PublicKey, TunnelRuntime.Verdict, Int) -> Void)? = nil,
                  bEndpointPort: UInt16? = nil, slowIndexHook: Bool = false) throws -> (Side, Side) {
        let a = Side(address: "10.77.0.1", name: "a"), b = Side(address: "10.77.0.2", name: "b")
        sides = [a, b]
        let socketA = try UDPSocket(port: 0), socketB = try UDPSocket(port: 0)
        try start(a, socket: socketA, peer: b.key.publicKey, peerAddress: b.address,
                  endpoint: Endpoint(address: [127, 0, 0, 1], port: bEndpointPort ?? socketB.port), slowIndexHook: slowIndexHook)
        try start(b, socket: socketB, peer: a.key.publicKey, peerAddress: a.address, endpoint: nil,
                  filter: filterOnB, repeated: repeatedOnB, slowIndexHook: slowIndexHook)
        return (a, b)
    }

    /// Starts `side`'s runtime on `socket` with one peer and a socket pair as its TUN device.
    func start(_ side: Side, socket: UDPSocket, peer: PublicKey, peerAddress: String, endpoint: Endpoint?,
               filter: (@Sendable (TunnelRuntime.Direction, PublicKey, UnsafeRawBufferPointer) -> TunnelRuntime.Verdict)? = nil,
               repeated: (@Sendable (TunnelRuntime.Direction, PublicKey, TunnelRuntime.Verdict, Int) -> Void)? = nil,
               slowIndexHook: Bool = false, configure: (inout TunnelConfiguration) -> Void = { _ in }) throws {
        var fds: [Int32] = [0, 0]
        XCTAssertEqual(socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue), 0, &fds), 0)
        var timeout = timeval(tv_sec: 3, tv_usec: 0)
        setsockopt(fds[1], SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        side.kernelEnd = fds[1]
        let events = side.events, indexSets = side.indexSets, timeline = timeline, name = side.name
        var config = TunnelConfiguration(privateKey: side.key, peers: [
            .init(publicKey: peer, allowedIPs: [IPPrefix("\(peerAddress)/32")!], endpoint: endpoint),
        ])
        configure(&config)
        let hooks = TunnelRuntime.Hooks(
            sessionEstablished: { key, _ in events.append("up \(key.base64)"); timeline.append("\(name) up") },
            sessionEnded: { key, _ in events.append("down \(key.base64)"); timeline.append("\(name) down") },
            packetFilter: filter,
            packetFilterRepeated: repeated,
            receiverIndicesChanged: { set in
                if slowIndexHook { usleep(100_000) }
                indexSets.append(set)
                timeline.append("\(name) indices \(set.sorted())")
            },
            listenPortChanged: { port in timeline.append("\(name) port \(port)") })
        side.runtime = try TunnelRuntime(configuration: config, tun: TunDevice(packetDescriptor: fds[0], name: "fake"),
                                         socket: socket, hooks: hooks, offloads: .fromTestEnvironment)
        side.runtime.start()
    }

    /// A minimal IPv4/UDP packet from `source` to `destination` carrying `marker`.
    func packet(from source: String, to destination: String, marker: UInt8) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: 32)
        bytes[0] = 0x45; bytes[3] = 32; bytes[8] = 64; bytes[9] = 17
        bytes.replaceSubrange(12..<16, with: IPAddress(source)!.bytes)
        bytes.replaceSubrange(16..<20, with: IPAddress(destination)!.bytes)
        bytes[31] = marker
        return bytes
    }

    func inject(_ side: Side, _ bytes: [UInt8]) {
        _ = bytes.withUnsafeBytes { write(side.kernelEnd, $0.baseAddress, $0.count) }
    }

    /// Reads packets off `side`'s TUN until one carries `marker` (or the 3 s timeout).
    func receive(_ side: Side, marker: UInt8) -> Bool {
        var buffer = [UInt8](repeating: 0, count: 2048)
        for _ in 0..<20 {
            let n = buffer.withUnsafeMutableBytes { read(side.kernelEnd, $0.baseAddress, $0.count) }
            if n <= 0 { return false }
            if n == 32, buffer[31] == marker { return true }
        }
        return false
    }

    func testCloseSessionForcesANewHandshakeAndCountsEverything() throws {
        let (a, b) = try makePair()
        inject(a, packet(from: a.address, to: b.address, marker: 1))
        XCTAssertTrue(receive(b, marker: 1), "first packet did not cross")

        var statsA = a.runtime.statistics(), statsB = b.runtime.statistics()
        XCTAssertEqual(statsA.global.handshakes, 1)
        XCTAssertEqual(statsB.global.handshakes, 1)
        XCTAssertEqual(statsA.global.handshakeInitiationsSent, 1)
        XCTAssertEqual(statsB.peers[a.key.publicKey]?.receivedPackets, 1)
        XCTAssertEqual(statsA.peers[b.key.publicKey]?.sentBytes, UInt64(Keypair.messageCount(for: 32)))
        XCTAssertEqual(statsB.global.drops.total, 0)

        b.runtime.closeSession(of: a.key.publicKey)
        XCTAssertTrue(NetTestbed.eventually(2) { b.events.all.contains("down \(a.key.publicKey.base64)") }, "\(b.events.all)")
        XCTAssertFalse(b.runtime.status()[0].hasSession)
        // A still holds the old keys: its next packet is refused by B, and counted.
        inject(a, packet(from: a.address, to: b.address, marker: 2))
        XCTAssertTrue(NetTestbed.eventually(2) { b.runtime.statistics().global.drops[.unknownReceiver] == 1 })
        XCTAssertFalse(receive(b, marker: 2), "a packet under closed keys got through")

        // Traffic from B needs a new handshake, which B starts itself.
        inject(b, packet(from: b.address, to: a.address, marker: 3))
        XCTAssertTrue(receive(a, marker: 3), "no traffic after closeSession and a new handshake")
        statsA = a.runtime.statistics()
        statsB = b.runtime.statistics()
        XCTAssertEqual(statsB.global.handshakes, 2)
        XCTAssertEqual(statsB.global.handshakeInitiationsSent, 1)
        XCTAssertEqual(statsA.global.handshakes, 2)
    }

    /// closeSession from inside packetFilter (which runs under the runtime's lock) must not
    /// deadlock: it takes effect after the packet.
    func testCloseSessionFromInsidePacketFilterIsDeferred() throws {
        let box = RuntimeBox()
        let (a, b) = try makePair(filterOnB: { direction, key, packet in
            if direction == .inbound, packet.count == 32, packet[31] == 9 {
                box.runtime?.closeSession(of: key)
                return .drop
            }
            return .pass
        })
        box.runtime = b.runtime
        inject(a, packet(from: a.address, to: b.address, marker: 1))
        XCTAssertTrue(receive(b, marker: 1))
        inject(a, packet(from: a.address, to: b.address, marker: 9))
        XCTAssertTrue(NetTestbed.eventually(2) { b.events.all.contains("down \(a.key.publicKey.base64)") }, "\(b.events.all)")
        let stats = b.runtime.statistics()
        XCTAssertEqual(stats.peers[a.key.publicKey]?.drops[.filtered], 1)
        XCTAssertFalse(b.runtime.status()[0].hasSession)
    }

    /// Roaming: `a` reaches `b` through a relay on loopback that, midway, starts
    /// forwarding from another source port (a NAT rebinding). `b` must follow the source of
    /// `a`'s authenticated data packets, without a handshake, and answer there.
    func testEndpointFollowsAPeerWhoseSourceChanges() throws {
        let relay = try UDPRelay()
        defer { relay.stop() }
        let (a, b) = try makePair(bEndpointPort: relay.frontPort)
        relay.target = b.runtime.socket.port
        relay.start()
        inject(a, packet(from: a.address, to: b.address, marker: 1))
        XCTAssertTrue(receive(b, marker: 1))
        XCTAssertEqual(b.runtime.status()[0].endpoint?.port, relay.backPorts[0])

        relay.switchBackSocket()
        inject(a, packet(from: a.address, to: b.address, marker: 2))
        XCTAssertTrue(receive(b, marker: 2))
        XCTAssertEqual(b.runtime.status()[0].endpoint?.port, relay.backPorts[1], "b did not follow the new source")
        inject(b, packet(from: b.address, to: a.address, marker: 3))
        XCTAssertTrue(receive(a, marker: 3), "b's answer did not go to the new endpoint")
        XCTAssertEqual(b.runtime.statistics().global.handshakes, 1, "roaming must not need a handshake")
    }

    /// A transport message for a live index whose ciphertext was tampered with, sent from
    /// another address: dropped as unauthenticated, and it neither moves the endpoint nor
    /// touches the replay window (the genuine message still passes afterwards).
    func testForgedTransportMessageMovesNothing() throws {
        let relay = try UDPRelay()
        defer { relay.stop() }
        let (a, b) = try makePair(bEndpointPort: relay.frontPort)
        relay.target = b.runtime.socket.port
        relay.holdNextForward()
        relay.start()
        inject(a, packet(from: a.address, to: b.address, marker: 1))
        // The first data message is held back by the relay (the handshake went through).
        XCTAssertTrue(NetTestbed.eventually(3) { relay.held != nil }, "no data message held")
        let genuine = try XCTUnwrap(relay.held)
        XCTAssertEqual(genuine[0], 4)
        var forged = genuine
        forged[forged.count - 1] ^= 0x80  // the tag
        let attacker = try UDPSocket(port: 0)
        defer { attacker.close() }
        // Back to back, so that both usually land in one receive batch.
        try attacker.send(forged, to: Endpoint(address: [127, 0, 0, 1], port: b.runtime.socket.port))
        relay.releaseHeld()
        XCTAssertTrue(receive(b, marker: 1), "the genuine message was refused after the forgery")
        XCTAssertTrue(NetTestbed.eventually(2) { b.runtime.statistics().global.drops[.authenticationFailed] == 1 })
        XCTAssertEqual(b.runtime.status()[0].endpoint?.port, relay.backPorts[0], "a forged message moved the endpoint")
        XCTAssertEqual(b.runtime.statistics().global.receivedPackets, 1)
        XCTAssertEqual(b.runtime.statistics().global.drops.total, 1)
    }

    /// Forwards datagrams between a client (whoever sends to `frontPort`) and `target` on
    /// 127.0.0.1, through one of two back sockets; bounded by `stop()` and a 10 s deadline.
    final class UDPRelay: @unchecked Sendable {
        private let front: Int32
        private let backs: [Int32]
        let frontPort: UInt16
        let backPorts: [UInt16]
        private let lock = NSLock()
        private var active = 0
        private var stopped = false
        var target: UInt16 = 0
        private let done = DispatchSemaphore(value: 0)

        init() throws {
            func bound() throws -> (Int32, UInt16) {
                let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
                var address = sockaddr_in()
                address.sin_family = sa_family_t(AF_INET)
                address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
                var length = socklen_t(MemoryLayout<sockaddr_in>.size)
                let ok = withUnsafeMutablePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
                    }
                }
                guard fd >= 0, ok else { throw NetLabError("relay socket: errno \(errno)") }
                return (fd, UInt16(bigEndian: address.sin_port))
            }
            (front, frontPort) = try bound()
            let one = try bound(), two = try bound()
            backs = [one.0, two.0]
            backPorts = [one.1, two.1]
        }

        private var holding = false
        private var heldDatagram: [UInt8]?

        func switchBackSocket() { lock.lock(); active = 1; lock.unlock() }

        /// Keeps the next transport message from the client instead of forwarding it.
        func holdNextForward() { lock.lock(); holding = true; lock.unlock() }

        var held: [UInt8]? { lock.lock(); defer { lock.unlock() }; return heldDatagram }

        /// Forwards the held message now.
        func releaseHeld() {
            lock.lock()
            let datagram = heldDatagram
            heldDatagram = nil
            let out = backs[active]
            lock.unlock()
            guard let datagram else { return }
            var destination = sockaddr_in()
            destination.sin_family = sa_family_t(AF_INET)
            destination.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
            destination.sin_port = target.bigEndian
            _ = datagram.withUnsafeBytes { raw in
                withUnsafePointer(to: &destination) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        sendto(out, raw.baseAddress, raw.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                    }
                }
            }
        }

        func start() {
            Thread { [self] in run(); done.signal() }.start()
        }

        func stop() {
            lock.lock()
            let wasStopped = stopped
            stopped = true
            lock.unlock()
            if !wasStopped, target != 0 { done.wait() }
            for fd in [front] + backs { close(fd) }
        }

        private func run() {
            var client = sockaddr_in()
            var buffer = [UInt8](repeating: 0, count: 65536)
            let deadline = Date().addingTimeInterval(10)
            while Date() < deadline {
                lock.lock()
                let isStopped = stopped
                lock.unlock()
                if isStopped { return }
                var fds = ([front] + backs).map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
                guard poll(&fds, nfds_t(fds.count), 50) > 0 else { continue }
                for descriptor in fds where descriptor.revents & Int16(POLLIN) != 0 {
                    var source = sockaddr_in()
                    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
                    let n = buffer.withUnsafeMutableBytes { raw in
                        withUnsafeMutablePointer(to: &source) {
                            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                                recvfrom(descriptor.fd, raw.baseAddress, raw.count, 0, $0, &length)
                            }
                        }
                    }
                    guard n > 0 else { continue }
                    var destination: sockaddr_in
                    let out: Int32
                    if descriptor.fd == front {
                        client = source
                        lock.lock()
                        if holding, n > 32, buffer[0] == 4 {
                            holding = false
                            heldDatagram = Array(buffer[..<n])
                            lock.unlock()
                            continue
                        }
                        lock.unlock()
                        destination = sockaddr_in()
                        destination.sin_family = sa_family_t(AF_INET)
                        destination.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
                        destination.sin_port = target.bigEndian
                        lock.lock()
                        out = backs[active]
                        lock.unlock()
                    } else {
                        destination = client
                        out = front
                    }
                    _ = buffer.withUnsafeBytes { raw in
                        withUnsafePointer(to: &destination) {
                            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                                sendto(out, raw.baseAddress, n, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                            }
                        }
                    }
                }
            }
        }
    }

    final class RuntimeBox: @unchecked Sendable {
        var runtime: TunnelRuntime?
    }
}
