import Foundation
import Logging
import XCTest
import Enforcer
import PolicyCompiler
import Tunnel
@testable import Edge

final class EdgeServiceTests: XCTestCase {
    static let aliceKey = "2p5TPYIYr9VbaYCnwQTP01qipoVdOiHJMRbwAHXIIh4="
    static let bobKey = "vdi2GU6KcYDBSO1SuIqwWn7EyEpVjuyl3m35R8IqPkw="
    var dir = ""

    override func setUp() {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("edge-\(UUID().uuidString)").path
        try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: dir)
    }

    func write(_ rules: [String], tests: [String] = []) {
        let text = """
            policy: edge
            identities:
              alice: { key: "\(Self.aliceKey)", user: alice@example.com, tags: [managed], allowed_ips: 10.99.0.2/32 }
              bob:   { key: "\(Self.bobKey)", user: bob@example.com, tags: [unmanaged] }
            rules:
            \(rules.map { "  - \($0)" }.joined(separator: "\n"))
            tests:
            \(tests.map { "  - \($0)" }.joined(separator: "\n"))

            """
        FileManager.default.createFile(atPath: "\(dir)/edge.yaml", contents: Data(text.utf8))
    }

    func tcp(_ src: String, _ sport: UInt16, _ dst: String, _ dport: UInt16) -> [UInt8] {
        func v4(_ s: String) -> [UInt8] { s.split(separator: ".").map { UInt8($0)! } }
        var p: [UInt8] = [0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0] + v4(src) + v4(dst)
        p += [UInt8(sport >> 8), UInt8(sport & 0xff), UInt8(dport >> 8), UInt8(dport & 0xff)] + [UInt8](repeating: 0, count: 16)
        return p
    }

    func service() throws -> EdgeService {
        try EdgeService(source: .directory(dir), cacheSize: 1024, allowLogSample: 1, decisionLog: nil, logger: Logger(label: "test"))
    }

    func reload(_ s: EdgeService) -> Bool {
        let done = expectation(description: "reload")
        let result = LockedBox(false)
        s.reload(reason: "test") { ok in
            result.value = ok
            done.fulfill()
        }
        wait(for: [done], timeout: 10)
        return result.value
    }

    func testPacketsOfAKnownPeerAreDecidedAndUnknownPeersGetNothing() throws {
        write(["allow tag:managed -> 10.10.0.0/24:5432/tcp"])
        let s = try service()
        let hooks = s.hooks
        let alice = try PublicKey(base64: Self.aliceKey), bob = try PublicKey(base64: Self.bobKey)
        hooks.sessionEstablished?(alice, nil)
        hooks.sessionEstablished?(bob, nil)
        let allowed = tcp("10.99.0.2", 40000, "10.10.0.7", 5432)
        XCTAssertEqual(allowed.withUnsafeBytes { hooks.packetFilter!(.inbound, alice, $0) }, .pass)
        XCTAssertEqual(tcp("10.99.0.2", 40000, "10.10.0.7", 22).withUnsafeBytes { hooks.packetFilter!(.inbound, alice, $0) }, .drop)
        XCTAssertEqual(allowed.withUnsafeBytes { hooks.packetFilter!(.inbound, bob, $0) }, .drop, "bob is allowed nothing: no session")
        XCTAssertEqual(tcp("10.10.0.7", 5432, "10.99.0.2", 40000).withUnsafeBytes { hooks.packetFilter!(.outbound, alice, $0) }, .pass)
        hooks.sessionEnded?(alice, nil)
        XCTAssertEqual(allowed.withUnsafeBytes { hooks.packetFilter!(.inbound, alice, $0) }, .drop, "no session, no packets")
    }

    func testABrokenPolicyLeavesTheOldOneInForceAndAFixedOneLoads() throws {
        write(["allow tag:managed -> 10.10.0.0/24:5432/tcp"])
        let s = try service()
        let alice = try PublicKey(base64: Self.aliceKey)
        s.hooks.sessionEstablished?(alice, nil)
        let db = tcp("10.99.0.2", 40000, "10.10.0.7", 5432)
        let ssh = tcp("10.99.0.2", 40001, "10.10.0.7", 22)
        FileManager.default.createFile(atPath: "\(dir)/edge.yaml", contents: Data("policy: edge\nrules:\n  - allow * -> 10.0.0.0/8:99999\n".utf8))
        XCTAssertFalse(reload(s))
        XCTAssertEqual(s.enforcer.store.generation.number, 1)
        XCTAssertEqual(db.withUnsafeBytes { s.hooks.packetFilter!(.inbound, alice, $0) }, .pass)
        XCTAssertTrue(s.status().contains("\"reload_failures\" : 1"), s.status())
        XCTAssertTrue(s.status().contains("edge.yaml:3:"), "the error keeps its location")

        write(["allow tag:managed -> 10.10.0.0/24:22/tcp"], tests: ["deny alice -> 10.10.0.7:5432/tcp"])
        XCTAssertTrue(reload(s))
        XCTAssertEqual(s.enforcer.store.generation.number, 2)
        XCTAssertEqual(db.withUnsafeBytes { s.hooks.packetFilter!(.inbound, alice, $0) }, .drop, "permission removed: cut at the next packet")
        XCTAssertEqual(ssh.withUnsafeBytes { s.hooks.packetFilter!(.inbound, alice, $0) }, .pass)
    }

    func testABundleIsEnforcedLikeItsDirectory() throws {
        write(["allow tag:managed -> 10.10.0.0/24:5432/tcp"])
        let tables = try PolicySource.directory(dir).load()
        let bundle = "\(dir)/policy.ztpb"
        XCTAssertTrue(FileManager.default.createFile(atPath: bundle, contents: Data(PolicyBundle.encode(tables))))
        let s = try EdgeService(source: .bundle(bundle), cacheSize: 64, allowLogSample: 1, decisionLog: nil, logger: Logger(label: "test"))
        let alice = try PublicKey(base64: Self.aliceKey)
        s.hooks.sessionEstablished?(alice, nil)
        XCTAssertEqual(tcp("10.99.0.2", 40000, "10.10.0.7", 5432).withUnsafeBytes { s.hooks.packetFilter!(.inbound, alice, $0) }, .pass)
        XCTAssertEqual(tcp("10.99.0.2", 40000, "10.10.0.7", 22).withUnsafeBytes { s.hooks.packetFilter!(.inbound, alice, $0) }, .drop)
        // A corrupt bundle on reload is refused like a broken directory.
        XCTAssertTrue(FileManager.default.createFile(atPath: bundle, contents: Data("ZTPBNDL\0garbage".utf8)))
        XCTAssertFalse(reload(s))
        XCTAssertEqual(s.enforcer.store.generation.number, 1)
    }

    func testAPolicyWhoseTestsFailIsRefused() throws {
        write(["allow tag:managed -> 10.10.0.0/24:5432/tcp"])
        let s = try service()
        write(["allow tag:managed -> 10.10.0.0/24:5432/tcp"], tests: ["deny alice -> 10.10.0.7:5432/tcp"])
        XCTAssertFalse(reload(s))
        XCTAssertEqual(s.enforcer.store.generation.number, 1)
    }

    func testMetricsCountDecisionsReloadsAndTheGeneration() throws {
        write(["allow tag:managed -> 10.10.0.0/24:5432/tcp"])
        let s = try service()
        let alice = try PublicKey(base64: Self.aliceKey)
        s.hooks.sessionEstablished?(alice, nil)
        _ = tcp("10.99.0.2", 40000, "10.10.0.7", 5432).withUnsafeBytes { s.hooks.packetFilter!(.inbound, alice, $0) }
        _ = tcp("10.99.0.2", 40000, "10.10.0.7", 22).withUnsafeBytes { s.hooks.packetFilter!(.inbound, alice, $0) }
        XCTAssertTrue(reload(s))
        s.sampleMetrics()
        let text = String(decoding: s.metrics.render(), as: UTF8.self)
        XCTAssertTrue(text.contains("ztp_decisions_total{verdict=\"allow\"} 1"), text)
        XCTAssertTrue(text.contains("ztp_decisions_total{verdict=\"deny\"} 1"), text)
        XCTAssertTrue(text.contains("ztp_decisions_by_rule_total{rule=\"edge/1\"} 1"), text)
        XCTAssertTrue(text.contains("ztp_policy_reloads_total 1"), text)
        XCTAssertTrue(text.contains("ztp_policy_generation 2"), text)
        XCTAssertTrue(text.contains("ztp_decision_cache_misses_total 2"), text)
        XCTAssertTrue(text.contains("ztp_sessions 1"), text)
    }

    func testTheDecisionLogIsOneJSONObjectPerLine() throws {
        write(["deny tag:managed -> 10.10.0.0/24:22/tcp", "allow tag:managed -> 10.10.0.0/24:*/tcp"])
        let logPath = "\(dir)/decisions.jsonl"
        let s = try EdgeService(
            source: .directory(dir), cacheSize: 1024, allowLogSample: 1, decisionLog: try DecisionLog(path: logPath),
            logger: Logger(label: "test"))
        let alice = try PublicKey(base64: Self.aliceKey)
        s.hooks.sessionEstablished?(alice, nil)
        _ = tcp("10.99.0.2", 40000, "10.10.0.7", 22).withUnsafeBytes { s.hooks.packetFilter!(.inbound, alice, $0) }
        _ = tcp("10.99.0.2", 40001, "10.10.0.7", 443).withUnsafeBytes { s.hooks.packetFilter!(.inbound, alice, $0) }
        let lines = try String(contentsOfFile: logPath, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 2)
        let deny = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
        XCTAssertEqual(deny["verdict"] as? String, "deny")
        XCTAssertEqual(deny["reason"] as? String, "denied")
        XCTAssertEqual(deny["identity"] as? String, "alice")
        XCTAssertEqual(deny["rules"] as? [String], ["edge/1"])
        XCTAssertEqual(deny["dport"] as? Int, 22)
        XCTAssertEqual(deny["dst"] as? String, "10.10.0.7")
        let allow = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(lines[1].utf8)) as? [String: Any])
        XCTAssertEqual(allow["verdict"] as? String, "allow")
    }
}

