import Foundation
import NetTestSupport
import XCTest
@testable import Tunnel

/// The offload layer against the real kernel: a TUN opened with `IFF_VNET_HDR` and TSO in a
/// fresh namespace, a Python TCP peer on the kernel's side, and the test playing the other
/// TCP end on the TUN's side. Run under `flock /tmp/ztp-netns.lock`.
///
/// Topology: namespace `offload` holds the TUN (10.77.0.1/24, the test is 10.77.0.2 behind
/// it) and forwards to namespace `server` (10.78.0.2) over a veth whose offloads are off, so
/// that a super-packet written to the TUN is segmented and checksummed by the kernel in
/// software from the header and pseudo-header checksum the coalescer wrote.
final class OffloadKernelTests: XCTestCase {
    private static let kernelAddress = "10.77.0.1"
    private static let tunSideAddress: [UInt8] = [10, 77, 0, 2]
    private static let mss: UInt16 = 1380
    private static let mtu = 1420
    private let SYN: UInt8 = 0x02, ACK: UInt8 = 0x10, FIN: UInt8 = 0x01, PSH: UInt8 = 0x08, RST: UInt8 = 0x04

    private var lab: NetworkLab!
    private var tun: TunDevice?

    override func setUpWithError() throws {
        _ = try NetEnvironment.require(tools: ["ip", "python3", "ethtool"], for: "OFFLOAD KERNEL TEST")
        lab = try NetworkLab(roles: ["offload", "server"])
        try lab.link("offload", "10.78.0.1/24", "server", "10.78.0.2/24")
        try lab.sysctl("offload", "net.ipv4.ip_forward", "1")
        try lab.route("server", ["10.77.0.0/24", "via", "10.78.0.1"])
        let ethtool = try lab.exec("offload", ["ethtool", "-K", "to-server", "tx", "off", "sg", "off", "tso", "off", "gso", "off"])
        XCTAssertTrue(ethtool.succeeded, "ethtool: \(ethtool)")
        let device = try lab.inside("offload") { try TunDevice(name: "ztpoff0", offloading: true) }
        tun = device
        XCTAssertNil(device.offloadRefusal, "kernel refused IFF_VNET_HDR/TSO: \(String(describing: device.offloadRefusal))")
        XCTAssertTrue(device.offloads.isSuperset(of: .tcp), "offloads accepted: \(device.offloads)")
        try lab.ip(["-n", lab.namespace("offload"), "addr", "add", "\(Self.kernelAddress)/24", "dev", device.name])
        try lab.ip(["-n", lab.namespace("offload"), "link", "set", device.name, "mtu", "\(Self.mtu)", "up"])
    }

    override func tearDown() {
        tun?.close()
        lab?.tearDown()
    }

