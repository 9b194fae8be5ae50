import Etcd
@testable import Fleet
import Foundation
import XCTest

final class BundleCollectorTests: FleetTestCase {
    /// A layout of small chunks, so that each test bundle has several.
    private func smallChunks() throws -> FleetLayout { try FleetLayout(prefix: "/ztp-gc", chunkSize: 256) }

    private func collector(_ layout: FleetLayout, client: EtcdClient? = nil) -> BundleCollector {
        BundleCollector(client: client ?? self.client, layout: layout)
    }

    /// The hashes with a manifest, and the hashes with chunks, under `layout`.
    private func stored(_ layout: FleetLayout) async throws -> (manifests: Set<String>, chunked: Set<String>) {
        let keys = try await client.range(.prefix(layout.bundlesPrefix), keysOnly: true).keyValues.map(\.key)
        var manifests = Set<String>(), chunked = Set<String>()
        for key in keys {
            let rest = key.dropFirst(layout.bundlesPrefix.count)
            let hash = String(rest.prefix(64))
            if rest.count == 64 { manifests.insert(hash) } else { chunked.insert(hash) }
        }
        return (manifests, chunked)
    }

    func testAfterManyPublishesOnlyTheCurrentAndTheLastKRemain() async throws {
        let layout = try smallChunks()
        let publisher = Publisher(client: client, layout: layout, publisherName: "test")
        var hashes: [String] = []
        for index in 0..<8 {
            hashes.append(try await publisher.publish(bundle("gc \(index)", size: 1000)).pointer.hash)
        }
        let outcome = try await collector(layout).collect(keep: 3)
        let kept = Array(hashes.suffix(4).reversed())
        XCTAssertEqual(outcome.kept, kept, "the current bundle and the 3 published before it, newest first")
        XCTAssertEqual(Set(outcome.deleted), Set(hashes.prefix(4)))
        XCTAssertEqual(outcome.keysDeleted, 4 * (1 + 4), "4 bundles of a manifest and 4 chunks each")
        let after = try await stored(layout)
        XCTAssertEqual(after.manifests, Set(kept))
        XCTAssertEqual(after.chunked, Set(kept))
        let store = BundleStore(client: client, layout: layout)
        for hash in kept {
            let bytes = try await store.fetch(hash)
            XCTAssertEqual(BundleHash.of(bytes), hash)
        }
        do {
            _ = try await store.fetch(hashes[0])
            XCTFail("a collected bundle was still read")
        } catch FleetError.unknownBundle {}

        let again = try await collector(layout).collect(keep: 3)
        XCTAssertEqual(again.deleted, [])
        XCTAssertEqual(again.keysDeleted, 0)
    }

    func testRollbackToPreviousStillWorksAfterCollection() async throws {
        let layout = try smallChunks()
        let publisher = Publisher(client: client, layout: layout, publisherName: "test")
        var hashes: [String] = []
        for index in 0..<6 {
            hashes.append(try await publisher.publish(bundle("rb \(index)", size: 700)).pointer.hash)
        }
        // Back to an old bundle: the newest is now the previous one.
        _ = try await publisher.rollback(to: .hash(hashes[1]))
        let outcome = try await collector(layout).collect(keep: 0)
        XCTAssertEqual(Set(outcome.kept), [hashes[1], hashes[5]])
        let back = try await publisher.rollback(to: .previous)
        XCTAssertEqual(back.pointer.hash, hashes[5])
        let bytes = try await BundleStore(client: client, layout: layout).fetch(hashes[5])
        XCTAssertEqual(BundleHash.of(bytes), hashes[5])
        let forth = try await publisher.rollback(to: .previous)
        XCTAssertEqual(forth.pointer.hash, hashes[1])
        do {
            _ = try await publisher.rollback(to: .hash(hashes[2]))
            XCTFail("rolled back to a collected bundle")
        } catch FleetError.unknownBundle {}
    }

    func testACanaryKeepsBothItsBundlesWhateverKeep() async throws {
        let layout = try smallChunks()
        let publisher = Publisher(client: client, layout: layout, publisherName: "test")
        let stable = try await publisher.publish(bundle("stable", size: 600))
        for index in 0..<3 { _ = try await publisher.publish(bundle("between \(index)", size: 600)) }
        _ = try await publisher.rollback(to: .hash(stable.pointer.hash))
        let canary = try await publisher.publish(bundle("canary", size: 600), rollout: 10)
        XCTAssertEqual(canary.pointer.previous, stable.pointer.hash)
        _ = try await collector(layout).collect(keep: 0)
        let after = try await stored(layout)
        XCTAssertEqual(after.manifests, [stable.pointer.hash, canary.pointer.hash])
    }

