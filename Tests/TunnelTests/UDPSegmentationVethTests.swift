import Glibc
import NetTestSupport
import XCTest
@testable import Tunnel

/// `UDP_SEGMENT` across a veth pair between two namespaces, IPv4 and IPv6, to a coalescing
/// receiver: with the device's checksum offload on, and off (`ethtool -K … tx off`).
/// Run under the namespace lock: `flock /tmp/ztp-netns.lock swift test --filter UDPSegmentationVethTests`.
final class UDPSegmentationVethTests: XCTestCase {
    private var lab: NetworkLab?
    private var sockets: [UDPSocket] = []

    override func tearDown() {
        for socket in sockets { socket.close() }
        sockets = []
        lab?.tearDown()
        lab = nil
    }

    /// A sender in `left`, a coalescing receiver in `right`, joined by a veth pair with
    /// 10.91.0.1/24 and fd91::1/64 on the left, .2 and ::2 on the right.
    private func pair() throws -> (lab: NetworkLab, sender: UDPSocket, receiver: UDPSocket) {
        _ = try NetEnvironment.require(tools: ["ip", "ethtool"], needsTUN: false, for: "UDP GSO OVER VETH TEST")
        let lab = try NetworkLab(roles: ["left", "right"])
        self.lab = lab
        try lab.link("left", ["10.91.0.1/24", "fd91::1/64"], "right", ["10.91.0.2/24", "fd91::2/64"])
        let sender = try lab.inside("left") { try UDPSocket(port: 0) }
        sockets.append(sender)
        let receiver = try lab.inside("right") { try UDPSocket(port: 0) }
        sockets.append(receiver)
        guard sender.offloads.segmentationSupported else {
            throw XCTSkip("UDP GSO OVER VETH TEST SKIPPED: this kernel does not know UDP_SEGMENT (Linux 4.18)")
        }
        try receiver.enableCoalescing()
        return (lab, sender, receiver)
    }

    private func sendForty(from sender: UDPSocket, to receiver: UDPSocket, at address: String)
        throws -> (SendOutcome, NumberedDatagrams.Received) {
        let target = try NumberedDatagrams.endpoint(address, of: receiver)
        let datagrams = Array(repeating: (length: 1400, to: target), count: 39) + [(length: 321, to: target)]
        let outcome = sender.sendBatch(NumberedDatagrams.batch(datagrams), count: datagrams.count)
        let room = UDPReceiveBatch(messages: 64, messageSize: UDPReceiveBatch.coalescedMessageSize)
        let received = try NumberedDatagrams.receive(datagrams.count, on: receiver, into: room)
        NumberedDatagrams.assertSame(received.datagrams,
                                     datagrams.indices.map { NumberedDatagrams.payload($0, length: datagrams[$0].length) })
        return (outcome, received)
    }

    func testSegmentedSendsCrossAVethWithChecksumOffload() throws {
        let (_, sender, receiver) = try pair()
        for address in ["10.91.0.2", "fd91::2"] {
            let (outcome, _) = try sendForty(from: sender, to: receiver, at: address)
            XCTAssertEqual(outcome.sent, 40, address)
            XCTAssertEqual(outcome.messages, 1, address)
            XCTAssertNil(outcome.segmentationDisabled, address)
        }
        XCTAssertTrue(sender.offloads.segmentationActive)
    }

    /// Older kernels refuse a segmented send with EIO when the device has no checksum offload
    /// (wireguard-go turns GSO off on that error); Linux 6.18 segments and checksums in
    /// software instead. Either way every datagram arrives, and a refusal is reported once.
    func testWithoutChecksumOffloadEveryDatagramStillArrives() throws {
        let (lab, sender, receiver) = try pair()
        let off = try lab.exec("left", ["ethtool", "-K", "to-right", "tx", "off"])
        XCTAssertTrue(off.succeeded, "ethtool: \(off)")

        let (first, _) = try sendForty(from: sender, to: receiver, at: "10.91.0.2")
        XCTAssertEqual(first.sent, 40)
        XCTAssertEqual(first.failed, 0)
        if let refusal = first.segmentationDisabled {
            XCTAssertEqual(refusal.code, EIO)
            XCTAssertFalse(sender.offloads.segmentationActive)
        } else {
            XCTAssertEqual(first.messages, 1, "accepted segmented, so one message")
            XCTAssertTrue(sender.offloads.segmentationActive)
        }

        let (second, _) = try sendForty(from: sender, to: receiver, at: "fd91::2")
        XCTAssertNil(second.segmentationDisabled, "reported once at most")
        XCTAssertEqual(second.sent, 40)
        XCTAssertEqual(second.messages, sender.offloads.segmentationActive ? 1 : 40)
    }
}
