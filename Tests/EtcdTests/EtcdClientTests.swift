import Etcd
import EtcdTestSupport
import Foundation
import XCTest

/// The etcd client against a real 3-member cluster on loopback.
final class EtcdClientTests: XCTestCase {
    private var cluster: EtcdCluster!
    private var client: EtcdClient!

    override func setUpWithError() throws {
        cluster = try EtcdCluster.start()
        client = try EtcdClient(endpoints: cluster.clientURLs)
    }

    override func tearDown() async throws {
        try await client?.shutdown()
        cluster?.shutdown()
    }

    func testPutThenGetReturnsTheValueAndItsRevisions() async throws {
        let revision = try await client.put("/t/a", value: Data("one".utf8))
        let read = try await client.get("/t/a")
        let kv = try XCTUnwrap(read)
        XCTAssertEqual(kv.key, "/t/a")
        XCTAssertEqual(kv.value, Data("one".utf8))
        XCTAssertEqual(kv.modRevision, revision)
        XCTAssertEqual(kv.createRevision, revision)
        XCTAssertEqual(kv.version, 1)

        try await client.put("/t/a", value: Data("two".utf8))
        let reread = try await client.get("/t/a")
        let changed = try XCTUnwrap(reread)
        XCTAssertEqual(changed.value, Data("two".utf8))
        XCTAssertEqual(changed.version, 2)
        XCTAssertEqual(changed.createRevision, revision)
        XCTAssertGreaterThan(changed.modRevision, revision)
    }

    func testGetOfAMissingKeyIsNil() async throws {
        let missing = try await client.get("/t/missing")
        XCTAssertNil(missing)
    }

    func testBinaryValuesSurviveTheRoundTrip() async throws {
        let bytes = Data((0...255).map { UInt8($0) } + [0, 0, 0xff])
        try await client.put("/t/binary", value: bytes)
        let value = try await client.get("/t/binary")?.value
        XCTAssertEqual(value, bytes)
    }

    func testPrefixRangeReturnsOnlyKeysUnderThePrefix() async throws {
        for key in ["/t/edges/a", "/t/edges/b", "/t/edges/c", "/t/edgesX", "/t/other"] {
            try await client.put(key, value: Data(key.utf8))
        }
        let edges = try await client.range(.prefix("/t/edges/"))
        XCTAssertEqual(edges.keyValues.map(\.key), ["/t/edges/a", "/t/edges/b", "/t/edges/c"])
        XCTAssertEqual(edges.count, 3)

        let limited = try await client.range(.prefix("/t/edges/"), limit: 2)
        XCTAssertEqual(limited.keyValues.count, 2)
        XCTAssertTrue(limited.more)

        let deleted = try await client.delete(.prefix("/t/edges/"))
        XCTAssertEqual(deleted, 3)
        let left = try await client.range(.prefix("/t/"))
        XCTAssertEqual(left.keyValues.map(\.key), ["/t/edgesX", "/t/other"])
    }

    func testReadAtAnOldRevisionSeesTheOldValue() async throws {
        let first = try await client.put("/t/history", value: Data("old".utf8))
        try await client.put("/t/history", value: Data("new".utf8))
        let old = try await client.range(.key("/t/history"), revision: first)
        XCTAssertEqual(old.keyValues.first?.value, Data("old".utf8))
    }

    func testTxnCompareAndSwapLetsOnlyTheWriterThatSawTheLatestRevisionWin() async throws {
        let seen = try await client.put("/t/pointer", value: Data("v1".utf8))

        let winner = try await client.txn(
            compare: [.modRevision(of: "/t/pointer", is: seen)],
            success: [.put(key: "/t/pointer", value: Data("v2".utf8)), .put(key: "/t/blob/v2", value: Data("blob".utf8))],
            failure: [.range(.key("/t/pointer"))]
        )
        XCTAssertTrue(winner.succeeded)

        // The second writer read the same revision: its comparison fails, nothing of it is written,
        // and its failure branch tells it what is there now.
        let loser = try await client.txn(
            compare: [.modRevision(of: "/t/pointer", is: seen)],
            success: [.put(key: "/t/pointer", value: Data("v3".utf8)), .put(key: "/t/blob/v3", value: Data("blob".utf8))],
            failure: [.range(.key("/t/pointer"))]
        )
        XCTAssertFalse(loser.succeeded)
        guard case .range(let current)? = loser.results.first else {
            return XCTFail("the failure branch's range is missing: \(loser.results)")
        }
        XCTAssertEqual(current.keyValues.first?.value, Data("v2".utf8))
        XCTAssertEqual(current.keyValues.first?.modRevision, winner.revision)
        let pointer = try await client.get("/t/pointer")
        XCTAssertEqual(pointer?.value, Data("v2".utf8))
        let losersBlob = try await client.get("/t/blob/v3")
        XCTAssertNil(losersBlob)
    }

