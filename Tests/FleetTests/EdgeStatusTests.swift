import Etcd
import Fleet
import Foundation
import XCTest

final class EdgeStatusTests: FleetTestCase {
    private func report(_ name: String, hash: String?, refused: String? = nil) -> EdgeReport {
        EdgeReport(name: name, bundleHash: hash, generation: 1, refusedHash: refused, sessions: 2, uptimeSeconds: 5, version: "test")
    }

    func testReporterKeepsTheEdgeKeyFreshAndACleanStopRemovesIt() async throws {
        let generation = Counter()
        let reporter = try EdgeStatusReporter(client: client, layout: layout, edgeName: "edge-a", ttl: 5, interval: .milliseconds(200)) {
            EdgeReport(name: "edge-a", bundleHash: nil, generation: generation.next(), sessions: 0, uptimeSeconds: 0, version: "test")
        }
        let task = Task { try await reporter.run() }
        let listed = try await eventually(5) { try await self.client.get(self.layout.edge("edge-a")) != nil }
        XCTAssertTrue(listed)
        let first = try await client.get(layout.edge("edge-a"))
        XCTAssertNotEqual(first?.lease, 0, "the edge's key is not under a lease")
        let refreshed = try await eventually(5) { (try await self.client.get(self.layout.edge("edge-a"))?.version ?? 0) >= 3 }
        XCTAssertTrue(refreshed, "the report was not rewritten")
        task.cancel()
        _ = try? await task.value
        let gone = try await client.get(layout.edge("edge-a"))
        XCTAssertNil(gone, "a cleanly stopped edge is still listed")
    }

    func testRefreshSoonRewritesTheReportAtOnceRatherThanAtTheNextInterval() async throws {
        let generation = Counter()
        let reporter = try EdgeStatusReporter(client: client, layout: layout, edgeName: "edge-a", ttl: 30, interval: .seconds(20)) {
            EdgeReport(name: "edge-a", bundleHash: nil, generation: generation.next(), sessions: 0, uptimeSeconds: 0, version: "test")
        }
        let task = Task { try await reporter.run() }
        defer { task.cancel() }
        let listed = try await eventually(5) { try await self.client.get(self.layout.edge("edge-a")) != nil }
        XCTAssertTrue(listed)
        for expected in 2...4 {
            reporter.refreshSoon()
            let rewritten = try await eventually(2) {
                (try await self.client.get(self.layout.edge("edge-a"))?.version ?? 0) >= Int64(expected)
            }
            XCTAssertTrue(rewritten, "refreshSoon did not rewrite the report (write \(expected)) well before the 20 s interval")
        }
    }

    func testEdgeThatStopsRenewingDisappearsWhenItsLeaseExpires() async throws {
        let edgeClient = try makeClient()
        let reporter = try EdgeStatusReporter(client: edgeClient, layout: layout, edgeName: "edge-dead", ttl: 2, interval: .milliseconds(200)) {
            EdgeReport(name: "edge-dead", bundleHash: nil, generation: 1, sessions: 0, uptimeSeconds: 0, version: "test")
        }
        let task = Task { try await reporter.run() }
        let listed = try await eventually(5) { try await self.client.get(self.layout.edge("edge-dead")) != nil }
        XCTAssertTrue(listed)
        // The edge's connection to etcd dies with it: no keepalive, no revoke.
        try await edgeClient.shutdown()
        task.cancel()
        _ = try? await task.value
        let stillThere = try await client.get(layout.edge("edge-dead"))
        XCTAssertNotNil(stillThere, "the key went before its lease expired (so the test proves nothing)")
        let expired = try await eventually(6) { try await self.client.get(self.layout.edge("edge-dead")) == nil }
        XCTAssertTrue(expired, "a dead edge outlived its 2 s lease by 4 s")
    }

    func testFleetStatusFlagsStragglersAndRefusalsAgainstThePointer() async throws {
        let old = try await publisher().publish(bundle("old"))
        let new = try await publisher().publish(bundle("new"))
        let reports = [
            report("current", hash: new.pointer.hash),
            report("behind", hash: old.pointer.hash),
            report("refusing", hash: old.pointer.hash, refused: new.pointer.hash),
        ]
        let lease = try await client.grantLease(ttl: 30)
        for report in reports {
            try await client.put(layout.edge(report.name), value: try JSONEncoder().encode(report), lease: lease)
        }
        try await client.put(layout.edge("garbled"), value: Data("not json".utf8), lease: lease)

        let status = try await FleetStatus.read(client: client, layout: layout)
        XCTAssertEqual(status.pointer, new.pointer)
        XCTAssertEqual(status.pointerRevision, new.revision)
        let states = Dictionary(uniqueKeysWithValues: status.edges.map { ($0.report.name, $0.state) })
        XCTAssertEqual(states, ["behind": .straggler, "current": .current, "garbled": .straggler, "refusing": .refused])
        XCTAssertFalse(status.converged)
        XCTAssertTrue(status.edges.allSatisfy { $0.expectedHash == new.pointer.hash })
        let json = String(decoding: try JSONEncoder().encode(status), as: UTF8.self)
        XCTAssertTrue(json.contains("\"bundle_hash\""), json)
    }

    func testFleetStatusOfACanaryExpectsThePreviousBundleOutsideIt() async throws {
        let stable = try await publisher().publish(bundle("stable"))
        let canary = try await publisher().publish(bundle("canary"), rollout: 1)
        let outside = try XCTUnwrap((0..<1000).map { "edge-\($0)" }.first { RolloutBucket.of($0) >= 1 })
        let lease = try await client.grantLease(ttl: 30)
        try await client.put(layout.edge(outside), value: try JSONEncoder().encode(report(outside, hash: stable.pointer.hash)), lease: lease)
        let status = try await FleetStatus.read(client: client, layout: layout)
        XCTAssertEqual(status.edges.first?.expectedHash, stable.pointer.hash)
        XCTAssertEqual(status.edges.first?.state, .current)
        XCTAssertNotEqual(canary.pointer.hash, stable.pointer.hash)
    }

    func testReporterRefusesAnEdgeNameThatIsNotAKeySegment() {
        XCTAssertThrowsError(try EdgeStatusReporter(client: client, layout: layout, edgeName: "a/b") {
            EdgeReport(name: "a/b", bundleHash: nil, generation: 0, sessions: 0, uptimeSeconds: 0, version: "")
        })
    }
}

/// A counter for the report closure, which runs on the reporter's task.
final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var value: UInt64 = 0
    func next() -> UInt64 { lock.withLock { value += 1; return value } }
}