    /// The kernel sends TCP into the TUN as `GSO_TCPV4` super-packets; each splits into
    /// packets no longer than the MTU with valid IPv4 and TCP checksums, carrying the
    /// stream exactly.
    func testKernelSuperPacketsSplitIntoValidMTUSizedPackets() throws {
        let tun = try XCTUnwrap(tun)
        let data = Self.pattern(300_000)
        let client = try lab.spawn("offload", ["python3", "-c", """
            import socket
            s = socket.create_connection(("10.77.0.2", 5001), timeout=20)
            s.sendall(bytes(i % 251 for i in range(\(data.count))))
            s.close()
            """], log: "client.log")
        defer { lab.stop(client) }

        let slots = TestSlots(count: 64)
        var syn: [UInt8]?
        let deadline = Date().addingTimeInterval(10)
        while syn == nil, Date() < deadline {
            guard let read = try Self.read(tun) else { continue }
            let packets = try slots.segment(read)
            syn = packets.first { Self.isTCP($0, toPort: 5001) && $0[33] & SYN != 0 }
        }
        let clientSYN = try XCTUnwrap(syn, "no SYN from the client; client log: \(lab.log("client.log"))")
        XCTAssertTrue(Reference.transportChecksumIsValid(clientSYN), "SYN checksum completed")
        let clientPort = readBigEndian16(clientSYN, 20)
        let clientStart = readBigEndian32(clientSYN, 24) &+ 1
        var flow = TestFlow(source: Self.tunSideAddress, destination: [10, 77, 0, 1], sourcePort: 5001, destinationPort: clientPort)
        let ourSequence: UInt32 = 0x1000_0000
        flow.options = [2, 4] + bigEndian(Self.mss)
        try Self.write(tun, TestPackets.tcp(flow, sequence: ourSequence, acknowledgment: clientStart, flags: SYN | ACK,
                                            payload: [], window: 65535))
        flow.options = []

        var received: [UInt8] = []
        var superPackets = 0, largestSegmentCount = 0, finished = false
        while !finished, Date() < deadline {
            guard let read = try Self.read(tun) else { continue }
            let header = try decodeHeader(read)
            let packets = try slots.segment(read)
            if header.segmentation == VirtioNetHeader.VIRTIO_NET_HDR_GSO_TCPV4 {
                superPackets += 1
                largestSegmentCount = max(largestSegmentCount, packets.count)
                XCTAssertEqual(header.gsoSize, Self.mss, "segments of the announced MSS")
            }
            for packet in packets where Self.isTCP(packet, toPort: 5001) {
                XCTAssertLessThanOrEqual(packet.count, Self.mtu)
                XCTAssertTrue(Reference.ipv4HeaderChecksumIsValid(packet), "IPv4 header checksum")
                XCTAssertTrue(Reference.transportChecksumIsValid(packet), "TCP checksum")
                let offset = Int(readBigEndian32(packet, 24) &- clientStart)
                let payload = packet[40...]
                if offset == received.count { received += payload }
                if packet[33] & FIN != 0, offset + payload.count == received.count { finished = true }
            }
            let acknowledgment = clientStart &+ UInt32(received.count) &+ (finished ? 1 : 0)
            try Self.write(tun, TestPackets.tcp(flow, sequence: ourSequence &+ 1, acknowledgment: acknowledgment, flags: ACK,
                                                payload: [], window: 65535))
        }
        XCTAssertTrue(finished, "stream not finished after \(received.count) bytes; client log: \(lab.log("client.log"))")
        XCTAssertEqual(received.count, data.count)
        XCTAssertTrue(received == data, "the stream arrives intact")
        XCTAssertGreaterThan(superPackets, 0, "the kernel used TSO")
        XCTAssertGreaterThan(largestSegmentCount, 1)
    }

