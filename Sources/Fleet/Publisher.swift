import Etcd
import Foundation
import Logging

/// Moves the fleet's pointer: publishes a bundle, or rolls back to one already stored.
///
/// Every move is one etcd transaction guarded by the mod revision of `PREFIX/current` that this
/// publisher read just before: when two publishers race, one transaction commits and the other
/// changes nothing and fails with ``FleetError/publishedMeanwhile(revision:hash:)``.
public struct Publisher: Sendable {
    /// What a move did.
    public struct Outcome: Sendable, Equatable {
        /// The pointer now in force.
        public var pointer: BundlePointer
        /// The revision of the transaction that moved it (or of the unchanged pointer).
        public var revision: Int64
        /// The bundle's manifest.
        public var manifest: BundleManifest
        /// False when the pointer already named this bundle with this rollout: nothing was written.
        public var changed: Bool
    }

    /// Where to roll back to.
    public enum RollbackTarget: Sendable, Equatable {
        /// The bundle before the current one (the pointer's `previous`).
        case previous
        /// A bundle stored under this hash.
        case hash(String)
    }

    /// Where the bundles go.
    public let store: BundleStore
    /// Written into the pointer: who published.
    public let publisherName: String
    /// How new bundles are stored: zlib by default; nil stores them as they are, for edges from
    /// before compression (they refuse compressed bundles as corrupt).
    public let compression: BundleCompression?
    private let logger: Logger
    /// Runs between the upload of a bundle's chunks and the transaction that publishes it: tests
    /// put a concurrent garbage collection there, at the moment it is most dangerous.
    var afterUpload: (@Sendable () async -> Void)?

    /// A publisher of the fleet at `layout`, recorded in pointers as `publisherName`.
    public init(
        client: EtcdClient, layout: FleetLayout, publisherName: String, compression: BundleCompression? = .zlib,
        logger: Logger = Logger(label: "ztp.fleet.publisher")
    ) {
        self.store = BundleStore(client: client, layout: layout)
        self.publisherName = publisherName
        self.compression = compression
        self.logger = logger
    }

    private var client: EtcdClient { store.client }
    private var layout: FleetLayout { store.layout }

    /// The pointer as a publisher read it: what a later move is guarded by.
    public struct PointerRead: Sendable, Equatable {
        /// nil when nothing was published yet.
        public var pointer: BundlePointer?
        /// The pointer's mod revision (0 when there is none).
        public var revision: Int64
    }

    /// The pointer in force and its mod revision.
    public func currentPointer() async throws -> PointerRead {
        guard let kv = try await client.get(layout.current) else { return PointerRead(pointer: nil, revision: 0) }
        return PointerRead(pointer: try BundlePointer.decode(kv.value), revision: kv.modRevision)
    }

    /// Stores `bundle` under its hash and points the fleet at it, in one transaction.
    ///
    /// Publishing the bundle already current changes only its rollout (say, from a 10 % canary to
    /// everyone), keeping `previous` as it was.
    ///
    /// - Parameters:
    ///   - rollout: a canary percentage (1-99), or nil (or 100) for every edge.
    ///   - read: the pointer as read before the bundle was built (`ztpc publish` reads it before it
    ///     checks and compiles), so that a publish made meanwhile is not overwritten unseen; nil
    ///     reads it now.
    /// - Throws: ``FleetError/publishedMeanwhile(revision:hash:)`` when another publisher moved the
    ///   pointer first (nothing of this publish is kept); ``FleetError/bundleTooLarge(size:limit:)``;
    ///   ``FleetError/invalidRollout(_:)``; etcd errors.
    @discardableResult
    public func publish(_ bundle: Data, rollout percent: Int? = nil, basedOn read: PointerRead? = nil) async throws -> Outcome {
        if let percent, !(1...100).contains(percent) { throw FleetError.invalidRollout(percent) }
        let rollout = percent.flatMap { $0 == 100 ? nil : BundlePointer.Rollout(percent: $0) }
        let base: PointerRead
        if let read { base = read } else { base = try await currentPointer() }
        let (current, seen) = (base.pointer, base.revision)
        let hash = BundleHash.of(bundle)
        if let current, current.hash == hash, current.rollout == rollout, let manifest = try await store.manifest(hash) {
            return Outcome(pointer: current, revision: seen, manifest: manifest, changed: false)
        }
        let previous = current?.hash == hash ? current?.previous : current?.hash
        let pointer = BundlePointer(hash: hash, previous: previous, publisher: publisherName, rollout: rollout)
        // A garbage collection may delete the chunks of an old bundle being published again between
        // their upload and the transaction (which then fails on their revisions): upload them again.
        for attempt in 1...3 {
            let chunks = try await store.uploadChunks(of: bundle, compression: compression)
            await afterUpload?()
            do {
                let revision = try await move(
                    to: pointer, guardedBy: seen, writingManifest: chunks.manifest, requiring: chunks.unchanged(in: layout)
                )
                logger.info("published bundle", metadata: ["hash": "\(hash)", "revision": "\(revision)", "bytes": "\(bundle.count)"])
                return Outcome(pointer: pointer, revision: revision, manifest: chunks.manifest, changed: true)
            } catch FleetError.bundleRemoved where attempt < 3 {
                logger.info("chunks deleted by a garbage collection before the pointer moved; uploading them again", metadata: ["hash": "\(hash)"])
            } catch let error as FleetError {
                if case .publishedMeanwhile(_, let winner) = error {
                    await discardChunks(of: hash, unlessNamedBy: winner)
                }
                throw error
            }
        }
        throw FleetError.bundleRemoved(hash)
    }