    func testTxnOnAMissingKeyGuardsWithRevisionZero() async throws {
        let created = try await client.txn(
            compare: [.modRevision(of: "/t/new", is: 0)],
            success: [.put(key: "/t/new", value: Data("first".utf8))]
        )
        XCTAssertTrue(created.succeeded)
        let again = try await client.txn(
            compare: [.modRevision(of: "/t/new", is: 0)],
            success: [.put(key: "/t/new", value: Data("second".utf8))]
        )
        XCTAssertFalse(again.succeeded)
        let value = try await client.get("/t/new")?.value
        XCTAssertEqual(value, Data("first".utf8))
    }

    func testKeyUnderALeaseDisappearsWhenTheLeaseExpires() async throws {
        let lease = try await client.grantLease(ttl: 1)
        try await client.put("/t/edges/short", value: Data("alive".utf8), lease: lease)
        let attached = try await client.get("/t/edges/short")
        XCTAssertEqual(attached?.lease, lease)

        let deadline = Date().addingTimeInterval(6)
        while Date() < deadline, try await client.get("/t/edges/short") != nil {
            try await Task.sleep(for: .milliseconds(100))
        }
        let expired = try await client.get("/t/edges/short")
        XCTAssertNil(expired, "the key outlived its 1 s lease by more than 5 s")
        do {
            try await client.keepAlive(lease: lease)
            XCTFail("keepalive of an expired lease succeeded")
        } catch EtcdError.leaseNotFound(let id) {
            XCTAssertEqual(id, lease)
        }
    }

    func testKeepAliveHoldsALeasePastItsTTLAndRevokeDeletesItsKeys() async throws {
        let lease = try await client.grantLease(ttl: 2)
        try await client.put("/t/edges/kept", value: Data("alive".utf8), lease: lease)
        for _ in 0..<8 {
            try await Task.sleep(for: .milliseconds(500))
            let ttl = try await client.keepAlive(lease: lease)
            XCTAssertEqual(ttl, 2)
        }
        let kept = try await client.get("/t/edges/kept")
        XCTAssertNotNil(kept, "the key expired although its lease was kept alive")
        try await client.revokeLease(lease)
        let revoked = try await client.get("/t/edges/kept")
        XCTAssertNil(revoked)
    }

    func testWatchFromARevisionReplaysTheChangesSinceThen() async throws {
        let first = try await client.put("/t/w/a", value: Data("1".utf8))
        try await client.put("/t/w/b", value: Data("2".utf8))
        try await client.delete(.key("/t/w/a"))
        try await client.put("/t/elsewhere", value: Data("x".utf8))

        var events: [EtcdEvent] = []
        for try await response in client.watch(.prefix("/t/w/"), startRevision: first) {
            events += response.events
            if events.count >= 3 { break }
        }
        XCTAssertEqual(events.map(\.kind), [.put, .put, .delete])
        XCTAssertEqual(events.map(\.keyValue.key), ["/t/w/a", "/t/w/b", "/t/w/a"])
        XCTAssertEqual(events[0].keyValue.modRevision, first)
    }

    func testWatchSeesAChangeMadeAfterItWasCreated() async throws {
        let stream = client.watch(.key("/t/live"))
        var iterator = stream.makeAsyncIterator()
        let created = try await iterator.next()
        XCTAssertEqual(created?.created, true)
        let revision = try await client.put("/t/live", value: Data("now".utf8))
        let change = try await iterator.next()
        XCTAssertEqual(change?.events.first?.keyValue.value, Data("now".utf8))
        XCTAssertEqual(change?.events.first?.keyValue.modRevision, revision)
    }