extension EdgeServiceTests {
    /// Sixty groups, each listing the one before three times (issue 15): it once wedged reloads.
    func writeTripleReferencedGroups() {
        var text = "policy: edge\nidentities:\n"
        text += "  alice: { key: \"\(Self.aliceKey)\", user: alice@example.com }\n"
        text += "  bob: { key: \"\(Self.bobKey)\", user: bob@example.com }\n"
        text += "groups:\n  g0: [alice@example.com]\n"
        for n in 1...60 { text += "  g\(n): [group:g\(n - 1), group:g\(n - 1), group:g\(n - 1)]\n" }
        text += "rules:\n  - allow group:g60 -> 10.10.0.0/24:22/tcp\n"
        FileManager.default.createFile(atPath: "\(dir)/edge.yaml", contents: Data(text.utf8))
    }

    /// A valid policy of `rules` rules: 40,000 take seconds to compile, even in a release build.
    func writeLargePolicy(rules: Int) {
        var text = "policy: edge\nidentities:\n"
        text += "  alice: { key: \"\(Self.aliceKey)\", user: alice@example.com, tags: [managed] }\n"
        text += "rules:\n"
        for n in 0..<rules { text += "  - allow tag:managed -> 10.\(n >> 8 & 255).\(n & 255).0/24:\(n % 1000 + 1)/tcp\n" }
        FileManager.default.createFile(atPath: "\(dir)/edge.yaml", contents: Data(text.utf8))
    }

