import Foundation
import NetTestSupport
import XCTest

/// UDP traffic to the tunnel port for the namespace tests, from python3 sockets: a receiver
/// in the edge namespace that tallies what reaches userspace, and a sender in the client
/// namespace that sends a bounded, seeded mix of messages then an end marker.
enum TunnelPortTraffic {
    static let port: UInt16 = 51820

    /// `receive PORT`: prints "ready", then one JSON object {"SOURCE TYPE": count} once the
    /// end marker arrives (or {"timeout": 1} after 20 s of silence).
    /// `send DEST PORT SOURCE KIND:COUNT[:ARG]...`: kinds `init` (148-byte initiations),
    /// `junk` (never valid: unknown types, wrong lengths, non-zero reserved bytes), `transport`
    /// (48 bytes to receiver index ARG), `end` (the marker, a well-formed 64-byte cookie reply).
    static let script = #"""
import json, random, socket, struct, sys
MARKER = b"\x03\x00\x00\x00" + b"END!" * 15
def payload(kind, rng, arg):
    if kind == "init":
        return b"\x01\x00\x00\x00" + rng.randbytes(144)
    if kind == "transport":
        return b"\x04\x00\x00\x00" + struct.pack("<IQ", arg, rng.getrandbits(64)) + rng.randbytes(32)
    if kind == "end":
        return MARKER
    shape = rng.randrange(3)
    if shape == 0:
        return bytes([rng.choice([0, 5, 6, 9, 0x42, 0xFF])]) + rng.randbytes(rng.randrange(0, 200))
    if shape == 1:
        return b"\x01\x00\x00\x00" + rng.randbytes(rng.choice([0, 10, 100, 143, 145, 300]))
    return b"\x01\x00\x01\x00" + rng.randbytes(144)
if sys.argv[1] == "receive":
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    s.bind(("::", int(sys.argv[2])))
    s.settimeout(20)
    print("ready", flush=True)
    tally = {}
    try:
        while True:
            data, addr = s.recvfrom(65535)
            if data == MARKER:
                break
            key = "%s %d" % (addr[0].removeprefix("::ffff:"), data[0] if data else -1)
            tally[key] = tally.get(key, 0) + 1
    except socket.timeout:
        tally = {"timeout": 1}
    print(json.dumps(tally), flush=True)
else:
    dest, port, source = sys.argv[2], int(sys.argv[3]), sys.argv[4]
    s = socket.socket(socket.AF_INET6 if ":" in dest else socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((source, 0))
    rng = random.Random(7)
    for spec in sys.argv[5:]:
        kind, count, *arg = spec.split(":")
        for _ in range(int(count)):
            s.sendto(payload(kind, rng, int(arg[0]) if arg else 0), (dest, port))
"""#

    /// A receiver running in the edge namespace.
    final class Receiver {
        private let process: Process
        private let output: Pipe

        init(pair: NamespacePair) throws {
            output = Pipe()
            process = try pair.start(in: pair.edge, [pair.python, "-c", TunnelPortTraffic.script, "receive", "\(port)"],
                                     output: output)
            let ready = output.fileHandleForReading.availableData
            guard String(decoding: ready, as: UTF8.self).hasPrefix("ready") else {
                process.terminate()
                throw NetLabError("receiver: \(String(decoding: ready, as: UTF8.self))")
            }
        }

        /// Waits for the end marker; returns datagrams received by "SOURCE TYPE".
        func tally() throws -> [String: Int] {
            let data = output.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            let counts = try JSONDecoder().decode([String: Int].self, from: data)
            XCTAssertNil(counts["timeout"], "the end marker never reached the receiver")
            return counts
        }
    }

    /// Sends `specs` from `source` in the client namespace to `destination`, then the marker.
    static func send(_ pair: NamespacePair, from source: String, to destination: String, _ specs: [String]) throws {
        let (status, output) = try pair.exec(in: pair.client, [pair.python, "-c", script, "send", destination, "\(port)",
                                                               source] + specs)
        XCTAssertEqual(status, 0, output)
    }
}
