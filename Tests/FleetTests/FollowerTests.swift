import Etcd
import Fleet
import Foundation
import XCTest

final class FollowerTests: FleetTestCase {
    /// Runs `follower` until the end of `body`.
    func following<T>(_ follower: Follower, _ body: () async throws -> T) async throws -> T {
        let task = Task { try await follower.run() }
        defer { task.cancel() }
        return try await body()
    }

    func testFollowerInstallsThePublishedBundleThenEachLaterOne() async throws {
        let first = try await publisher().publish(bundle("one"))
        let installer = RecordingInstaller()
        let follower = Follower(client: client, layout: layout, edgeName: "edge-a", install: installer.closure)
        try await following(follower) {
            let installedFirst = await eventually(5) { installer.last == first.pointer.hash }
            XCTAssertTrue(installedFirst, "installed \(installer.installed)")
            let watching = await eventually(5) { follower.snapshot.watching }
            XCTAssertTrue(watching)
            let second = try await publisher().publish(bundle("two"))
            let installedSecond = await eventually(5) { installer.last == second.pointer.hash }
            XCTAssertTrue(installedSecond, "installed \(installer.installed)")
            XCTAssertEqual(installer.installed, [first.pointer.hash, second.pointer.hash])
            XCTAssertEqual(follower.snapshot.installedHash, second.pointer.hash)
            XCTAssertEqual(follower.snapshot.pointerRevision, second.revision)
        }
    }

    func testFollowerStartedWithTheCurrentBundleDoesNotInstallItAgain() async throws {
        let current = try await publisher().publish(bundle("cached"))
        let installer = RecordingInstaller()
        let follower = Follower(
            client: client, layout: layout, edgeName: "edge-a", installedHash: current.pointer.hash, install: installer.closure
        )
        try await following(follower) {
            let applied = await eventually(5) { follower.snapshot.pointerRevision == current.revision }
            XCTAssertTrue(applied)
            XCTAssertEqual(installer.installed, [])
        }
    }

    func testFollowerStartedBeforeAnyPublishWaitsForTheFirst() async throws {
        let installer = RecordingInstaller()
        let follower = Follower(client: client, layout: layout, edgeName: "edge-a", install: installer.closure)
        try await following(follower) {
            let watching = await eventually(5) { follower.snapshot.watching }
            XCTAssertTrue(watching)
            XCTAssertEqual(installer.installed, [])
            let first = try await publisher().publish(bundle("first"))
            let installed = await eventually(5) { installer.last == first.pointer.hash }
            XCTAssertTrue(installed)
        }
    }

    func testRefusedBundleKeepsTheInstalledOneAndIsNotRetriedUntilThePointerMoves() async throws {
        let good = try await publisher().publish(bundle("good"))
        let installer = RecordingInstaller()
        let badBytes = bundle("bad")
        installer.refuse(BundleHash.of(badBytes))
        let follower = Follower(client: client, layout: layout, edgeName: "edge-a", install: installer.closure)
        try await following(follower) {
            let installedGood = await eventually(5) { installer.last == good.pointer.hash }
            XCTAssertTrue(installedGood)
            let bad = try await publisher().publish(badBytes)
            let refused = await eventually(5) { follower.snapshot.refusedHash == bad.pointer.hash }
            XCTAssertTrue(refused)
            let snapshot = follower.snapshot
            XCTAssertEqual(snapshot.installedHash, good.pointer.hash)
            XCTAssertEqual(snapshot.wantedHash, bad.pointer.hash)
            XCTAssertTrue(snapshot.lastError?.contains("test refuses") == true, "\(snapshot.lastError ?? "nil")")

            let fixed = try await publisher().publish(bundle("fixed"))
            let installedFixed = await eventually(5) { installer.last == fixed.pointer.hash }
            XCTAssertTrue(installedFixed)
            XCTAssertNil(follower.snapshot.lastError)
            XCTAssertNil(follower.snapshot.refusedHash)
            XCTAssertEqual(installer.installed, [good.pointer.hash, fixed.pointer.hash])
        }
    }