    func status(_ s: EdgeService) throws -> [String: Any] {
        let document = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(s.status().utf8)) as? [String: Any])
        return try XCTUnwrap(document["policy"] as? [String: Any])
    }

    func testTheTripleReferencedGroupFileReloadsAndAGoodEditAfterItTakesEffect() throws {
        write(["allow tag:managed -> 10.10.0.0/24:5432/tcp"])
        let s = try service()
        let alice = try PublicKey(base64: Self.aliceKey), bob = try PublicKey(base64: Self.bobKey)
        writeTripleReferencedGroups()
        XCTAssertTrue(reload(s), "compiles at once, and right")
        XCTAssertEqual(s.enforcer.store.generation.number, 2)
        s.hooks.sessionEstablished?(alice, nil)
        s.hooks.sessionEstablished?(bob, nil)
        XCTAssertEqual(tcp("10.99.0.2", 40000, "10.10.0.7", 22).withUnsafeBytes { s.hooks.packetFilter!(.inbound, alice, $0) }, .pass)
        XCTAssertEqual(tcp("10.99.0.3", 40000, "10.10.0.7", 22).withUnsafeBytes { s.hooks.packetFilter!(.inbound, bob, $0) }, .drop)
        write(["allow tag:managed -> 10.10.0.0/24:5432/tcp"])
        XCTAssertTrue(reload(s))
        XCTAssertEqual(s.enforcer.store.generation.number, 3)
    }

    func testACompilePastTheTimeLimitIsRefusedAndALaterGoodEditTakesEffect() throws {
        write(["allow tag:managed -> 10.10.0.0/24:5432/tcp"])
        let s = try EdgeService(
            source: .directory(dir), cacheSize: 64, allowLogSample: 1, decisionLog: nil, logger: Logger(label: "test"),
            reloadTimeout: 0.25)
        writeLargePolicy(rules: 40_000)
        XCTAssertFalse(reload(s))
        XCTAssertEqual(s.enforcer.store.generation.number, 1, "the old policy stays")
        var policy = try status(s)
        XCTAssertEqual(policy["reload_failures"] as? Int, 1)
        XCTAssertEqual(
            policy["last_reload_error"] as? String,
            "policy too complex: compiling took longer than 0.25 s [policy-too-complex]")

        write(["allow tag:managed -> 10.10.0.0/24:22/tcp"])
        XCTAssertTrue(reload(s))
        XCTAssertEqual(s.enforcer.store.generation.number, 2)
        policy = try status(s)
        XCTAssertTrue(policy["last_reload_error"] is NSNull, "cleared by the good reload")
    }

    func testANewChangeSupersedesACompileStillRunningAndTheNewestFilesWin() throws {
        write(["allow tag:managed -> 10.10.0.0/24:5432/tcp"])
        let s = try service()
        writeLargePolicy(rules: 40_000)
        let first = expectation(description: "first reload"), second = expectation(description: "second reload")
        let results = LockedBox<[Bool]>([])
        s.reload(reason: "slow") { ok in
            results.value.append(ok)
            first.fulfill()
        }
        // Let the slow compile get under way (it takes seconds), then change the files.
        Thread.sleep(forTimeInterval: 0.2)
        write(["allow tag:managed -> 10.10.0.0/24:22/tcp"])
        s.reload(reason: "newer") { ok in
            results.value.append(ok)
            second.fulfill()
        }
        wait(for: [first, second], timeout: 60)
        XCTAssertEqual(results.value, [true, true], "both requests are served by the newest compile")
        XCTAssertEqual(s.enforcer.store.generation.number, 2, "one generation installed: the slow compile was abandoned")
        XCTAssertEqual(s.enforcer.store.generation.tables.rules.count, 1, "the newest files are in force")
        let policy = try status(s)
        XCTAssertEqual(policy["reloads_superseded"] as? Int, 1)
        XCTAssertEqual(policy["reloads"] as? Int, 1)
        XCTAssertEqual(policy["reload_failures"] as? Int, 0)
    }

    func testABurstOfRequestsIsServedByFewCompiles() throws {
        write(["allow tag:managed -> 10.10.0.0/24:5432/tcp"])
        let s = try service()
        let done = expectation(description: "all served")
        done.expectedFulfillmentCount = 20
        for n in 0..<20 { s.reload(reason: "burst \(n)") { _ in done.fulfill() } }
        wait(for: [done], timeout: 30)
        let policy = try status(s)
        let compiles = (policy["reloads"] as? Int ?? 0) + (policy["reloads_superseded"] as? Int ?? 0)
        XCTAssertLessThanOrEqual(compiles, 3, "\(policy)")
        XCTAssertEqual(policy["reload_failures"] as? Int, 0)
    }
}

/// A value shared with a completion handler.
final class LockedBox<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: T
    init(_ v: T) { stored = v }
    var value: T {
        get { lock.lock(); defer { lock.unlock() }; return stored }
        set { lock.lock(); stored = newValue; lock.unlock() }
    }
}
