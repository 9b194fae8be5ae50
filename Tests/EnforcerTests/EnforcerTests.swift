import Foundation
import XCTest
import PolicyCompiler
import PolicyLang
@testable import Enforcer

final class EnforcerTests: XCTestCase {
    static let alice = "2p5TPYIYr9VbaYCnwQTP01qipoVdOiHJMRbwAHXIIh4="
    static let bob = "vdi2GU6KcYDBSO1SuIqwWn7EyEpVjuyl3m35R8IqPkw="
    static let carol = "d1lZKB/SMO+Wod6QF9zf1lYp5Hp8fQEeWflcfrdCLhE="
    /// Monday 2026-11-23 09:00 UTC, in ms.
    let t0: Int64 = 1_795_424_400_000

    func policy(_ rules: [String], rateLimit: String = "100/s") -> String {
        """
        policy: p
        defaults: { cache_ttl: 5s, rate_limit: \(rateLimit) }
        identities:
          alice: { key: "\(Self.alice)", user: alice@example.com, tags: [managed] }
          bob:   { key: "\(Self.bob)", user: bob@example.com, tags: [unmanaged] }
          carol: { key: "\(Self.carol)", user: carol@example.com }
        rules:
        \(rules.map { "  - \($0)" }.joined(separator: "\n"))

        """
    }