    /// Segments merged by ``TunCoalescer`` into one `GSO_TCPV4` write are taken by the
    /// kernel, forwarded, cut up and checksummed in software, and delivered to a socket in
    /// the next namespace intact (a wrong header would make the TUN refuse the write, a
    /// wrong pseudo-header checksum the server drop every segment).
    func testKernelAcceptsACoalescedSuperPacket() throws {
        let tun = try XCTUnwrap(tun)
        let received = lab.path("received.bin")
        let server = try lab.spawn("server", ["python3", "-c", """
            import socket
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("10.78.0.2", 5002))
            s.listen(1)
            print("ready", flush=True)
            s.settimeout(20)
            c, _ = s.accept()
            c.settimeout(20)
            with open("\(received)", "wb") as f:
                while True:
                    d = c.recv(65536)
                    if not d:
                        break
                    f.write(d)
            print("done", flush=True)
            """], log: "server.log")
        defer { lab.stop(server) }
        XCTAssertTrue(eventually(10) { lab.log("server.log").contains("ready") }, "server: \(lab.log("server.log"))")

        var flow = TestFlow(source: Self.tunSideAddress, destination: [10, 78, 0, 2], sourcePort: 40123, destinationPort: 5002)
        let start: UInt32 = 0x2000_0000
        flow.options = [2, 4] + bigEndian(Self.mss)
        try Self.write(tun, TestPackets.tcp(flow, sequence: start, acknowledgment: 0, flags: SYN, payload: [], window: 65535))
        flow.options = []
        var synAck: [UInt8]?
        let slots = TestSlots(count: 64)
        let deadline = Date().addingTimeInterval(10)
        while synAck == nil, Date() < deadline {
            guard let read = try Self.read(tun) else { continue }
            synAck = try slots.segment(read).first { Self.isTCP($0, toPort: 40123) && $0[33] & (SYN | ACK) == SYN | ACK }
        }
        let reply = try XCTUnwrap(synAck, "no SYN-ACK; server: \(lab.log("server.log"))")
        let serverNext = readBigEndian32(reply, 24) &+ 1
        let window = Int(readBigEndian16(reply, 34))

        // As much as the server's first window takes, in MSS segments (the last one short).
        let data = Self.pattern(min(window, 30 * Int(Self.mss)) - 77)
        var segments: [[UInt8]] = []
        var offset = 0
        while offset < data.count {
            let end = min(offset + Int(Self.mss), data.count)
            segments.append(TestPackets.tcp(flow, sequence: start &+ 1 &+ UInt32(offset), acknowledgment: serverNext,
                                            flags: end == data.count ? ACK | PSH : ACK, payload: Array(data[offset..<end]),
                                            identification: UInt16(truncatingIfNeeded: segments.count), window: 65535))
            offset = end
        }
        let fin = TestPackets.tcp(flow, sequence: start &+ 1 &+ UInt32(data.count), acknowledgment: serverNext, flags: FIN | ACK,
                                  payload: [], window: 65535)
        let coalescer = TunCoalescer(packetCapacity: 64, maximumPacketSize: 1600)
        let writes = try coalescer.coalesce(segments + [fin])
        XCTAssertEqual(writes.count, 2, "the data in one super-packet, the FIN alone")
        XCTAssertEqual(try decodeHeader(writes[0]).gsoType, VirtioNetHeader.VIRTIO_NET_HDR_GSO_TCPV4)
        for write in writes {
            try write.withUnsafeBytes { (bytes) throws -> Void in try tun.write(bytes) }
        }
        XCTAssertTrue(eventually(10) { lab.log("server.log").contains("done") },
                      "server did not get the stream: \(lab.log("server.log"))")
        let delivered = FileManager.default.contents(atPath: received).map { [UInt8]($0) } ?? []
        XCTAssertEqual(delivered.count, data.count, "bytes delivered")
        XCTAssertTrue(delivered == data, "the stream arrives intact")
    }

    /// Datagrams merged by ``TunCoalescer`` into one `GSO_UDP_L4` write (the TUN took USO)
    /// are taken by the kernel, forwarded, cut at the first datagram's size with checksums
    /// completed in software, and delivered to a socket in the next namespace one by one,
    /// each intact (a wrong UDP length or pseudo-header checksum and the server gets none).
    func testKernelAcceptsACoalescedUDPSuperPacket() throws {
        let tun = try XCTUnwrap(tun)
        try XCTSkipUnless(tun.offloads.contains(.TUN_F_USO4), "the kernel refused USO: \(tun.offloads)")
        let server = try lab.spawn("server", ["python3", "-c", """
            import socket
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("10.78.0.2", 5003))
            s.settimeout(10)
            print("ready", flush=True)
            while True:
                d = s.recv(65536)
                print(len(d), d[:4].hex(), sum(d) % 65521, flush=True)
            """], log: "udp-server.log")
        defer { lab.stop(server) }
        XCTAssertTrue(eventually(10) { lab.log("udp-server.log").contains("ready") }, "server: \(lab.log("udp-server.log"))")

        let flow = TestFlow(source: Self.tunSideAddress, destination: [10, 78, 0, 2], sourcePort: 40124, destinationPort: 5003)
        // Odd sizes, the last shorter.
        let sizes = Array(repeating: 1333, count: 9) + [401]
        let datagrams = sizes.enumerated().map { i, size in
            TestPackets.udp(flow, payload: [UInt8(i), 0xA5, UInt8(i), 0x5A] + TestPackets.payload(size - 4, start: i),
                            identification: UInt16(i))
        }
        let coalescer = TunCoalescer(packetCapacity: 64, maximumPacketSize: 1600, offloads: tun.offloads)
        let writes = try coalescer.coalesce(datagrams)
        XCTAssertEqual(writes.count, 1)
        XCTAssertEqual(try decodeHeader(writes[0]).gsoType, VirtioNetHeader.VIRTIO_NET_HDR_GSO_UDP_L4)
        try writes[0].withUnsafeBytes { (bytes) throws -> Void in try tun.write(bytes) }
        let expected = datagrams.map { d -> String in
            let payload = Array(d[28...])
            return "\(payload.count) \(payload[..<4].map { String(format: "%02x", $0) }.joined()) \(payload.reduce(0) { $0 + Int($1) } % 65521)"
        }
        XCTAssertTrue(eventually(10) { lab.log("udp-server.log").split(separator: "\n").count > expected.count },
                      "server: \(lab.log("udp-server.log"))")
        let lines = lab.log("udp-server.log").split(separator: "\n").dropFirst().map(String.init)
        XCTAssertEqual(lines, expected, "every datagram delivered, in order, with its own size and bytes")
    }