    func testCorruptBundleInEtcdIsRefusedWithoutReachingTheInstaller() async throws {
        let good = try await publisher().publish(bundle("good"))
        let installer = RecordingInstaller()
        let follower = Follower(client: client, layout: layout, edgeName: "edge-a", install: installer.closure)
        try await following(follower) {
            let installedGood = await eventually(5) { installer.last == good.pointer.hash }
            XCTAssertTrue(installedGood)
            // Someone with write access to etcd flips a byte of a stored chunk, then points at it.
            let target = bundle("tampered")
            let hash = BundleHash.of(target)
            try await client.put(layout.chunk(hash, 0), value: Data(target.reversed()))
            let manifest = #"{"chunks":1,"sha256":"\#(hash)","size":\#(target.count)}"#
            try await client.put(layout.manifest(hash), value: Data(manifest.utf8))
            let pointer = BundlePointer(hash: hash, previous: good.pointer.hash, publisher: "mallory")
            try await client.put(layout.current, value: try JSONEncoder().encode(pointer))

            let refused = await eventually(5) { follower.snapshot.refusedHash == hash }
            XCTAssertTrue(refused)
            XCTAssertTrue(follower.snapshot.lastError?.contains("corrupt") == true, "\(follower.snapshot.lastError ?? "nil")")
            XCTAssertEqual(installer.installed, [good.pointer.hash])
        }
    }

    func testFollowerMovesToAnotherMemberWhenItsMemberDies() async throws {
        try await publisher().publish(bundle("one"))
        let installer = RecordingInstaller()
        let followerClient = try makeClient()
        let follower = Follower(
            client: followerClient, layout: layout, edgeName: "edge-a",
            backoff: Backoff(initial: .milliseconds(50), maximum: .milliseconds(200)), install: installer.closure
        )
        try await following(follower) {
            let watching = await eventually(5) { follower.snapshot.watching }
            XCTAssertTrue(watching)
            // The follower's client starts with member 0.
            cluster.kill(0)
            let second = try await publisher().publish(bundle("two"))
            let installed = await eventually(5) { installer.last == second.pointer.hash }
            XCTAssertTrue(installed, "installed \(installer.installed)")
        }
    }

    func testFollowerReadsThePointerAgainWhenItsRevisionWasCompactedWhileAway() async throws {
        let first = try await publisher().publish(bundle("one"))
        let installer = RecordingInstaller()
        // A follower that knows only member 0: while it is down, the follower cannot watch.
        let followerClient = try makeClient(endpoints: [cluster.clientURLs[0]])
        let follower = Follower(
            client: followerClient, layout: layout, edgeName: "edge-a",
            backoff: Backoff(initial: .milliseconds(50), maximum: .milliseconds(200)), install: installer.closure
        )
        try await following(follower) {
            let installedFirst = await eventually(5) { installer.last == first.pointer.hash }
            XCTAssertTrue(installedFirst)
            cluster.kill(0)
            let others = try makeClient(endpoints: Array(cluster.clientURLs[1...]))
            let otherPublisher = publisher(client: others)
            _ = try await otherPublisher.publish(bundle("two"))
            let third = try await otherPublisher.publish(bundle("three"))
            try await others.compact(revision: third.revision)
            try cluster.restart(0)
            let installedThird = await eventually(10) { installer.last == third.pointer.hash }
            XCTAssertTrue(installedThird, "installed \(installer.installed)")
            // "two" was compacted away before the follower saw it: it goes straight to "three".
            XCTAssertEqual(installer.installed, [first.pointer.hash, third.pointer.hash])
        }
    }