    func testWatchFromACompactedRevisionFailsWithCompacted() async throws {
        let old = try await client.put("/t/c", value: Data("1".utf8))
        let latest = try await client.put("/t/c", value: Data("2".utf8))
        try await client.compact(revision: latest)
        do {
            for try await _ in client.watch(.key("/t/c"), startRevision: old) {}
            XCTFail("the watch ended without an error")
        } catch EtcdError.compacted(let compactRevision) {
            XCTAssertEqual(compactRevision, latest)
        }
        do {
            _ = try await client.range(.key("/t/c"), revision: old)
            XCTFail("a read at a compacted revision succeeded")
        } catch EtcdError.compacted {}
    }

    func testRequestsFailOverToTheNextMemberWhenOneDies() async throws {
        // A request timeout far above any honest failover: a client that only moved on after a
        // timeout takes at least 30 s, one that moves on at the refused connection takes well
        // under it even on a loaded machine (5 s was too tight at load 15).
        let patient = try EtcdClient(endpoints: cluster.clientURLs, requestTimeout: .seconds(30))
        do {
            try await patient.put("/t/f", value: Data("before".utf8))
            cluster.kill(0)
            // The client prefers member 0 (it answered last); it must move on by itself.
            let started = Date()
            try await patient.put("/t/f", value: Data("after".utf8))
            XCTAssertLessThan(Date().timeIntervalSince(started), 30, "failover waited for the request timeout")
        } catch {
            try await patient.shutdown()
            throw error
        }
        try await patient.shutdown()
        let value = try await client.get("/t/f")?.value
        XCTAssertEqual(value, Data("after".utf8))
        let txn = try await client.txn(compare: [.modRevision(of: "/t/g", is: 0)], success: [.put(key: "/t/g", value: Data())])
        XCTAssertTrue(txn.succeeded)

        try cluster.restart(0)
        cluster.kill(1)
        cluster.kill(2)
        // Member 0 alone has no quorum: it cannot answer a linearizable read, and says so.
        do {
            _ = try await client.get("/t/f")
            XCTFail("a read succeeded with 2 of 3 members dead")
        } catch is EtcdError {}
    }

    func testWatchEndsWithAnErrorWhenItsMemberDies() async throws {
        let single = try EtcdClient(endpoints: [cluster.clientURLs[1]])
        do {
            var iterator = single.watch(.key("/t/dying")).makeAsyncIterator()
            let created = try await iterator.next()
            XCTAssertEqual(created?.created, true)
            cluster.kill(1)
            do {
                _ = try await iterator.next()
                XCTFail("the watch went on after its member died")
            } catch EtcdError.watchEnded(let endpoint, _) {
                XCTAssertEqual(endpoint, cluster.clientURLs[1])
            }
        }
        try await single.shutdown()
    }

    func testClusterWithEveryMemberDeadFailsWithUnavailable() async throws {
        cluster.killAll()
        do {
            _ = try await client.get("/t/x")
            XCTFail("a read succeeded with every member dead")
        } catch EtcdError.unavailable(let endpoints, let lastError) {
            XCTAssertEqual(endpoints, cluster.clientURLs)
            XCTAssertTrue(lastError.contains("refused"), lastError)
        }
    }

    func testEndpointsWithoutSchemeMeanHTTPAndOtherSchemesAreRefused() async throws {
        XCTAssertEqual(EtcdClient.endpoints(fromList: "a:1, http://b:2/ ,,"), ["a:1", "http://b:2/"])
        XCTAssertThrowsError(try EtcdClient(endpoints: ["ftp://x:1"])) { error in
            XCTAssertEqual(error as? EtcdError, .invalidEndpoint("ftp://x:1"))
        }
        XCTAssertThrowsError(try EtcdClient(endpoints: []))
        let client = try EtcdClient(endpoints: ["127.0.0.1:2379", "http://127.0.0.2:2379/"])
        XCTAssertEqual(client.endpoints, ["http://127.0.0.1:2379", "http://127.0.0.2:2379"])
        try await client.shutdown()
    }
}