    /// Without `offloading` (the default until the runtime uses the offload layer) the TUN is
    /// what it always was: no virtio-net header, one plain IP packet per read.
    func testPlainDeviceIsTheDefaultAndReadsBarePackets() throws {
        let plain = try lab.inside("offload") { try TunDevice(name: "ztpplain0") }
        defer { plain.close() }
        XCTAssertEqual(plain.offloads, [])
        XCTAssertFalse(plain.hasVirtioHeaders)
        XCTAssertNil(plain.offloadRefusal)
        try lab.ip(["-n", lab.namespace("offload"), "addr", "add", "10.79.0.1/24", "dev", plain.name])
        try lab.ip(["-n", lab.namespace("offload"), "link", "set", plain.name, "up"])
        let send = try lab.exec("offload", ["python3", "-c",
            "import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x' * 100, ('10.79.0.2', 9))"])
        XCTAssertTrue(send.succeeded, "\(send)")
        var datagram: [UInt8]?
        let deadline = Date().addingTimeInterval(5)
        while datagram == nil, Date() < deadline {
            guard let read = try Self.read(plain) else { continue }
            if read.count >= 28, read[0] == 0x45, read[9] == 17 { datagram = read }
        }
        XCTAssertEqual(datagram?.count, 20 + 8 + 100, "the bare IPv4 packet, no header in front")
    }

    // MARK: Helpers

    private static func pattern(_ count: Int) -> [UInt8] { (0..<count).map { UInt8($0 % 251) } }

    private static func isTCP(_ packet: [UInt8], toPort port: UInt16) -> Bool {
        packet.count >= 40 && packet[0] == 0x45 && packet[9] == 6 && readBigEndian16(packet, 22) == port
    }

    /// One read from the TUN (virtio-net header and packet), or nil after 200 ms of nothing.
    private static func read(_ tun: TunDevice) throws -> [UInt8]? {
        guard try tun.waitReadable(timeoutMilliseconds: 200) else { return nil }
        var buffer = [UInt8](repeating: 0, count: GSOSegmenter.maximumReadSize)
        let count = try buffer.withUnsafeMutableBytes { (bytes) throws -> Int in try tun.read(into: bytes) }
        return Array(buffer[..<count])
    }

    /// Writes a plain packet behind a `GSO_NONE` header.
    private static func write(_ tun: TunDevice, _ packet: [UInt8]) throws {
        let bytes = TestPackets.encode(VirtioNetHeader()) + packet
        try bytes.withUnsafeBytes { (buffer) throws -> Void in try tun.write(buffer) }
    }
}