    func testACollectionDuringAPublishKeepsTheNewBundlesChunks() async throws {
        let layout = try smallChunks()
        let gcClient = try makeClient()
        var publisher = Publisher(client: client, layout: layout, publisherName: "test")
        let old = try await publisher.publish(bundle("old", size: 900))
        _ = try await publisher.publish(bundle("previous", size: 900))
        _ = try await publisher.publish(bundle("current", size: 900))
        let new = bundle("new", size: 900)
        let newHash = BundleHash.of(new)
        let inHook = Locked<BundleCollector.Outcome?>(nil)
        let collector = self.collector(layout, client: gcClient)
        publisher.afterUpload = {
            // The new bundle's chunks are stored without a manifest: an unfinished publish.
            let outcome = try? await collector.collect(keep: 0)
            inHook.withLock { $0 = outcome }
        }
        let published = try await publisher.publish(new)
        XCTAssertEqual(published.pointer.hash, newHash)
        let during = try XCTUnwrap(inHook.withLock { $0 })
        XCTAssertEqual(during.orphansDeleted, [], "the chunks of a publish under way were deleted")
        XCTAssertEqual(during.deleted, [old.pointer.hash])
        let bytes = try await BundleStore(client: client, layout: layout).fetch(newHash)
        XCTAssertEqual(bytes, new)
    }

    func testACollectionDeletingAnOldBundleBeingPublishedAgainMakesThePublishUploadItAgain() async throws {
        let layout = try smallChunks()
        let gcClient = try makeClient()
        var publisher = Publisher(client: client, layout: layout, publisherName: "test")
        let oldBytes = bundle("old again", size: 1100)
        let old = try await publisher.publish(oldBytes)
        for index in 0..<3 { _ = try await publisher.publish(bundle("later \(index)", size: 1100)) }
        let collected = Locked<[String]>([])
        let collector = self.collector(layout, client: gcClient)
        publisher.afterUpload = {
            guard collected.withLock({ $0.isEmpty }) else { return }
            // Its chunks were just rewritten, but its manifest is from the first publish: the
            // collection deletes it, between the upload and the publishing transaction.
            let outcome = try? await collector.collect(keep: 0)
            collected.withLock { $0 = outcome?.deleted ?? ["collection failed"] }
        }
        let again = try await publisher.publish(oldBytes)
        XCTAssertTrue(collected.withLock { $0 }.contains(old.pointer.hash), "\(collected.withLock { $0 })")
        XCTAssertEqual(again.pointer.hash, old.pointer.hash)
        let current = try await publisher.currentPointer()
        XCTAssertEqual(current.pointer?.hash, old.pointer.hash)
        let bytes = try await BundleStore(client: client, layout: layout).fetch(old.pointer.hash)
        XCTAssertEqual(bytes, oldBytes)
    }

    func testCollectionsRacingPublishesNeverLeaveThePointerOnAMissingBundle() async throws {
        let layout = try smallChunks()
        let gcClient = try makeClient()
        let publisher = Publisher(client: client, layout: layout, publisherName: "test")
        let bundles = (0..<4).map { bundle("race \($0)", size: 1500) }
        let collector = self.collector(layout, client: gcClient)
        let stop = Locked(false)
        let collections = Task {
            var runs = 0
            while !stop.withLock({ $0 }) && runs < 500 {
                _ = try? await collector.collect(keep: 0)
                runs += 1
            }
            return runs
        }
        let store = BundleStore(client: client, layout: layout)
        for round in 0..<16 {
            let outcome = try await publisher.publish(bundles[round % bundles.count])
            let bytes = try await store.fetch(outcome.pointer.hash)
            XCTAssertEqual(BundleHash.of(bytes), outcome.pointer.hash, "round \(round)")
        }
        stop.withLock { $0 = true }
        let runs = await collections.value
        XCTAssertGreaterThan(runs, 0)
    }

    func testChunksOfAnAbandonedUploadAreDeletedOnceThePointerHasMoved() async throws {
        let layout = try smallChunks()
        let publisher = Publisher(client: client, layout: layout, publisherName: "test")
        _ = try await publisher.publish(bundle("first", size: 500))
        let abandoned = try await BundleStore(client: client, layout: layout).uploadChunks(of: bundle("abandoned", size: 500))
        let kept = try await collector(layout).collect(keep: 5)
        XCTAssertEqual(kept.orphansDeleted, [], "an upload newer than the pointer may still be published")
        _ = try await publisher.publish(bundle("second", size: 500))
        let outcome = try await collector(layout).collect(keep: 5)
        XCTAssertEqual(outcome.orphansDeleted, [abandoned.manifest.sha256])
        let after = try await stored(layout)
        XCTAssertFalse(after.chunked.contains(abandoned.manifest.sha256))
    }

    func testCompactingAfterACollectionDiscardsTheHistoryOfTheDeletedValues() async throws {
        let layout = try smallChunks()
        let publisher = Publisher(client: client, layout: layout, publisherName: "test")
        let first = try await publisher.publish(bundle("c0", size: 500))
        for index in 1..<4 { _ = try await publisher.publish(bundle("c\(index)", size: 500)) }
        let outcome = try await collector(layout).collect(keep: 1, compact: true)
        XCTAssertEqual(outcome.deleted.count, 2)
        let compactedTo = try XCTUnwrap(outcome.compactedTo)
        do {
            _ = try await client.range(.key(layout.manifest(first.pointer.hash)), revision: first.revision)
            XCTFail("the deleted manifest was still readable at its old revision")
        } catch EtcdError.compacted {}
        let current = try await client.range(.key(layout.current), revision: compactedTo)
        XCTAssertEqual(current.keyValues.count, 1)
    }
}

/// A value shared with a closure that runs on another task.
final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    init(_ value: Value) { self.value = value }

    func withLock<T>(_ body: (inout Value) -> T) -> T { lock.withLock { body(&value) } }
}