    func testAWatchThatHangsSilentlyIsReplacedAfterThePeriodicReread() async throws {
        let first = try await publisher().publish(bundle("one"))
        // Two followers whose watches go to member 0 (first in their list): one re-reads the
        // pointer every second, the other (the control) practically never.
        func follower(_ name: String, reread: Duration) throws -> (Follower, RecordingInstaller) {
            let installer = RecordingInstaller()
            let follower = Follower(
                client: try makeClient(requestTimeout: .seconds(1)), layout: layout, edgeName: name,
                backoff: Backoff(initial: .milliseconds(50), maximum: .milliseconds(200)), rereadInterval: reread,
                install: installer.closure
            )
            return (follower, installer)
        }
        let (backstopped, installer) = try follower("edge-a", reread: .seconds(1))
        let (control, controlInstaller) = try follower("edge-b", reread: .seconds(3_600))
        let tasks = [backstopped, control].map { follower in Task { try await follower.run() } }
        defer { tasks.forEach { $0.cancel() } }
        let ready = await eventually(10) {
            installer.last == first.pointer.hash && controlInstaller.last == first.pointer.hash
                && backstopped.snapshot.watching && control.snapshot.watching
        }
        XCTAssertTrue(ready)

        // Member 0 freezes: the watches on it stay open and silent, no event and no error.
        cluster.freeze(0)
        defer { cluster.thaw(0) }
        let others = publisher(client: try makeClient(endpoints: Array(cluster.clientURLs[1...])))
        var second: Publisher.Outcome?
        // The two members left may be electing a leader for a moment.
        for _ in 0..<20 where second == nil {
            second = try? await others.publish(bundle("two"))
            if second == nil { try await Task.sleep(for: .milliseconds(250)) }
        }
        let hash = try XCTUnwrap(second?.pointer.hash)
        let converged = await eventually(15) { installer.last == hash }
        XCTAssertTrue(converged, "installed \(installer.installed)")
        XCTAssertEqual(backstopped.snapshot.receivedRevision, second?.revision)
        try await Task.sleep(for: .seconds(1))
        // The control follower is still on its frozen watch: the stall is real, and only the
        // re-read got the other one out of it.
        XCTAssertEqual(controlInstaller.installed, [first.pointer.hash])
        XCTAssertEqual(control.snapshot.wantedHash, first.pointer.hash)
    }

    func testCanaryRolloutReachesOnlyEdgesWhoseBucketIsBelowThePercent() async throws {
        let stable = try await publisher().publish(bundle("stable"))
        let names = (0..<20).map { "edge-\($0)" }
        let installers = names.map { _ in RecordingInstaller() }
        let followers = zip(names, installers).map { name, installer in
            Follower(client: client, layout: layout, edgeName: name, install: installer.closure)
        }
        let tasks = followers.map { follower in Task { try await follower.run() } }
        defer { tasks.forEach { $0.cancel() } }
        let allStable = await eventually(10) { installers.allSatisfy { $0.last == stable.pointer.hash } }
        XCTAssertTrue(allStable)

        let canary = try await publisher().publish(bundle("canary"), rollout: 50)
        XCTAssertEqual(canary.pointer.rollout, BundlePointer.Rollout(percent: 50))
        let inCanary = names.filter { RolloutBucket.of($0) < 50 }
        XCTAssertFalse(inCanary.isEmpty)
        XCTAssertLessThan(inCanary.count, names.count)
        let expected = names.map { inCanary.contains($0) ? canary.pointer.hash : stable.pointer.hash }
        let rolledOut = await eventually(10) { installers.map(\.last) == expected }
        XCTAssertTrue(rolledOut)

        // The same bundle at 100 %: everyone.
        let everyone = try await publisher().publish(bundle("canary"))
        XCTAssertEqual(everyone.pointer.previous, stable.pointer.hash)
        let all = await eventually(10) { installers.allSatisfy { $0.last == canary.pointer.hash } }
        XCTAssertTrue(all)
    }

    func testRolloutBucketIsStableAndSpreadsNames() {
        XCTAssertEqual(RolloutBucket.of("edge-1"), RolloutBucket.of("edge-1"))
        let buckets = (0..<1000).map { RolloutBucket.of("edge-\($0)") }
        XCTAssertTrue(buckets.allSatisfy { (0..<100).contains($0) })
        let belowTen = buckets.filter { $0 < 10 }.count
        XCTAssertTrue((50...150).contains(belowTen), "\(belowTen) of 1000 names fall in a 10 % canary")
    }
}
