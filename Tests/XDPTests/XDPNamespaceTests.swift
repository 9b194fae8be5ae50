import Foundation
import NetTestSupport
import Synchronization
import XCTest
@testable import XDP

/// The program attached (native XDP) to the edge's veth in a namespace pair, with real
/// traffic from python3 sockets in the client namespace: what the counters say was dropped
/// never reaches the edge's UDP socket; what they say passed does.
final class XDPNamespaceTests: XCTestCase {
    private var pair: NamespacePair!
    private var xdp: XDPGuard!
    private let logLines = LogLines()

    override func setUpWithError() throws {
        let path = try XDPTestSupport.objectPath()
        pair = try NamespacePair()
        xdp = try XDPGuard(objectPath: path, log: { [logLines] in logLines.append($0) })
        try pair.inside(pair.edge) {
            try xdp.attach(interface: pair.edgeLink, port: TunnelPortTraffic.port, mode: .automatic)
        }
        // Neighbour discovery before any flood, so that no datagram waits on ARP or NDP.
        for address in [NamespacePair.edge4, NamespacePair.edge6] {
            let (status, output) = try pair.exec(in: pair.client, ["ping", "-c", "1", "-W", "2", address])
            XCTAssertEqual(status, 0, output)
        }
    }

    override func tearDown() {
        if let pair, let xdp { _ = try? pair.inside(pair.edge) { try xdp.detach() } }
        xdp = nil
        pair?.tearDown()
        pair = nil
    }

    func testAVethTakesTheProgramNatively() throws {
        XCTAssertEqual(xdp.attachment?.mode, .native, "log: \(logLines.lines)")
        XCTAssertEqual(xdp.attachment?.interface, pair.edgeLink)
    }

