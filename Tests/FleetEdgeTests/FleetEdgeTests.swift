import Etcd
import Fleet
import Foundation
import NetTestSupport
import XCTest

/// Issue 10's fleet tests: 3 ztpd edges (processes, no tunnel) following a real 3-member etcd
/// cluster, with signed 10-rule bundles.
final class FleetEdgeTests: XCTestCase {
    private var lab: FleetLab!

    override func setUp() async throws {
        lab = try FleetLab(edges: 3)
    }

    private var failed = false

    override func recordFailure(withDescription description: String, inFile filePath: String, atLine lineNumber: Int, expected: Bool) {
        failed = true
        super.recordFailure(withDescription: description, inFile: filePath, atLine: lineNumber, expected: expected)
    }

    override func tearDown() async throws {
        // The edges' logs say why they did not follow; only a failing test needs them.
        if let lab, failed {
            for index in 0..<lab.edgeCount { print("--- edge \(index) log:\n\(lab.edgeLog(index).suffix(4000))") }
        }
        await lab?.shutdown()
    }

    /// Publishes a first bundle and starts the edges on it (each bootstraps from etcd).
    private func startFleet() async throws -> String {
        let (published, hash) = try lab.publish(try lab.policy("first"))
        XCTAssertTrue(published.succeeded, "\(published)")
        let first = try XCTUnwrap(hash)
        try lab.startEdges()
        XCTAssertEqual(lab.bundleHashes(), Array(repeating: first, count: 3))
        return first
    }

    private func allEdges(enforce hash: String, within seconds: Double) async -> Double? {
        await timeUntil(seconds) { lab.bundleHashes().allSatisfy { $0 == hash } }
    }

    private func fleetStatus(shows hash: String, within seconds: Double) async throws -> Bool {
        try await timeUntil(seconds) {
            let status = try await lab.status()
            return status.edges.count == 3 && status.converged && status.edges.allSatisfy { $0.report.bundleHash == hash }
        } != nil
    }

    // 1.
    func testAPublishReachesAllThreeEdgesWithinOneSecondAndFleetStatusShowsIt() async throws {
        _ = try await startFleet()
        let (published, hash) = try lab.publish(try lab.policy("second"))
        XCTAssertTrue(published.succeeded, "\(published)")
        let second = try XCTUnwrap(hash)
        let took = await allEdges(enforce: second, within: 1)
        XCTAssertNotNil(took, "not every edge enforces the new bundle 1 s after ztpc publish returned: \(lab.bundleHashes())")
        let reported = try await fleetStatus(shows: second, within: 1)
        XCTAssertTrue(reported, "fleet status does not show every edge on \(second)")
        let names = try await lab.status().edges.map(\.report.name)
        XCTAssertEqual(names, ["edge-0", "edge-1", "edge-2"])
    }

    // 2.
    func testUntrustedCorruptAndFailingBundlesAreRefusedByEveryEdgeAndThePreviousKeepsEnforcing() async throws {
        let good = try await startFleet()

        // Signed by a key no edge trusts.
        let (untrusted, untrustedHash) = try lab.publish(try lab.policy("untrusted"), signedWith: lab.untrustedKey)
        XCTAssertTrue(untrusted.succeeded, "\(untrusted)")
        try await assertRefusedEverywhere(try XCTUnwrap(untrustedHash), keeping: good, because: "untrusted")

        // Corrupt: a signed bundle with one byte flipped, stored under the hash of its bytes.
        let signed = try lab.ztpcRun(["compile", try lab.policy("corrupt"), "-o", lab.directory.appendingPathComponent("c.ztpb").path, "--sign", lab.trustedKey])
        XCTAssertTrue(signed.succeeded, "\(signed)")
        var bytes = try Data(contentsOf: lab.directory.appendingPathComponent("c.ztpb"))
        bytes[bytes.count / 2] ^= 0x5a
        let corrupt = try await Publisher(client: lab.client, layout: lab.layout, publisherName: "test").publish(bytes)
        try await assertRefusedEverywhere(corrupt.pointer.hash, keeping: good, because: "checksum")

        // A policy whose test fails never leaves ztpc: nothing is published.
        let before = try await lab.status().pointerRevision
        let (failing, _) = try lab.publish(try lab.policy("failing", failingTest: true))
        XCTAssertEqual(failing.status, 1, "\(failing)")
        let after = try await lab.status().pointerRevision
        XCTAssertEqual(after, before)
        XCTAssertEqual(lab.bundleHashes(), Array(repeating: good, count: 3))
    }

