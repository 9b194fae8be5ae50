import Foundation
import XCTest
@testable import Tunnel

/// ``FilterRun``: one packet-filter call per run of packets of one peer and flow, and a call
/// for every packet whose flow differs.
final class FilterRunTests: XCTestCase {
    /// Counts the filter's calls and the repeats reported, and decides by destination port.
    final class Recorder {
        var calls: [(TunnelRuntime.Direction, PublicKey, [UInt8])] = []
        var repeats: [(PublicKey, TunnelRuntime.Verdict, Int)] = []
        var deniedPorts: Set<UInt16> = []

        func filter(_ direction: TunnelRuntime.Direction, _ key: PublicKey, _ packet: UnsafeRawBufferPointer)
            -> TunnelRuntime.Verdict {
            let bytes = Array(packet)
            calls.append((direction, key, bytes))
            guard bytes.count >= 24 else { return .drop }
            let ip = Reference.ipLength(bytes)
            return deniedPorts.contains(readBigEndian16(bytes, ip + 2)) ? .drop : .pass
        }

        func repeated(_ direction: TunnelRuntime.Direction, _ key: PublicKey, _ verdict: TunnelRuntime.Verdict, _ n: Int) {
            repeats.append((key, verdict, n))
        }
    }

    let peerA = PrivateKey().publicKey
    let peerB = PrivateKey().publicKey
    let flowA = TestFlow(destinationPort: 5201)
    let flowB = TestFlow(destinationPort: 5202)

    func verdicts(_ packets: [(PublicKey, [UInt8])], _ recorder: Recorder, direction: TunnelRuntime.Direction = .inbound)
        -> [TunnelRuntime.Verdict] {
        var run = FilterRun(direction)
        var out: [TunnelRuntime.Verdict] = []
        for (key, packet) in packets {
            out.append(packet.withUnsafeBytes { run.verdict(key, $0, filter: recorder.filter, repeated: recorder.repeated) })
        }
        run.finish(recorder.repeated)
        return out
    }

    func testInterleavedFlowsAreEachDecidedAndOnlyTheSameFlowRunSharesAVerdict() {
        let recorder = Recorder()
        recorder.deniedPorts = [flowB.destinationPort]
        let a = TestPackets.udp(flowA, payload: TestPackets.payload(64))
        let b = TestPackets.udp(flowB, payload: TestPackets.payload(64))
        let a2 = TestPackets.udp(flowA, payload: TestPackets.payload(100, start: 3))
        let got = verdicts([(peerA, a), (peerA, b), (peerA, a), (peerA, a2), (peerA, b)], recorder)
        XCTAssertEqual(got, [.pass, .drop, .pass, .pass, .drop])
        // A, B, A (the fourth packet continues the third's run), B.
        XCTAssertEqual(recorder.calls.map { readBigEndian16($0.2, 22) }, [5201, 5202, 5201, 5202])
        XCTAssertEqual(recorder.repeats.count, 1)
        XCTAssertEqual(recorder.repeats.first?.0, peerA)
        XCTAssertEqual(recorder.repeats.first?.1, .pass)
        XCTAssertEqual(recorder.repeats.first?.2, 1)
    }

    func testTheSegmentsOfOneSuperPacketAreDecidedOnceDespiteTheirFlags() throws {
        for flow in [TestFlow(destinationPort: 5201), TestFlow.v6()] {
            let recorder = Recorder()
            // PSH|FIN|ACK: only the last segment carries PSH and FIN.
            let read = TestPackets.tcpSuperPacket(flow, sequence: 7, flags: 0x19, payload: TestPackets.payload(45 * 1380 - 11),
                                                  gsoSize: 1380)
            let segments = try TestSlots(count: 64).segment(read)
            XCTAssertEqual(segments.count, 45)
            XCTAssertNotEqual(segments.first![Reference.ipLength(segments.first!) + 13], segments.last![Reference.ipLength(segments.last!) + 13])
            let got = verdicts(segments.map { (peerA, $0) }, recorder, direction: .outbound)
            XCTAssertEqual(got, Array(repeating: .pass, count: 45))
            XCTAssertEqual(recorder.calls.count, 1)
            XCTAssertEqual(recorder.calls.first?.0, .outbound)
            XCTAssertEqual(recorder.repeats.map(\.2), [44])
        }
    }

