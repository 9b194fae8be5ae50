import Etcd
import EtcdTestSupport
import Fleet
import Foundation
import XCTest

/// `ztpc publish`, `rollback` and `fleet status` as processes, against a real 3-member etcd cluster.
final class ZTPCFleetCommandTests: XCTestCase {
    private var cluster: EtcdCluster!
    private var client: EtcdClient!
    private var extraClients: [EtcdClient] = []
    private let layout = try! FleetLayout()

    override func setUpWithError() throws {
        cluster = try EtcdCluster.start()
        client = try EtcdClient(endpoints: cluster.clientURLs)
    }

    override func tearDown() async throws {
        for extra in extraClients { try? await extra.shutdown() }
        try await client?.shutdown()
        cluster?.shutdown()
    }

    private var etcdArgument: String { cluster.clientURLs.joined(separator: ",") }

    private func ztpc(_ args: String...) throws -> ProcessRun { try ProcessRun.ztpc(args) }

    /// A one-file policy that allows `port` (its test checks it), or whose test fails.
    private func policy(port: Int, failingTest: Bool = false) -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ztpc-fleet-\(UUID().uuidString)").path
        try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let text = """
            policy: p
            identities:
              bob: { key: "vdi2GU6KcYDBSO1SuIqwWn7EyEpVjuyl3m35R8IqPkw=", user: bob@example.com, tags: [managed] }
            rules:
              - allow bob -> 10.20.1.5:\(port)/tcp
            tests:
              - \(failingTest ? "deny" : "allow") bob -> 10.20.1.5:\(port)/tcp
            """
        XCTAssertTrue(FileManager.default.createFile(atPath: "\(dir)/p.yaml", contents: Data(text.utf8)))
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        return dir
    }

    private func current() async throws -> Publisher.PointerRead {
        try await Publisher(client: client, layout: layout, publisherName: "test").currentPointer()
    }

    /// The hash `ztpc publish` printed.
    private func publishedHash(_ run: ProcessRun) -> String? {
        run.out.split(separator: " ").dropFirst().first.map(String.init)
    }

    func testPublishMovesThePointerAndRollbackReturnsToThePreviousBundle() async throws {
        let first = try ztpc("publish", policy(port: 22), "--etcd", etcdArgument, "--publisher", "alice")
        XCTAssertEqual(first.status, 0, first.err)
        XCTAssertTrue(first.out.hasPrefix("published "), first.out)
        XCTAssertTrue(first.out.contains("previous: none"), first.out)
        let firstHash = try XCTUnwrap(publishedHash(first))
        let afterFirst = try await current()
        XCTAssertEqual(afterFirst.pointer?.hash, firstHash)
        XCTAssertEqual(afterFirst.pointer?.publisher, "alice")
        let stored = try await BundleStore(client: client, layout: layout).fetch(firstHash)
        XCTAssertEqual(BundleHash.of(stored), firstHash)

        let secondPolicy = policy(port: 443)
        let second = try ztpc("publish", secondPolicy, "--etcd", etcdArgument)
        XCTAssertEqual(second.status, 0, second.err)
        let secondHash = try XCTUnwrap(publishedHash(second))
        XCTAssertNotEqual(secondHash, firstHash)
        XCTAssertTrue(second.out.contains("previous: \(firstHash)"), second.out)

        // The same sources compile to the same bytes (the bundle records its source paths too).
        let again = try ztpc("publish", secondPolicy, "--etcd", etcdArgument)
        XCTAssertEqual(again.status, 0, again.err)
        XCTAssertTrue(again.out.contains("already current"), again.out)

        let back = try ztpc("rollback", "--previous", "--etcd", etcdArgument)
        XCTAssertEqual(back.status, 0, back.err)
        XCTAssertTrue(back.out.hasPrefix("rolled back to \(firstHash)"), back.out)
        let afterRollback = try await current()
        XCTAssertEqual(afterRollback.pointer?.hash, firstHash)
        XCTAssertEqual(afterRollback.pointer?.previous, secondHash)

        let forward = try ztpc("rollback", "--to", secondHash, "--etcd", etcdArgument)
        XCTAssertEqual(forward.status, 0, forward.err)
        let afterForward = try await current()
        XCTAssertEqual(afterForward.pointer?.hash, secondHash)
    }

    func testPublishKeepsOnlyTheLastBundlesAndGCDeletesTheRest() async throws {
        var hashes: [String] = []
        for port in [22, 80, 443, 8080] {
            let run = try ztpc("publish", policy(port: port), "--etcd", etcdArgument, "--keep", "9")
            XCTAssertEqual(run.status, 0, run.err)
            XCTAssertTrue(run.out.contains("gc: deleted 0 bundles"), run.out)
            hashes.append(try XCTUnwrap(publishedHash(run)))
        }
        let gc = try ztpc("gc", "--keep", "1", "--etcd", etcdArgument)
        XCTAssertEqual(gc.status, 0, gc.err)
        XCTAssertTrue(gc.out.hasPrefix("gc: deleted 2 bundles"), gc.out)
        let manifests = try await client.range(.prefix(layout.bundlesPrefix), keysOnly: true).keyValues
            .map { String($0.key.dropFirst(layout.bundlesPrefix.count)) }.filter { !$0.contains("/") }
        XCTAssertEqual(Set(manifests), Set(hashes.suffix(2)))
        let back = try ztpc("rollback", "--previous", "--etcd", etcdArgument)
        XCTAssertEqual(back.status, 0, back.err)
        let gone = try ztpc("rollback", "--to", hashes[0], "--etcd", etcdArgument)
        XCTAssertEqual(gone.status, 2, gone.err)
        XCTAssertTrue(gone.err.contains("no bundle \(hashes[0]) is stored in etcd"), gone.err)
        let negative = try ztpc("gc", "--keep", "-1", "--etcd", etcdArgument)
        XCTAssertEqual(negative.status, 2, negative.err)
    }

    func testPublishOfACompiledBundlePublishesItsExactBytesAndRefusesAnythingElse() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ztpc-fleet-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let bundle = "\(dir)/p.ztpb"
        let compiled = try ztpc("compile", policy(port: 22), "-o", bundle)
        XCTAssertEqual(compiled.status, 0, compiled.err)
        let published = try ztpc("publish", "--bundle", bundle, "--etcd", etcdArgument)
        XCTAssertEqual(published.status, 0, published.err)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: bundle))
        XCTAssertEqual(publishedHash(published), BundleHash.of(bytes))

        let junk = "\(dir)/junk.ztpb"
        XCTAssertTrue(FileManager.default.createFile(atPath: junk, contents: Data("not a bundle".utf8)))
        let refused = try ztpc("publish", "--bundle", junk, "--etcd", etcdArgument)
        XCTAssertEqual(refused.status, 2, refused.err)
        XCTAssertTrue(refused.err.contains("is not a policy bundle"), refused.err)
        let both = try ztpc("publish", policy(port: 22), "--bundle", bundle, "--etcd", etcdArgument)
        XCTAssertEqual(both.status, 2, both.err)
        let current = try await current()
        XCTAssertEqual(current.pointer?.hash, BundleHash.of(bytes))
    }

    func testPublishOfAPolicyWhoseTestFailsChangesNothing() async throws {
        let good = try ztpc("publish", policy(port: 22), "--etcd", etcdArgument)
        XCTAssertEqual(good.status, 0, good.err)
        let before = try await current()
        let bad = try ztpc("publish", policy(port: 80, failingTest: true), "--etcd", etcdArgument)
        XCTAssertEqual(bad.status, 1, bad.out + bad.err)
        let after = try await current()
        XCTAssertEqual(after, before)
    }

    func testRacingPublishersThatReviewedTheSameRevisionExactlyOneWins() async throws {
        let base = try ztpc("publish", policy(port: 22), "--etcd", etcdArgument)
        XCTAssertEqual(base.status, 0, base.err)
        let reviewed = try await current()
        let directories = (0..<3).map { policy(port: 1000 + $0) }
        let revision = String(reviewed.revision)
        let etcd = etcdArgument
        let runs = try await withThrowingTaskGroup(of: ProcessRun.self) { group in
            for directory in directories {
                group.addTask { try ProcessRun.ztpc(["publish", directory, "--etcd", etcd, "--expect-revision", revision]) }
            }
            var all: [ProcessRun] = []
            for try await run in group { all.append(run) }
            return all
        }
        let winners = runs.filter { $0.status == 0 }
        let losers = runs.filter { $0.status != 0 }
        XCTAssertEqual(winners.count, 1, runs.map { "\($0.status): \($0.out)\($0.err)" }.joined(separator: "\n"))
        let winnerHash = try XCTUnwrap(winners.first.flatMap(publishedHash))
        let now = try await current()
        XCTAssertEqual(now.pointer?.hash, winnerHash)
        XCTAssertEqual(now.pointer?.previous, reviewed.pointer?.hash)
        for loser in losers {
            XCTAssertEqual(loser.status, 3, loser.err)
            XCTAssertTrue(
                loser.err.contains("someone published meanwhile (revision \(now.revision), hash \(winnerHash)); nothing was changed"),
                loser.err
            )
        }
    }

    func testFleetStatusListsEdgesAndADeadEdgeDisappearsWhenItsLeaseExpires() async throws {
        let published = try ztpc("publish", policy(port: 22), "--etcd", etcdArgument)
        XCTAssertEqual(published.status, 0, published.err)
        let hash = try XCTUnwrap(publishedHash(published))
        let alive = try startReporter("edge-alive", hash: hash)
        let dying = try startReporter("edge-dying", hash: String(repeating: "0", count: 64))
        defer { alive.task.cancel() }
        let bothListed = try await eventually(5) { try await self.client.range(.prefix(self.layout.edgesPrefix)).count == 2 }
        XCTAssertTrue(bothListed)

        let status = try ztpc("fleet", "status", "--etcd", etcdArgument)
        XCTAssertEqual(status.status, 1, "a straggler must make the status fail: \(status.out)\(status.err)")
        XCTAssertTrue(status.out.contains("current: \(hash)"), status.out)
        let lines = status.out.split(separator: "\n")
        XCTAssertTrue(lines.contains { $0.hasPrefix("edge-alive") && $0.contains("current") && $0.contains(hash.prefix(12)) }, status.out)
        XCTAssertTrue(lines.contains { $0.hasPrefix("edge-dying") && $0.contains("straggler") }, status.out)
        XCTAssertTrue(status.out.contains("2 edges: 1 current, 1 straggling, 0 refused"), status.out)

        let json = try ztpc("fleet", "status", "--etcd", etcdArgument, "--json")
        let document = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.out.utf8)) as? [String: Any])
        let edges = try XCTUnwrap(document["edges"] as? [[String: Any]])
        XCTAssertEqual(edges.compactMap { ($0["report"] as? [String: Any])?["name"] as? String }.sorted(), ["edge-alive", "edge-dying"])
        XCTAssertEqual((document["pointer"] as? [String: Any])?["hash"] as? String, hash)

        // The dying edge loses its connection to etcd: no renewal, no goodbye.
        try await dying.client.shutdown()
        dying.task.cancel()
        let expired = try await eventually(8) { try await self.client.range(.prefix(self.layout.edgesPrefix)).count == 1 }
        XCTAssertTrue(expired, "the dead edge outlived its 2 s lease")
        let after = try ztpc("fleet", "status", "--etcd", etcdArgument)
        XCTAssertEqual(after.status, 0, after.out + after.err)
        XCTAssertFalse(after.out.contains("edge-dying"), after.out)
        XCTAssertTrue(after.out.contains("1 edge: 1 current, 0 straggling, 0 refused"), after.out)
    }

    func testUnreachableEtcdExitsWithFourAndSaysWhichMembersWereTried() throws {
        cluster.killAll()
        let run = try ztpc("fleet", "status", "--etcd", etcdArgument)
        XCTAssertEqual(run.status, 4, run.out + run.err)
        XCTAssertTrue(run.err.contains("no etcd member answered (tried \(cluster.clientURLs.joined(separator: ", ")))"), run.err)
        let publish = try ztpc("publish", policy(port: 22), "--etcd", etcdArgument)
        XCTAssertEqual(publish.status, 4, publish.out + publish.err)
    }

    func testRollbackNeedsExactlyOneTarget() throws {
        let neither = try ztpc("rollback", "--etcd", etcdArgument)
        XCTAssertEqual(neither.status, 2, neither.err)
        let both = try ztpc("rollback", "--previous", "--to", String(repeating: "a", count: 64), "--etcd", etcdArgument)
        XCTAssertEqual(both.status, 2, both.err)
        let unknown = try ztpc("rollback", "--to", String(repeating: "a", count: 64), "--etcd", etcdArgument)
        XCTAssertEqual(unknown.status, 2, unknown.err)
        XCTAssertTrue(unknown.err.contains("nothing was published under /ztp"), unknown.err)
    }

    /// An edge's status reporter in this process, with a client of its own and a 2 s lease.
    private func startReporter(_ name: String, hash: String) throws -> (client: EtcdClient, task: Task<Void, Error>) {
        let edgeClient = try EtcdClient(endpoints: cluster.clientURLs)
        extraClients.append(edgeClient)
        let reporter = try EdgeStatusReporter(client: edgeClient, layout: layout, edgeName: name, ttl: 2, interval: .milliseconds(300)) {
            EdgeReport(name: name, bundleHash: hash, generation: 1, sessions: 0, uptimeSeconds: 1, version: "test")
        }
        return (edgeClient, Task { try await reporter.run() })
    }

    private func eventually(_ seconds: Double, _ condition: () async throws -> Bool) async throws -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(50))
        }
        return try await condition()
    }
}
