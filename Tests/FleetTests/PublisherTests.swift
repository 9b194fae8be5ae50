import Etcd
import Fleet
import Foundation
import XCTest

final class PublisherTests: FleetTestCase {
    func testPublishStoresTheBundleUnderItsHashAndMovesThePointer() async throws {
        let first = bundle("one")
        let outcome = try await publisher("alice").publish(first)
        XCTAssertTrue(outcome.changed)
        XCTAssertEqual(outcome.pointer.hash, BundleHash.of(first))
        XCTAssertNil(outcome.pointer.previous)
        XCTAssertEqual(outcome.pointer.publisher, "alice")

        let stored = try await BundleStore(client: client, layout: layout).fetch(outcome.pointer.hash)
        XCTAssertEqual(stored, first)
        let current = try await publisher().currentPointer()
        XCTAssertEqual(current.pointer, outcome.pointer)
        XCTAssertEqual(current.revision, outcome.revision)

        let second = try await publisher("bob").publish(bundle("two"))
        XCTAssertEqual(second.pointer.previous, outcome.pointer.hash)
    }

    func testPublishingTheCurrentBundleAgainChangesNothing() async throws {
        let first = try await publisher().publish(bundle("same"))
        let again = try await publisher().publish(bundle("same"))
        XCTAssertFalse(again.changed)
        XCTAssertEqual(again.revision, first.revision)
    }

    func testBundleLargerThanAChunkIsStoredInChunksAndReadBackIdentical() async throws {
        let large = bundle("large", size: 3 * FleetLayout.defaultChunkSize + 12_345)
        let outcome = try await publisher().publish(large)
        XCTAssertEqual(outcome.manifest.chunks, 4)
        XCTAssertEqual(outcome.manifest.size, large.count)
        let chunkKeys = try await client.range(.prefix(layout.manifest(outcome.pointer.hash) + "/")).keyValues
        XCTAssertEqual(chunkKeys.count, 4)
        XCTAssertTrue(chunkKeys.allSatisfy { $0.value.count <= FleetLayout.defaultChunkSize })
        let read = try await BundleStore(client: client, layout: layout).fetch(outcome.pointer.hash)
        XCTAssertEqual(read, large)
    }

    func testBundleOverTheLimitIsRefusedBeforeAnythingIsWritten() async throws {
        let small = try FleetLayout(prefix: "/ztp-small", chunkSize: 1024)
        let publisher = Publisher(client: client, layout: small, publisherName: "test")
        let tooLarge = bundle("huge", size: 1024 * BundleStore.maximumChunks + 1)
        do {
            _ = try await publisher.publish(tooLarge)
            XCTFail("a bundle over the limit was published")
        } catch let error as FleetError {
            XCTAssertEqual(error, .bundleTooLarge(size: tooLarge.count, limit: 1024 * BundleStore.maximumChunks))
            XCTAssertTrue("\(error)".contains("more than the 65536 bytes"), "\(error)")
        }
        let written = try await client.range(.prefix("/ztp-small/"))
        XCTAssertEqual(written.keyValues, [])
    }

    func testRacingPublishersThatReadTheSameRevisionExactlyOneWins() async throws {
        try await publisher().publish(bundle("base"))
        let racers = 5
        let clients = try (0..<racers).map { _ in try makeClient() }
        let publishers = (0..<racers).map { publisher("racer\($0)", client: clients[$0]) }
        let bundles = (0..<racers).map { bundle("racer \($0)") }
        // Every racer has read the pointer before any of them moves it.
        let read = try await publisher().currentPointer()
        let outcomes = await withTaskGroup(of: (Int, Result<Publisher.Outcome, Error>).self) { group in
            for index in 0..<racers {
                group.addTask {
                    do {
                        return (index, .success(try await publishers[index].publish(bundles[index], basedOn: read)))
                    } catch {
                        return (index, .failure(error))
                    }
                }
            }
            var all: [(Int, Result<Publisher.Outcome, Error>)] = []
            for await outcome in group { all.append(outcome) }
            return all
        }
        let winners = outcomes.compactMap { index, result in (try? result.get()).map { (index, $0) } }
        XCTAssertEqual(winners.count, 1, "\(winners.count) racers won")
        let winner = try XCTUnwrap(winners.first?.1)
        XCTAssertEqual(winner.pointer.previous, read.pointer?.hash)
        let current = try await publisher().currentPointer()
        XCTAssertEqual(current.pointer, winner.pointer)
        for (index, result) in outcomes where index != winners.first?.0 {
            guard case .failure(let error) = result, case FleetError.publishedMeanwhile(let revision, let hash)? = error as? FleetError
            else { return XCTFail("racer \(index) did not lose with publishedMeanwhile: \(result)") }
            XCTAssertEqual(revision, winner.revision)
            XCTAssertEqual(hash, winner.pointer.hash)
            XCTAssertTrue("\(error)".hasPrefix("someone published meanwhile (revision \(winner.revision), hash \(winner.pointer.hash)); nothing was changed"), "\(error)")
            let leftovers = try await client.range(.prefix(layout.manifest(BundleHash.of(bundles[index])))).keyValues
            XCTAssertEqual(leftovers, [], "racer \(index) left its chunks behind")
        }
    }

