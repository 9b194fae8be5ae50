import Foundation
import Logging
import XCTest
import Enforcer
import PolicyCompiler
import Tunnel
@testable import Edge

/// Edge's logic driven through ``SessionControl`` with no tunnel: a recording controller
/// stands where ``TunnelRuntime`` stands in ztpd, so the tests see exactly which sessions the
/// edge closes, which peers it adds, changes and removes, and that it does its work on the
/// enforcer only inside the data path's serialisation.
final class SessionControlTests: XCTestCase {
    /// Records every call; `serializedWithDataPath` is a real lock, as the runtime's is, and
    /// counts how often it was taken.
    final class RecordingControl: SessionControl, @unchecked Sendable {
        private let lock = NSLock()
        private let dataPath = NSRecursiveLock()
        private(set) var closed: [PublicKey] = []
        private(set) var peers: [PublicKey: [IPPrefix]] = [:]
        private(set) var serializations = 0
        private(set) var inside = false

        func serializedWithDataPath<T>(_ body: () throws -> T) rethrows -> T {
            dataPath.lock()
            defer { dataPath.unlock() }
            lock.withLock { serializations += 1; inside = true }
            defer { lock.withLock { inside = false } }
            return try body()
        }
        func closeSession(of key: PublicKey) { lock.withLock { closed.append(key) } }
        func hasPeer(_ key: PublicKey) -> Bool { lock.withLock { peers[key] != nil } }
        func addPeer(_ peer: TunnelConfiguration.PeerConfiguration) throws {
            lock.withLock { peers[peer.publicKey] = peer.allowedIPs }
        }
        func updatePeer(_ peer: TunnelConfiguration.PeerConfiguration, replaceAllowedIPs: Bool) throws {
            lock.withLock { peers[peer.publicKey] = (replaceAllowedIPs ? [] : peers[peer.publicKey] ?? []) + peer.allowedIPs }
        }
        func removePeer(_ key: PublicKey) { lock.withLock { peers[key] = nil } }
        func statistics() -> TunnelStatistics { TunnelStatistics(global: .init(), peers: [:], underLoad: false) }
        var peerCount: Int { lock.withLock { peers.count } }
    }

    /// A policy directory of alice (managed, with allowed IPs) and bob (unmanaged, none).
    final class Fixture {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("edge-\(UUID().uuidString)").path

        init() { try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        deinit { try? FileManager.default.removeItem(atPath: dir) }

        func write(_ rules: [String]) {
            let text = """
                policy: edge
                identities:
                  alice: { key: "\(EdgeServiceTests.aliceKey)", user: alice@example.com, tags: [managed], allowed_ips: 10.99.0.2/32 }
                  bob:   { key: "\(EdgeServiceTests.bobKey)", user: bob@example.com, tags: [unmanaged] }
                rules:
                \(rules.map { "  - \($0)" }.joined(separator: "\n"))

                """
            FileManager.default.createFile(atPath: "\(dir)/edge.yaml", contents: Data(text.utf8))
        }

        func service() throws -> EdgeService {
            try EdgeService(source: .directory(dir), cacheSize: 1024, allowLogSample: 1, decisionLog: nil, logger: Logger(label: "test"))
        }

        func tcp(_ src: String, _ sport: UInt16, _ dst: String, _ dport: UInt16) -> [UInt8] {
            func v4(_ s: String) -> [UInt8] { s.split(separator: ".").map { UInt8($0)! } }
            return [0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0] + v4(src) + v4(dst)
                + [UInt8(sport >> 8), UInt8(sport & 0xff), UInt8(dport >> 8), UInt8(dport & 0xff)] + [UInt8](repeating: 0, count: 16)
        }
    }

    private var helper: Fixture!

    override func setUp() { helper = Fixture() }
    override func tearDown() { helper = nil }

    private func reload(_ s: EdgeService) -> Bool {
        let done = expectation(description: "reload")
        let result = LockedBox(false)
        s.reload(reason: "test") { ok in
            result.value = ok
            done.fulfill()
        }
        wait(for: [done], timeout: 10)
        return result.value
    }

    private var alice: PublicKey { try! PublicKey(base64: EdgeServiceTests.aliceKey) }
    private var bob: PublicKey { try! PublicKey(base64: EdgeServiceTests.bobKey) }