    func testAFloodOfJunkAndInitiationsIsDroppedAtXDPWhilePingAndSessionsGoOn() throws {
        let live: UInt32 = 0x0102_0304
        try xdp.setHandshakeRate(perSecond: 5, burst: 10)
        try xdp.updateSessions(receiverIndices: [live])
        let before = try xdp.statistics()

        let receiver = try TunnelPortTraffic.Receiver(pair: pair)
        let pingOutput = Pipe()
        let ping = try pair.start(in: pair.client, ["ping", "-c", "20", "-i", "0.05", "-W", "1", NamespacePair.edge4],
                                  output: pingOutput)
        try TunnelPortTraffic.send(pair, from: NamespacePair.client4, to: NamespacePair.edge4,
                                   ["junk:2000", "init:2000", "transport:50:\(live)", "transport:50:99", "end:1"])
        let received = try receiver.tally()
        let pingText = String(decoding: pingOutput.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        ping.waitUntilExit()
        let after = try xdp.statistics()
        let delta = Dictionary(uniqueKeysWithValues: Reason.allCases.map { ($0, after[$0]! - before[$0]!) })

        XCTAssertEqual(ping.terminationStatus, 0, pingText)
        XCTAssertTrue(pingText.contains(" 0% packet loss"), pingText)
        // Junk: all 2000 dropped at XDP, none reached the socket.
        XCTAssertEqual(delta[.dropUnknownType]! + delta[.dropBadLength]! + delta[.dropReserved]!, 2000)
        // Initiations: the bucket's burst (plus what 5/s refills during the flood) passed, the rest dropped.
        let admitted = delta[.passInitiation]!
        XCTAssertGreaterThanOrEqual(admitted, 10)
        XCTAssertLessThanOrEqual(admitted, 15)
        XCTAssertEqual(delta[.dropRateLimited], 2000 - admitted)
        XCTAssertEqual(received["\(NamespacePair.client4) 1"], Int(admitted), "\(received)")
        // Transport: the live session's 50 passed, the unknown index's 50 dropped.
        XCTAssertEqual(delta[.passTransport], 50)
        XCTAssertEqual(delta[.dropUnknownSession], 50)
        XCTAssertEqual(received["\(NamespacePair.client4) 4"], 50, "\(received)")
        XCTAssertEqual(received.count, 2, "only initiations and transport reached userspace: \(received)")
        XCTAssertEqual(delta[.passCookieReply], 1, "the end marker")
    }

    func testABlockedPrefixGetsNothingOnEitherFamily() throws {
        try xdp.setBlocklist([IPPrefix(parsing: "10.203.0.64/28"), IPPrefix(parsing: "fd00:203::ba0/124")])
        let before = try xdp.statistics()

        let receiver = try TunnelPortTraffic.Receiver(pair: pair)
        try TunnelPortTraffic.send(pair, from: NamespacePair.blocked4, to: NamespacePair.edge4, ["init:100", "junk:100"])
        try TunnelPortTraffic.send(pair, from: NamespacePair.blocked6, to: NamespacePair.edge6, ["init:100", "junk:100"])
        try TunnelPortTraffic.send(pair, from: NamespacePair.client6, to: NamespacePair.edge6, ["init:3"])
        try TunnelPortTraffic.send(pair, from: NamespacePair.client4, to: NamespacePair.edge4, ["init:3", "end:1"])
        let received = try receiver.tally()
        let after = try xdp.statistics()

        XCTAssertEqual(after[.dropBlocked]! - before[.dropBlocked]!, 400)
        XCTAssertEqual(received, ["\(NamespacePair.client4) 1": 3, "\(NamespacePair.client6) 1": 3])
    }

    func testAfterDetachTheSameJunkReachesUserspace() throws {
        try pair.inside(pair.edge) { try xdp.detach() }
        XCTAssertNil(xdp.attachment)
        let before = try xdp.statistics()
        let receiver = try TunnelPortTraffic.Receiver(pair: pair)
        try TunnelPortTraffic.send(pair, from: NamespacePair.client4, to: NamespacePair.edge4, ["junk:30", "end:1"])
        let received = try receiver.tally()
        XCTAssertEqual(received.values.reduce(0, +), 30, "\(received)")
        XCTAssertEqual(try xdp.statistics(), before, "a detached program sees nothing")
    }

    func testAnUpgradeSwapsTheProgramWithoutLosingItsMaps() throws {
        try xdp.setBlocklist([IPPrefix(parsing: "10.203.0.64/28")])
        let firstID = try attachedProgramID()
        try pair.inside(pair.edge) { try xdp.replaceProgram(objectPath: XDPTestSupport.objectPath()) }
        let secondID = try attachedProgramID()
        XCTAssertNotEqual(firstID, secondID)
        XCTAssertNotEqual(secondID, 0)

        let receiver = try TunnelPortTraffic.Receiver(pair: pair)
        try TunnelPortTraffic.send(pair, from: NamespacePair.blocked4, to: NamespacePair.edge4, ["init:20"])
        try TunnelPortTraffic.send(pair, from: NamespacePair.client4, to: NamespacePair.edge4, ["end:1"])
        XCTAssertEqual(try receiver.tally(), [:])
        XCTAssertEqual(try xdp.statistics()[.dropBlocked], 20)
    }

    func testAFreshGuardReplacesAProgramLeftByAnEarlierRun() throws {
        let leftover = try XDPTestSupport.objectPath()
        let successor = try XDPGuard(objectPath: leftover, log: { [logLines] in logLines.append($0) })
        // The first guard "crashes": its program stays attached, nobody detaches it.
        try pair.inside(pair.edge) {
            try successor.attach(interface: pair.edgeLink, port: TunnelPortTraffic.port, mode: .automatic)
        }
        XCTAssertTrue(logLines.lines.contains { $0.contains("left on \(pair.edgeLink) by an earlier run") }, "\(logLines.lines)")
        XCTAssertEqual(successor.attachment?.mode, .native)
        try pair.inside(pair.edge) { try successor.detach() }
        XCTAssertEqual(try attachedProgramID(), 0)
    }

    func testAnInterfaceWithoutNativeXDPFallsBackToGenericWithALogLine() throws {
        let bridge = "ztpbr0" // a bridge: its driver has no native XDP
        let (status, output) = try pair.exec(in: pair.edge, [pair.ip, "link", "add", bridge, "type", "bridge"])
        XCTAssertEqual(status, 0, output)
        let lines = LogLines()
        let generic = try XDPGuard(objectPath: XDPTestSupport.objectPath(), log: { lines.append($0) })
        try pair.inside(pair.edge) {
            try generic.attach(interface: bridge, port: TunnelPortTraffic.port, mode: .automatic)
        }
        XCTAssertEqual(generic.attachment?.mode, .generic)
        XCTAssertTrue(lines.lines.contains { $0.contains("falling back to generic") }, "\(lines.lines)")
        let (_, shown) = try pair.exec(in: pair.edge, [pair.ip, "link", "show", "dev", bridge])
        XCTAssertTrue(shown.contains("xdpgeneric"), shown)
        try pair.inside(pair.edge) { try generic.detach() }
        XCTAssertNil(generic.attachment)
    }

    /// The id of the program on the edge's veth, 0 if none, as `ip link` reports it.
    private func attachedProgramID() throws -> Int {
        let (_, output) = try pair.exec(in: pair.edge, [pair.ip, "-d", "-j", "link", "show", "dev", pair.edgeLink])
        guard let range = output.range(of: #""prog":\{"id":(\d+)"#, options: .regularExpression) else { return 0 }
        return Int(output[range].split(separator: ":").last!)!
    }
}

/// Log lines a guard emitted, collected from any thread.
final class LogLines: Sendable {
    private let storage = Mutex<[String]>([])
    func append(_ line: String) { storage.withLock { $0.append(line) } }
    var lines: [String] { storage.withLock { $0 } }
}