    /// Points the fleet back at a bundle already stored: the previous one, or the one named.
    ///
    /// - Throws: ``FleetError/nothingPublished(prefix:)``, ``FleetError/noPrevious``,
    ///   ``FleetError/unknownBundle(_:)``, ``FleetError/publishedMeanwhile(revision:hash:)``.
    public func rollback(to target: RollbackTarget) async throws -> Outcome {
        let base = try await currentPointer()
        let (current, seen) = (base.pointer, base.revision)
        guard let current else { throw FleetError.nothingPublished(prefix: layout.prefix) }
        let hash: String
        switch target {
        case .previous:
            guard let previous = current.previous else { throw FleetError.noPrevious }
            hash = previous
        case .hash(let named):
            hash = named.lowercased()
        }
        guard let stored = try await store.storedManifest(hash) else { throw FleetError.unknownBundle(hash) }
        let manifest = stored.manifest
        if current.hash == hash && current.rollout == nil {
            return Outcome(pointer: current, revision: seen, manifest: manifest, changed: false)
        }
        let pointer = BundlePointer(hash: hash, previous: current.hash, publisher: publisherName)
        // The bundle must still be stored when the pointer moves: a garbage collection may delete it
        // after the read above (its chunks go in the same transaction as its manifest).
        let revision = try await move(
            to: pointer, guardedBy: seen, writingManifest: nil,
            requiring: [.modRevision(of: layout.manifest(hash), is: stored.revision)]
        )
        logger.info("rolled back", metadata: ["hash": "\(hash)", "from": "\(current.hash)", "revision": "\(revision)"])
        return Outcome(pointer: pointer, revision: revision, manifest: manifest, changed: true)
    }

    /// The guarded transaction: when `current` still has mod revision `seen` (0: it does not exist)
    /// and every condition of `requiring` holds (the bundle's keys are as read or written), write
    /// the manifest (if any) and the pointer; otherwise read what is there now.
    ///
    /// - Throws: ``FleetError/publishedMeanwhile(revision:hash:)`` when the pointer moved,
    ///   ``FleetError/bundleRemoved(_:)`` when only the bundle's keys changed.
    private func move(
        to pointer: BundlePointer, guardedBy seen: Int64, writingManifest manifest: BundleManifest?, requiring: [EtcdCompare]
    ) async throws -> Int64 {
        var writes: [EtcdOperation] = []
        if let manifest {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            writes.append(.put(key: layout.manifest(manifest.sha256), value: try encoder.encode(manifest)))
        }
        writes.append(.put(key: layout.current, value: try pointer.encoded()))
        let result = try await client.txn(
            compare: [.modRevision(of: layout.current, is: seen)] + requiring,
            success: writes,
            failure: [.range(.key(layout.current))]
        )
        guard result.succeeded else {
            guard case .range(let now)? = result.results.first else {
                throw EtcdError.invalidResponse(endpoint: "txn", reason: "no range result in the failure branch")
            }
            // The pointer as read: only the bundle's keys can have failed the comparison.
            if (now.keyValues.first?.modRevision ?? 0) == seen { throw FleetError.bundleRemoved(pointer.hash) }
            guard let kv = now.keyValues.first else {
                // The pointer was deleted after this publisher read it.
                throw FleetError.publishedMeanwhile(revision: result.revision, hash: nil)
            }
            let winner = try? BundlePointer.decode(kv.value)
            throw FleetError.publishedMeanwhile(revision: kv.modRevision, hash: winner?.hash)
        }
        return result.revision
    }

    /// After losing a race, deletes the chunks this publisher uploaded, unless the bundle is in use
    /// (the winner published the same bytes, or an earlier publish stored them with a manifest).
    private func discardChunks(of hash: String, unlessNamedBy winner: String?) async {
        guard hash != winner else { return }
        do {
            if try await store.manifest(hash) != nil { return }
            try await client.delete(.prefix(layout.manifest(hash) + "/"))
        } catch {
            logger.warning("could not remove the chunks of an unpublished bundle", metadata: ["hash": "\(hash)", "error": "\(error)"])
        }
    }
}