    func tables(_ text: String) throws -> DecisionTables {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("enf-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        FileManager.default.createFile(atPath: "\(dir)/p.yaml", contents: Data(text.utf8))
        var options = PolicyCompiler.Options()
        options.lint = false
        let c = PolicyCompiler.compile(paths: [dir], options: options)
        return try XCTUnwrap(c.tables, "\(c.diagnostics.map(\.message))")
    }

    func enforcer(_ rules: [String], rateLimit: String = "100/s", capacity: Int = 1024) throws -> Enforcer {
        Enforcer(store: PolicyStore(try tables(policy(rules, rateLimit: rateLimit)), origin: "test"), cacheCapacity: capacity)
    }

    func key(_ b64: String) -> PublicKey { try! PublicKey(base64: b64) }

    func inbound(_ e: Enforcer, _ p: Enforcer.PeerContext, _ packet: [UInt8], at: Int64) -> Enforcer.Verdict {
        packet.withUnsafeBytes { e.inbound(p, $0, now: at) }
    }

    func outbound(_ e: Enforcer, _ p: Enforcer.PeerContext, _ packet: [UInt8], at: Int64) -> Enforcer.Verdict {
        packet.withUnsafeBytes { e.outbound(p, $0, now: at) }
    }

    func testAnAllowedFlowPassesAndIsThenServedFromTheCache() throws {
        let e = try enforcer(["allow tag:managed -> 10.10.0.0/24:5432/tcp"])
        let alice = try XCTUnwrap(e.sessionEstablished(key(Self.alice), now: t0))
        let syn = Packets.tcp("10.99.0.2", 40000, "10.10.0.7", 5432)
        XCTAssertEqual(inbound(e, alice, syn, at: t0), .pass)
        XCTAssertEqual(inbound(e, alice, syn, at: t0 + 10), .pass)
        XCTAssertEqual(e.statistics.cacheMisses, 1)
        XCTAssertEqual(e.statistics.cacheHits, 1)
        XCTAssertEqual(inbound(e, alice, Packets.tcp("10.99.0.2", 40000, "10.10.0.7", 22), at: t0), .drop(.defaultDeny))
    }

    func testCachedDeniesKeepTheirReasonInTheCounters() throws {
        let e = try enforcer(["allow * -> 10.10.0.0/24:5432/tcp", "deny * -> 10.10.0.0/24:22/tcp"])
        let alice = try XCTUnwrap(e.sessionEstablished(key(Self.alice), now: t0))
        for i in 0..<3 {
            XCTAssertEqual(inbound(e, alice, Packets.tcp("10.99.0.2", 40000, "10.10.0.7", 22), at: t0 + Int64(i)), .drop(.policyDeny))
            XCTAssertEqual(inbound(e, alice, Packets.tcp("10.99.0.2", 40001, "10.10.0.7", 80), at: t0 + Int64(i)), .drop(.defaultDeny))
        }
        XCTAssertEqual(e.statistics.dropped[.policyDeny], 3)
        XCTAssertEqual(e.statistics.dropped[.defaultDeny], 3)
        XCTAssertEqual(e.statistics.decisionsDenied, 2, "two decisions, four cache hits")
    }

    func testTheCachedDecisionIsAskedAgainAfterItsTTL() throws {
        let e = try enforcer(["allow tag:managed -> 10.10.0.0/24:5432/tcp ttl 2s"])
        let alice = try XCTUnwrap(e.sessionEstablished(key(Self.alice), now: t0))
        let syn = Packets.tcp("10.99.0.2", 40000, "10.10.0.7", 5432)
        XCTAssertEqual(inbound(e, alice, syn, at: t0), .pass)
        XCTAssertEqual(inbound(e, alice, syn, at: t0 + 1999), .pass)
        XCTAssertEqual(e.statistics.cacheMisses, 1)
        XCTAssertEqual(inbound(e, alice, syn, at: t0 + 2000), .pass)
        XCTAssertEqual(e.statistics.cacheMisses, 2)
    }

    func testRepliesPassOnlyForFlowsTheClientOpened() throws {
        let e = try enforcer(["allow * -> 10.10.0.0/24:5432/tcp"])
        let alice = try XCTUnwrap(e.sessionEstablished(key(Self.alice), now: t0))
        XCTAssertEqual(outbound(e, alice, Packets.tcp("10.10.0.7", 5432, "10.99.0.2", 40000), at: t0), .drop(.unsolicited))
        XCTAssertEqual(inbound(e, alice, Packets.tcp("10.99.0.2", 40000, "10.10.0.7", 5432), at: t0), .pass)
        XCTAssertEqual(outbound(e, alice, Packets.tcp("10.10.0.7", 5432, "10.99.0.2", 40000), at: t0 + 1), .pass)
        XCTAssertEqual(outbound(e, alice, Packets.tcp("10.10.0.7", 5432, "10.99.0.2", 40001), at: t0 + 1), .drop(.unsolicited))
        XCTAssertEqual(outbound(e, alice, Packets.tcp("10.10.0.8", 5432, "10.99.0.2", 40000), at: t0 + 1), .drop(.unsolicited))
        // Long after the ttl, a reply of a live flow is decided again and still passes.
        XCTAssertEqual(outbound(e, alice, Packets.tcp("10.10.0.7", 5432, "10.99.0.2", 40000), at: t0 + 60_000), .pass)
        // An idle flow's replies stop.
        XCTAssertEqual(outbound(e, alice, Packets.tcp("10.10.0.7", 5432, "10.99.0.2", 40000), at: t0 + 400_000), .drop(.unsolicited))
    }

    func testTrafficTowardAClientPassesOnlyWhenAStarRuleAllowsIt() throws {
        let e = try enforcer(["allow * -> 10.99.0.0/24:22/tcp", "allow tag:managed -> 10.10.0.0/24:*/tcp"])
        let alice = try XCTUnwrap(e.sessionEstablished(key(Self.alice), now: t0))
        // A host of the origin network opens ssh to alice's tunnel address: a `*` rule allows it.
        XCTAssertEqual(outbound(e, alice, Packets.tcp("10.10.0.7", 50000, "10.99.0.2", 22), at: t0), .pass)
        // alice's answers pass, also after the decision's ttl.
        XCTAssertEqual(inbound(e, alice, Packets.tcp("10.99.0.2", 22, "10.10.0.7", 50000), at: t0 + 1), .pass)
        XCTAssertEqual(inbound(e, alice, Packets.tcp("10.99.0.2", 22, "10.10.0.7", 50000), at: t0 + 60_000), .pass)
        XCTAssertEqual(outbound(e, alice, Packets.tcp("10.10.0.7", 50000, "10.99.0.2", 22), at: t0 + 61_000), .pass)
        // Another port toward alice: no rule, dropped; a tag rule does not count for "anyone".
        XCTAssertEqual(outbound(e, alice, Packets.tcp("10.10.0.7", 50001, "10.99.0.2", 80), at: t0), .drop(.unsolicited))
        let strict = try enforcer(["allow tag:managed -> 10.99.0.0/24:22/tcp"])
        let a2 = try XCTUnwrap(strict.sessionEstablished(key(Self.alice), now: t0))
        XCTAssertEqual(outbound(strict, a2, Packets.tcp("10.10.0.7", 50000, "10.99.0.2", 22), at: t0), .drop(.unsolicited))
    }

    func testICMPErrorsOfAnAllowedFlowPass() throws {
        let e = try enforcer(["allow * -> 10.10.0.0/24:53/udp"])
        let alice = try XCTUnwrap(e.sessionEstablished(key(Self.alice), now: t0))
        let query = Packets.udp("10.99.0.2", 5353, "10.10.0.7", 53)
        XCTAssertEqual(inbound(e, alice, query, at: t0), .pass)
        XCTAssertEqual(outbound(e, alice, Packets.unreachable(from: "10.10.0.1", to: "10.99.0.2", quoting: query), at: t0 + 1), .pass)
        let other = Packets.udp("10.99.0.2", 5353, "10.10.0.9", 53)
        XCTAssertEqual(outbound(e, alice, Packets.unreachable(from: "10.10.0.1", to: "10.99.0.2", quoting: other), at: t0 + 1), .drop(.unsolicited))
    }

    func testEchoAndItsReplyAreOneFlow() throws {
        let e = try enforcer(["allow * -> 10.10.0.1:*/icmp [fd00::1]:*/icmp"])
        let alice = try XCTUnwrap(e.sessionEstablished(key(Self.alice), now: t0))
        XCTAssertEqual(inbound(e, alice, Packets.echo("10.99.0.2", "10.10.0.1", id: 7), at: t0), .pass)
        XCTAssertEqual(outbound(e, alice, Packets.echo("10.10.0.1", "10.99.0.2", id: 7, reply: true), at: t0 + 1), .pass)
        XCTAssertEqual(outbound(e, alice, Packets.echo("10.10.0.1", "10.99.0.2", id: 8, reply: true), at: t0 + 1), .drop(.unsolicited))
        XCTAssertEqual(inbound(e, alice, Packets.echo("fd00::99", "fd00::1", id: 9), at: t0), .pass)
        XCTAssertEqual(outbound(e, alice, Packets.echo("fd00::1", "fd00::99", id: 9, reply: true), at: t0 + 1), .pass)
        XCTAssertEqual(inbound(e, alice, Packets.echo("10.99.0.2", "10.10.0.2", id: 7), at: t0), .drop(.defaultDeny))
    }

    func testUnknownPeersAndPeersAllowedNothingGetNoSession() throws {
        let e = try enforcer(["allow tag:managed -> 10.10.0.0/24:5432/tcp"])
        XCTAssertNil(e.sessionEstablished(try PublicKey(rawBytes: [UInt8](repeating: 9, count: 32)), now: t0))
        XCTAssertNil(e.sessionEstablished(key(Self.carol), now: t0), "carol has no tag a rule needs")
        XCTAssertNotNil(e.sessionEstablished(key(Self.alice), now: t0))
    }

    func testAFloodOfNewFlowsIsCutAtTheRulesRate() throws {
        let e = try enforcer(["allow * -> 10.10.0.0/24:80/tcp rate 5/s"])
        let alice = try XCTUnwrap(e.sessionEstablished(key(Self.alice), now: t0))
        var verdicts: [Enforcer.Verdict] = []
        for port in UInt16(40000)..<40020 {
            verdicts.append(inbound(e, alice, Packets.tcp("10.99.0.2", port, "10.10.0.7", 80), at: t0))
        }
        XCTAssertEqual(verdicts.filter { $0 == .pass }.count, 5)
        XCTAssertEqual(verdicts.filter { $0 == .drop(.flowRateLimited) }.count, 15)
        // Established flows are not charged again.
        XCTAssertEqual(inbound(e, alice, Packets.tcp("10.99.0.2", 40000, "10.10.0.7", 80), at: t0 + 10), .pass)
        // A second later the bucket has refilled.
        XCTAssertEqual(inbound(e, alice, Packets.tcp("10.99.0.2", 50000, "10.10.0.7", 80), at: t0 + 1000), .pass)
    }

    func testPolicyEvaluationsPerClientAreLimited() throws {
        let e = try enforcer(["allow * -> 10.10.0.0/24:*/tcp"], rateLimit: "10/s")
        let alice = try XCTUnwrap(e.sessionEstablished(key(Self.alice), now: t0))
        var passed = 0
        for i in 0..<30 where inbound(e, alice, Packets.tcp("10.99.0.2", 40000, "10.10.0.\(i + 1)", 80), at: t0) == .pass {
            passed += 1
        }
        XCTAssertEqual(passed, 10)
        XCTAssertEqual(e.statistics.dropped[.evaluationRateLimited], 20)
    }

    func testAReloadCutsFlowsWhosePermissionWasRemovedAndKeepsTheOthers() throws {
        let e = try enforcer(["allow * -> 10.10.0.0/24:5432/tcp", "allow * -> 10.20.0.5:22/tcp"])
        let alice = try XCTUnwrap(e.sessionEstablished(key(Self.alice), now: t0))
        let db = Packets.tcp("10.99.0.2", 40000, "10.10.0.7", 5432)
        let ssh = Packets.tcp("10.99.0.2", 40001, "10.20.0.5", 22)
        XCTAssertEqual(inbound(e, alice, db, at: t0), .pass)
        XCTAssertEqual(inbound(e, alice, ssh, at: t0), .pass)
        let next = e.store.install(try tables(policy(["allow * -> 10.10.0.0/24:5432/tcp"])), origin: "test")
        XCTAssertEqual(next.number, 2)
        XCTAssertEqual(inbound(e, alice, db, at: t0 + 1), .pass)
        XCTAssertEqual(inbound(e, alice, ssh, at: t0 + 1), .drop(.defaultDeny))
        XCTAssertEqual(outbound(e, alice, Packets.tcp("10.20.0.5", 22, "10.99.0.2", 40001), at: t0 + 2), .drop(.unsolicited))
        XCTAssertTrue(e.stillAllowed(alice))
        e.store.install(try tables(policy(["allow tag:none -> 10.10.0.0/24:5432/tcp"])), origin: "test")
        XCTAssertFalse(e.stillAllowed(alice))
    }

    func testATimeWindowClosingEndsTheCachedAllow() throws {
        let e = try enforcer(["allow * -> 10.10.0.0/24:22/tcp if time mon-fri 08:00-09:00 UTC"])
        let alice = try XCTUnwrap(e.sessionEstablished(key(Self.alice), now: t0))
        let ssh = Packets.tcp("10.99.0.2", 40000, "10.10.0.7", 22)
        let before = t0 - 2000  // 08:59:58
        XCTAssertEqual(inbound(e, alice, ssh, at: before), .pass)
        XCTAssertEqual(inbound(e, alice, ssh, at: t0 - 1), .pass)
        XCTAssertEqual(inbound(e, alice, ssh, at: t0), .drop(.defaultDeny), "the cached allow ends with the window, not 5 s later")
    }

    func testMalformedPacketsAreDroppedAndCounted() throws {
        let e = try enforcer(["allow * -> *:*"])
        let alice = try XCTUnwrap(e.sessionEstablished(key(Self.alice), now: t0))
        for bad: [UInt8] in [[], [0x45], [0x45] + [UInt8](repeating: 0, count: 10), [0x70, 0, 0], Array(Packets.tcp("10.0.0.1", 1, "10.0.0.2", 2).prefix(30))] {
            XCTAssertEqual(inbound(e, alice, bad, at: t0), .drop(.malformed))
        }
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            var p = Packets.tcp("10.0.0.1", 1, "10.0.0.2", 2)
            p[Int.random(in: 0..<p.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            _ = inbound(e, alice, Array(p.prefix(Int.random(in: 0...p.count, using: &rng))), at: t0)
            _ = outbound(e, alice, p, at: t0)
        }
    }

    func testTheCacheStaysBoundedUnderManyFlows() throws {
        let e = try enforcer(["allow * -> 10.0.0.0/8:*/tcp"], rateLimit: "100000/s", capacity: 64)
        let alice = try XCTUnwrap(e.sessionEstablished(key(Self.alice), now: t0))
        for i in 0..<5000 {
            XCTAssertEqual(inbound(e, alice, Packets.tcp("10.99.0.2", UInt16(1000 + i), "10.10.0.7", 80), at: t0 + Int64(i)), .pass)
        }
        XCTAssertEqual(e.cacheCapacity, 64)
        XCTAssertLessThanOrEqual(e.cachedFlows, 64)
    }

    func testIPv4OptionsAndIPv6AreParsed() throws {
        let p = Packets.v4("10.0.0.1", "10.0.0.2", proto: 6, payload: Packets.ports(1234, 443), ihlWords: 8)
        let s = try XCTUnwrap(p.withUnsafeBytes { PacketSummary.parse($0) })
        XCTAssertEqual(s.destinationPort, 443)
        let v6 = Packets.tcp("fd00::2", 1234, "fd00:30::1", 80)
        let s6 = try XCTUnwrap(v6.withUnsafeBytes { PacketSummary.parse($0) })
        XCTAssertEqual(s6.family, .v6)
        XCTAssertEqual(s6.destination, IPAddress("fd00:30::1")!.value)
        XCTAssertEqual(s6.destinationPort, 80)
    }
}
