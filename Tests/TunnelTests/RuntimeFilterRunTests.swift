import Foundation
import XCTest
@testable import Tunnel

/// The packet filter in a running tunnel, fed interleaved flows of one peer in bursts: every
/// packet is either decided or given a same-flow run's verdict (and reported), every change of
/// flow is decided, and a denied flow's packets never reach the TUN.
extension RuntimeSessionTests {
    final class FilterTally: @unchecked Sendable {
        private let lock = NSLock()
        private var decided = 0
        private var repeated = 0
        private var repeatedDrops = 0

        func decide(_ packet: UnsafeRawBufferPointer) -> TunnelRuntime.Verdict {
            lock.lock(); decided += 1; lock.unlock()
            // Port 2 is the denied flow.
            return packet.count >= 24 && packet[23] == 2 ? .drop : .pass
        }

        func repeated(_ verdict: TunnelRuntime.Verdict, _ count: Int) {
            lock.lock()
            repeated += count
            if verdict == .drop { repeatedDrops += count }
            lock.unlock()
        }

        var counts: (decided: Int, repeated: Int, repeatedDrops: Int) {
            lock.lock(); defer { lock.unlock() }
            return (decided, repeated, repeatedDrops)
        }
    }

    func testInterleavedFlowsInBurstsAreEachDecidedAndNoDeniedPacketReachesTheTun() throws {
        let tally = FilterTally()
        let (a, b) = try makePair(
            filterOnB: { direction, _, packet in direction == .inbound ? tally.decide(packet) : .pass },
            repeatedOnB: { direction, _, verdict, count in if direction == .inbound { tally.repeated(verdict, count) } })
        func packet(port: UInt8, marker: UInt8) -> [UInt8] {
            var bytes = self.packet(from: a.address, to: b.address, marker: marker)
            bytes[23] = port
            return bytes
        }
        inject(a, packet(port: 1, marker: 1))
        XCTAssertTrue(receive(b, marker: 1), "the session did not come up")

        // A, B, A, A, B as fast as the TUN takes them, then an A to mark the end.
        let pattern: [UInt8] = [1, 2, 1, 1, 2]
        let rounds = 60
        for round in 0..<rounds {
            for port in pattern { inject(a, packet(port: port, marker: UInt8(10 + round % 100))) }
        }
        inject(a, packet(port: 1, marker: 200))
        var allowed = 0, denied = 0
        var buffer = [UInt8](repeating: 0, count: 2048)
        var done = false
        while !done {
            let n = buffer.withUnsafeMutableBytes { read(b.kernelEnd, $0.baseAddress, $0.count) }
            guard n > 0 else { break }
            if n == 32 {
                if buffer[23] == 2 { denied += 1 } else { allowed += 1 }
                done = buffer[31] == 200
            }
        }
        XCTAssertTrue(done, "the end marker did not arrive")
        XCTAssertEqual(denied, 0, "a packet of the denied flow reached the TUN")
        // The first packet, the rounds and the end marker all went through the filter.
        let total = 1 + rounds * pattern.count + 1
        let counts = tally.counts
        // How the bursts batched is up to the machine: shown, not asserted.
        print("filter calls: \(counts.decided), packets given a run's verdict: \(counts.repeated)")
        let filtered = Int(b.runtime.statistics().peers[a.key.publicKey]?.drops[.filtered] ?? 0)
        XCTAssertEqual(allowed, 3 * rounds + 1, "every packet of the allowed flow arrived")
        XCTAssertEqual(filtered, 2 * rounds, "every packet of the denied flow was dropped by the filter, shared verdicts included")
        XCTAssertEqual(counts.decided + counts.repeated, total, "every packet decided or given its run's verdict")
        // Four flow changes per round and the marker after a B: each one a decision, whatever the batches were.
        XCTAssertGreaterThanOrEqual(counts.decided, 2 + 4 * rounds)
        XCTAssertLessThanOrEqual(counts.repeated, rounds, "only the second A of each A, A pair can share a verdict")
        XCTAssertEqual(counts.repeatedDrops, 0, "no B follows a B")
    }
}