    func testAttachingAddsThePolicysIdentitiesWithAllowedIPsAsPeers() throws {
        helper.write(["allow tag:managed -> 10.10.0.0/24:5432/tcp"])
        let edge = try helper.service()
        let control = RecordingControl()
        edge.attach(control: control)
        XCTAssertEqual(control.peers, [alice: [IPPrefix("10.99.0.2/32")!]], "bob lists no allowed_ips: not a peer")
    }

    func testASessionThePolicyAllowsNothingIsClosedThroughTheControl() throws {
        helper.write(["allow tag:managed -> 10.10.0.0/24:5432/tcp"])
        let edge = try helper.service()
        let control = RecordingControl()
        edge.attach(control: control)
        edge.hooks.sessionEstablished?(alice, Endpoint?.none)
        edge.hooks.sessionEstablished?(bob, Endpoint?.none)
        XCTAssertEqual(control.closed, [bob])
        XCTAssertEqual(edge.statusDocument().sessions.map { $0.identity }, ["alice"])
    }

    func testAReloadThatRevokesEverythingClosesTheSessionAndRemovesThePeer() throws {
        helper.write(["allow tag:managed -> 10.10.0.0/24:5432/tcp"])
        let edge = try helper.service()
        let control = RecordingControl()
        edge.attach(control: control)
        edge.hooks.sessionEstablished?(alice, Endpoint?.none)
        XCTAssertEqual(control.closed, [])
        // alice stays an identity (with no allowed_ips now) but is allowed nothing.
        let text = """
            policy: edge
            identities:
              alice: { key: "\(EdgeServiceTests.aliceKey)", user: alice@example.com, tags: [managed] }
              bob:   { key: "\(EdgeServiceTests.bobKey)", user: bob@example.com, tags: [unmanaged] }
            rules:
              - allow tag:unmanaged -> 10.10.0.0/24:80/tcp

            """
        FileManager.default.createFile(atPath: "\(helper.dir)/edge.yaml", contents: Data(text.utf8))
        XCTAssertTrue(reload(edge))
        XCTAssertEqual(control.closed, [alice])
        XCTAssertEqual(control.peers, [:], "the peer the policy added left with its allowed_ips")
        XCTAssertEqual(edge.statusDocument().sessions, [])
    }

    func testWorkOnTheEnforcerOutsidePacketsIsSerialisedWithTheDataPath() throws {
        helper.write(["allow tag:managed -> 10.10.0.0/24:5432/tcp"])
        let edge = try helper.service()
        let control = RecordingControl()
        edge.attach(control: control)
        let before = control.serializations
        edge.hooks.sessionEstablished?(alice, Endpoint?.none)
        _ = edge.status()
        edge.sampleMetrics()
        edge.hooks.sessionEnded?(alice, Endpoint?.none)
        XCTAssertGreaterThanOrEqual(control.serializations - before, 4, "each of the four entered the data path's lock")
        // The packet filter runs under the tunnel's lock already and takes none of its own.
        edge.hooks.sessionEstablished?(alice, Endpoint?.none)
        let counted = control.serializations
        let packet = helper.tcp("10.99.0.2", 40000, "10.10.0.7", 5432)
        let verdict = control.serializedWithDataPath { packet.withUnsafeBytes { edge.hooks.packetFilter!(TunnelRuntime.Direction.inbound, alice, $0) } }
        XCTAssertEqual(verdict, TunnelRuntime.Verdict.pass)
        XCTAssertEqual(control.serializations, counted + 1, "only the lock the tunnel holds around the filter")
    }

    func testTheStatusDocumentRoundTripsThroughJSONWithNullsKept() throws {
        helper.write(["allow tag:managed -> 10.10.0.0/24:5432/tcp"])
        let edge = try helper.service()
        edge.attach(control: RecordingControl())
        edge.hooks.sessionEstablished?(alice, Endpoint?.none)
        let text = edge.status()
        XCTAssertTrue(text.contains("\"last_reload_error\" : null"), text)
        XCTAssertEqual(try EdgeStatus.decode(text), edge.statusDocument().withUptime(of: try EdgeStatus.decode(text)))
        let parsed = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        XCTAssertEqual((parsed["policy"] as? [String: Any])?["generation"] as? Int, 1)
        XCTAssertEqual((parsed["sessions"] as? [[String: Any]])?.first?["identity"] as? String, "alice")
    }
}

private extension EdgeStatus {
    /// The same document with `other`'s uptime, which moves between two reads.
    func withUptime(of other: EdgeStatus) -> EdgeStatus {
        var copy = self
        copy.uptimeSeconds = other.uptimeSeconds
        return copy
    }
}
