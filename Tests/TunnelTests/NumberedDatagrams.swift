import Glibc
import XCTest
@testable import Tunnel

/// Numbered, patterned datagrams for the UDP offload tests: fills a send batch with them and
/// collects what a socket receives, so that a test can compare byte for byte and in order.
enum NumberedDatagrams {
    /// The bytes of datagram `index` of `length` bytes: its number first, so that order
    /// shows, then a pattern that differs per datagram.
    static func payload(_ index: Int, length: Int) -> [UInt8] {
        (0..<length).map { j in
            j < 4 ? UInt8(truncatingIfNeeded: index >> (8 * j)) : UInt8(truncatingIfNeeded: index &* 31 &+ j)
        }
    }

    /// A batch holding `datagrams` (length, destination), each in its own buffer.
    static func batch(_ datagrams: [(length: Int, to: Endpoint)]) -> DatagramBatch {
        let batch = DatagramBatch(capacity: datagrams.count, stride: 2048)
        for (i, datagram) in datagrams.enumerated() {
            let buffer = batch.buffer(i)
            let bytes = payload(i, length: datagram.length)
            buffer.copyBytes(from: bytes)
            batch.pointers[i] = buffer.baseAddress!.assumingMemoryBound(to: UInt8.self)
            batch.lengths[i] = datagram.length
            batch.addresses[i] = datagram.to.socketAddress
        }
        return batch
    }

    /// What a socket received: each datagram's bytes and source, and how many messages
    /// (`recvmmsg` entries) carried them.
    struct Received {
        var datagrams: [[UInt8]] = []
        var sources: [Endpoint?] = []
        var messages = 0
        var dropped = 0
    }

    /// Receives into `batch` until `expected` datagrams arrived, or nothing more came
    /// within a generous deadline (a failure the caller's comparison then shows, not a
    /// timing assertion).
    static func receive(_ expected: Int, on socket: UDPSocket, into batch: UDPReceiveBatch) throws -> Received {
        var received = Received()
        while received.datagrams.count < expected {
            let count = try socket.receive(into: batch)
            if count == 0 && batch.dropped == 0 {
                guard try socket.waitReadable(timeoutMilliseconds: 2000) else { break }
                continue
            }
            received.messages += batch.messageCount
            received.dropped += batch.dropped
            for i in 0..<count {
                received.datagrams.append(Array(batch.datagram(i)))
                received.sources.append(batch.source(i))
            }
        }
        return received
    }

    /// Fails at the first datagram that differs from `expected` (by its number and
    /// length, not a dump of kilobytes), or when the counts differ.
    static func assertSame(_ received: [[UInt8]], _ expected: [[UInt8]], file: StaticString = #filePath,
                           line: UInt = #line) {
        XCTAssertEqual(received.count, expected.count, "datagrams received", file: file, line: line)
        for (k, (got, want)) in zip(received, expected).enumerated() where got != want {
            let number = got.count >= 4 ? Int(got[0]) | Int(got[1]) << 8 : -1
            XCTFail("datagram \(k): \(got.count) bytes (number \(number)), expected \(want.count)", file: file, line: line)
            return
        }
    }

    /// `socket`'s endpoint at `address` (`127.0.0.1`, `::1` or a lab address): where to send to it, and
    /// the source its datagrams to that address arrive from.
    static func endpoint(_ address: String, of socket: UDPSocket) throws -> Endpoint {
        try Endpoint(parsing: address.contains(":") ? "[\(address)]:\(socket.port)" : "\(address):\(socket.port)")
    }
}