    func testADeniedRunStaysDeniedAndIsReportedAsDropped() {
        let recorder = Recorder()
        recorder.deniedPorts = [flowB.destinationPort]
        let b = TestPackets.udp(flowB, payload: TestPackets.payload(32))
        let got = verdicts(Array(repeating: (peerA, b), count: 5), recorder)
        XCTAssertEqual(got, Array(repeating: .drop, count: 5))
        XCTAssertEqual(recorder.calls.count, 1)
        XCTAssertEqual(recorder.repeats.count, 1)
        XCTAssertEqual(recorder.repeats.first?.1, .drop)
        XCTAssertEqual(recorder.repeats.first?.2, 4)
    }

    func testAnythingTheEnforcerReadsThatDiffersEndsTheRun() {
        let recorder = Recorder()
        let a = TestPackets.udp(flowA, payload: TestPackets.payload(20))
        var otherSourcePort = flowA
        otherSourcePort.sourcePort = 40001
        var otherSource = flowA
        otherSource.source = [10, 1, 0, 9]
        var otherDestination = flowA
        otherDestination.destination = [10, 1, 0, 3]
        let packets: [(PublicKey, [UInt8])] = [
            (peerA, a),
            (peerB, a),  // another peer
            (peerB, TestPackets.tcp(flowA, sequence: 1, payload: [1, 2, 3])),  // another protocol
            (peerB, TestPackets.udp(otherSourcePort, payload: [1])),
            (peerB, TestPackets.udp(otherSource, payload: [1])),
            (peerB, TestPackets.udp(otherDestination, payload: [1])),
            (peerB, TestPackets.udp(TestFlow.v6(), payload: [1])),
        ]
        _ = verdicts(packets, recorder)
        XCTAssertEqual(recorder.calls.count, packets.count)
        XCTAssertTrue(recorder.repeats.isEmpty)
    }

    func testMalformedPacketsAreEachDecidedAndStartNoRun() {
        let recorder = Recorder()
        let a = TestPackets.udp(flowA, payload: TestPackets.payload(40))
        // Cut short of its declared length: the enforcer cannot read it and drops it.
        let cut = Array(a[..<30])
        let got = verdicts([(peerA, a), (peerA, cut), (peerA, cut), (peerA, a)], recorder)
        XCTAssertEqual(recorder.calls.count, 4)
        XCTAssertEqual(got.first, .pass)
        XCTAssertTrue(recorder.repeats.isEmpty)
    }

    func testICMPEchoesWithAnotherIdentifierAreAnotherFlow() {
        let recorder = Recorder()
        func echo(_ identifier: UInt16) -> [UInt8] {
            let icmp: [UInt8] = [8, 0, 0, 0] + bigEndian(identifier) + [0, 1]
            var ip: [UInt8] = [0x45, 0] + bigEndian(UInt16(20 + icmp.count)) + [0, 0, 0x40, 0, 64, 1, 0, 0]
            ip += [10, 1, 0, 1, 10, 1, 0, 2]
            return ip + icmp
        }
        _ = verdicts([(peerA, echo(1)), (peerA, echo(1)), (peerA, echo(2)), (peerA, echo(1))], recorder)
        XCTAssertEqual(recorder.calls.count, 3)
        XCTAssertEqual(recorder.repeats.map(\.2), [1])
    }

    func testFinishReportsTheRunAndTheNextPacketIsDecidedAgain() {
        let recorder = Recorder()
        let a = TestPackets.udp(flowA, payload: TestPackets.payload(20))
        var run = FilterRun(.inbound)
        for _ in 0..<3 { _ = a.withUnsafeBytes { run.verdict(peerA, $0, filter: recorder.filter, repeated: recorder.repeated) } }
        run.finish(recorder.repeated)
        XCTAssertEqual(recorder.repeats.map(\.2), [2])
        _ = a.withUnsafeBytes { run.verdict(peerA, $0, filter: recorder.filter, repeated: recorder.repeated) }
        run.finish(recorder.repeated)
        XCTAssertEqual(recorder.calls.count, 2)
        XCTAssertEqual(recorder.repeats.map(\.2), [2])
    }
}