    func testPublishBasedOnAStaleReadFailsAndKeepsTheNewerPublish() async throws {
        let stale = try await publisher().currentPointer()
        let meanwhile = try await publisher("a").publish(bundle("a"))
        do {
            _ = try await publisher("b").publish(bundle("b"), basedOn: stale)
            XCTFail("a publish based on a stale read won")
        } catch FleetError.publishedMeanwhile(let revision, let hash) {
            XCTAssertEqual(revision, meanwhile.revision)
            XCTAssertEqual(hash, meanwhile.pointer.hash)
        }
        let current = try await publisher().currentPointer()
        XCTAssertEqual(current.pointer, meanwhile.pointer)
    }

    func testRollbackToPreviousAndToANamedHash() async throws {
        let one = try await publisher().publish(bundle("one"))
        let two = try await publisher().publish(bundle("two"))
        let back = try await publisher("ops").rollback(to: .previous)
        XCTAssertEqual(back.pointer.hash, one.pointer.hash)
        XCTAssertEqual(back.pointer.previous, two.pointer.hash)
        XCTAssertEqual(back.pointer.publisher, "ops")
        // Rolling back twice to "previous" undoes the rollback.
        let forth = try await publisher().rollback(to: .previous)
        XCTAssertEqual(forth.pointer.hash, two.pointer.hash)
        let named = try await publisher().rollback(to: .hash(one.pointer.hash.uppercased()))
        XCTAssertEqual(named.pointer.hash, one.pointer.hash)
    }

    func testRollbackRefusesUnknownBundlesAndAMissingPrevious() async throws {
        do {
            _ = try await publisher().rollback(to: .previous)
            XCTFail("rolled back with nothing published")
        } catch FleetError.nothingPublished(let prefix) {
            XCTAssertEqual(prefix, "/ztp-test")
        }
        let only = try await publisher().publish(bundle("only"))
        do {
            _ = try await publisher().rollback(to: .previous)
            XCTFail("rolled back past the first bundle")
        } catch FleetError.noPrevious {}
        let unknown = String(repeating: "ab", count: 32)
        do {
            _ = try await publisher().rollback(to: .hash(unknown))
            XCTFail("rolled back to a bundle never stored")
        } catch FleetError.unknownBundle(let hash) {
            XCTAssertEqual(hash, unknown)
        }
        let current = try await publisher().currentPointer()
        XCTAssertEqual(current.pointer?.hash, only.pointer.hash)
    }

    func testRolloutPercentOutsideOneToHundredIsRefused() async throws {
        for percent in [0, -5, 101] {
            do {
                _ = try await publisher().publish(bundle("x"), rollout: percent)
                XCTFail("rollout \(percent) % accepted")
            } catch FleetError.invalidRollout(let refused) {
                XCTAssertEqual(refused, percent)
            }
        }
    }

    func testAPrefixMustStartWithASlash() {
        XCTAssertThrowsError(try FleetLayout(prefix: "ztp"))
        XCTAssertThrowsError(try FleetLayout(prefix: "/"))
        XCTAssertEqual(try FleetLayout(prefix: "/fleet/").current, "/fleet/current")
    }
}