    private func assertRefusedEverywhere(_ hash: String, keeping good: String, because word: String) async throws {
        let refused = try await timeUntil(3) {
            let status = try await lab.status()
            return status.edges.count == 3 && status.edges.allSatisfy { $0.state == .refused && $0.report.refusedHash == hash }
        }
        let status = try await lab.status()
        XCTAssertNotNil(refused, "not every edge reports \(hash) refused: \(status.edges.map { "\($0.report.name) \($0.state)" })")
        for edge in status.edges {
            XCTAssertEqual(edge.report.bundleHash, good)
            XCTAssertTrue(edge.report.lastError?.contains(word) == true, "\(edge.report.name): \(edge.report.lastError ?? "nil")")
        }
        XCTAssertEqual(lab.bundleHashes(), Array(repeating: good, count: 3), "an edge dropped the previous policy")
    }

    // 3.
    func testEdgesKeepEnforcingThroughEtcdOutagesAndConvergeAfter() async throws {
        _ = try await startFleet()
        // One member down: publishes still succeed and reach every edge.
        lab.cluster.kill(0)
        let (withTwo, hashWithTwo) = try lab.publish(try lab.policy("two-members"))
        XCTAssertTrue(withTwo.succeeded, "\(withTwo)")
        let second = try XCTUnwrap(hashWithTwo)
        let reachedWithTwo = await allEdges(enforce: second, within: 3)
        XCTAssertNotNil(reachedWithTwo, "with one member down: \(lab.bundleHashes())")

        // The whole cluster down: edges keep enforcing; an edge restarted meanwhile enforces its cache.
        lab.cluster.killAll()
        try await Task.sleep(for: .seconds(1))
        XCTAssertEqual(lab.bundleHashes(), Array(repeating: second, count: 3))
        lab.stopEdge(1)
        try lab.startEdge(1)
        XCTAssertEqual(lab.bundleHash(1), second, "a restarted edge does not enforce its cached bundle with etcd down")

        // The cluster back: a publish converges on every edge within 2 s.
        try lab.cluster.restartAll()
        let (afterOutage, hashAfter) = try lab.publish(try lab.policy("after-outage"))
        XCTAssertTrue(afterOutage.succeeded, "\(afterOutage)")
        let third = try XCTUnwrap(hashAfter)
        let converged = await allEdges(enforce: third, within: 2)
        XCTAssertNotNil(converged, "2 s after the cluster came back and a publish: \(lab.bundleHashes())")
    }

    // 4.
    func testTwoConcurrentPublishersExactlyOneWinsAndTheEdgesRunTheWinner() async throws {
        _ = try await startFleet()
        let reviewed = try await lab.status().pointerRevision
        let policies = [try lab.policy("racer-a"), try lab.policy("racer-b")]
        let lab = self.lab!
        let results = try await withThrowingTaskGroup(of: (Command.Result, String?).self) { group in
            for policy in policies {
                group.addTask { try lab.publish(policy, extra: ["--expect-revision", String(reviewed)]) }
            }
            var all: [(Command.Result, String?)] = []
            for try await result in group { all.append(result) }
            return all
        }
        let winners = results.filter { $0.0.succeeded }
        XCTAssertEqual(winners.count, 1, results.map { "\($0.0)" }.joined(separator: "\n"))
        let loser = try XCTUnwrap(results.first { !$0.0.succeeded }?.0)
        XCTAssertEqual(loser.status, 3, "\(loser)")
        XCTAssertTrue(loser.output.contains("someone published meanwhile"), loser.output)
        let winner = try XCTUnwrap(winners.first?.1)
        XCTAssertTrue(loser.output.contains("hash \(winner)); nothing was changed"), loser.output)
        let reached = await allEdges(enforce: winner, within: 2)
        XCTAssertNotNil(reached, "\(lab.bundleHashes())")
    }

    // 5.
    func testRollbackReturnsEveryEdgeToThePreviousBundle() async throws {
        let first = try await startFleet()
        let (published, hash) = try lab.publish(try lab.policy("second"))
        XCTAssertTrue(published.succeeded, "\(published)")
        let second = try XCTUnwrap(hash)
        let onSecond = await allEdges(enforce: second, within: 2)
        XCTAssertNotNil(onSecond)
        let rollback = try lab.ztpcRun(["rollback", "--previous", "--etcd", lab.etcdArgument])
        XCTAssertTrue(rollback.succeeded, "\(rollback)")
        let back = await allEdges(enforce: first, within: 2)
        XCTAssertNotNil(back, "after rollback: \(lab.bundleHashes())")
        let reported = try await fleetStatus(shows: first, within: 2)
        XCTAssertTrue(reported)
    }

    func testAStoppedEdgeLeavesFleetStatusAtOnce() async throws {
        _ = try await startFleet()
        lab.stopEdge(2)
        let names = try await lab.status().edges.map(\.report.name)
        XCTAssertEqual(names, ["edge-0", "edge-1"])
    }
}
