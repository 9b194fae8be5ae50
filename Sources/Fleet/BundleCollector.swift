import Etcd
import Foundation
import Logging

/// Deletes old bundles from etcd, so that publishing every day does not fill etcd's quota (2 GB by
/// default; a 10,000-rule bundle is about 6 MB).
///
/// It keeps the bundle the pointer names, the pointer's `previous` (what `rollback --previous` and
/// a canary's other edges use) and the `keep` most recently published bundles besides the current
/// one (by the revision their manifest was written, that is the publish). Every other bundle with a
/// manifest is deleted, and so are chunks left without a manifest by a publisher that lost a race
/// or died, once the pointer has moved after them (such a publisher can no longer win: its guarded
/// transaction compares against a pointer revision older than their writes).
///
/// Each delete is one transaction guarded by the pointer's mod revision as read, so a pointer moved
/// meanwhile (a publish, a rollback) makes it change nothing, and by every deleted key's mod
/// revision being at most the revision of the read, so chunks a publisher has rewritten since are
/// kept. A publisher for its part compares each of its chunks' revisions in its own transaction, so
/// a collection that deletes a bundle while it is being published again makes that publish upload
/// it again rather than point at missing chunks (``Publisher``).
///
/// Deleting keys does not shrink etcd's database by itself: the deleted values stay in etcd's
/// history until it is compacted, and the file keeps its size until it is defragmented. With
/// `compact`, the collector compacts etcd's history up to its last delete (cluster-wide: other
/// users of the same etcd lose the history too); defragmenting each member stays the operator's
/// (`etcdctl defrag`), as it blocks the member while it runs.
public struct BundleCollector: Sendable {
    /// The number of bundles kept besides the current one when nothing else is said.
    public static let defaultKeep = 5
    /// Bundles deleted per transaction: one compare and one delete each, under etcd's default limit
    /// of 128 operations per transaction (`--max-txn-ops`), with room for the pointer's compare.
    static let bundlesPerTransaction = 100

    /// What a collection did.
    public struct Outcome: Sendable, Equatable {
        /// The bundles kept, newest publish first.
        public var kept: [String]
        /// The bundles deleted (with their manifest), in hash order.
        public var deleted: [String]
        /// Hashes whose chunks had no manifest (an unfinished publish) and were deleted.
        public var orphansDeleted: [String]
        /// How many keys (manifests and chunks) were deleted.
        public var keysDeleted: Int64
        /// The revision etcd's history was compacted to, when asked to and something was deleted.
        public var compactedTo: Int64?
    }

    /// The store whose bundles are collected.
    public let store: BundleStore
    private let logger: Logger

    /// A collector of the bundles at `layout`.
    public init(client: EtcdClient, layout: FleetLayout, logger: Logger = Logger(label: "ztp.fleet.gc")) {
        self.store = BundleStore(client: client, layout: layout)
        self.logger = logger
    }

    private var client: EtcdClient { store.client }
    private var layout: FleetLayout { store.layout }

    /// Deletes every bundle but the current one, its previous one and the `keep` newest others.
    ///
    /// A pointer moved or a bundle rewritten while it runs makes it read again and start over, at
    /// most three times.
    /// - Parameters:
    ///   - keep: how many bundles to keep besides the current one (at least 0; the previous one is
    ///     always kept).
    ///   - compact: compact etcd's history up to the last delete, so that etcd can reuse the space.
    /// - Throws: ``FleetError/collectionRaced(attempts:)`` when publishes kept moving the pointer;
    ///   ``FleetError/invalidPointer(_:)``; etcd errors.
    public func collect(keep: Int = BundleCollector.defaultKeep, compact: Bool = false) async throws -> Outcome {
        precondition(keep >= 0, "keep counts bundles")
        let attempts = 3
        for attempt in 1...attempts {
            if let outcome = try await collectOnce(keep: keep, compact: compact) { return outcome }
            logger.info("the fleet changed while collecting bundles; reading again", metadata: ["attempt": "\(attempt)"])
        }
        throw FleetError.collectionRaced(attempts: attempts)
    }

    /// One read and its deletes; nil when a guard failed (the state changed after the read).
    private func collectOnce(keep: Int, compact: Bool) async throws -> Outcome? {
        let snapshot = try await StoredBundles.read(client: client, layout: layout)
        let plan = snapshot.plan(keep: keep)
        var keysDeleted: Int64 = 0
        var lastRevision: Int64 = 0
        let doomed = plan.deleted + plan.orphans
        for start in stride(from: 0, to: doomed.count, by: Self.bundlesPerTransaction) {
            let batch = doomed[start..<min(start + Self.bundlesPerTransaction, doomed.count)]
            var compare = [EtcdCompare.modRevision(of: layout.current, is: snapshot.pointerRevision)]
            var deletes: [EtcdOperation] = []
            for hash in batch {
                // The manifest `bundles/HASH` and its chunks `bundles/HASH/NNNN`: the hashes have a
                // fixed length, so this prefix holds no other bundle's keys.
                let keys = EtcdKeyRange.prefix(layout.manifest(hash))
                compare.append(EtcdCompare(range: keys, .modRevision(snapshot.revision + 1), .less))
                deletes.append(.delete(keys))
            }
            let result = try await client.txn(compare: compare, success: deletes)
            guard result.succeeded else { return nil }
            for case .delete(let deleted) in result.results { keysDeleted += deleted }
            lastRevision = result.revision
        }
        var compactedTo: Int64?
        if compact && lastRevision > 0 {
            try await client.compact(revision: lastRevision)
            compactedTo = lastRevision
        }
        if !doomed.isEmpty {
            logger.info(
                "deleted old bundles",
                metadata: ["bundles": "\(plan.deleted.count)", "orphans": "\(plan.orphans.count)", "keys": "\(keysDeleted)"]
            )
        }
        return Outcome(
            kept: plan.kept, deleted: plan.deleted, orphansDeleted: plan.orphans, keysDeleted: keysDeleted, compactedTo: compactedTo
        )
    }
}

/// The bundles stored under a prefix, and the pointer, as read in one snapshot (keys only).
struct StoredBundles {
    struct Entry {
        /// The manifest's mod revision: when the bundle was last published (0: no manifest).
        var manifestRevision: Int64 = 0
        /// The newest mod revision among the bundle's keys.
        var newestRevision: Int64 = 0
    }

    var pointer: BundlePointer?
    /// The pointer's mod revision (0: none).
    var pointerRevision: Int64
    /// The store's revision at the read.
    var revision: Int64
    var bundles: [String: Entry]

    static func read(client: EtcdClient, layout: FleetLayout) async throws -> StoredBundles {
        let result = try await client.txn(
            compare: [],
            success: [.range(.key(layout.current)), .rangeKeysOnly(.prefix(layout.bundlesPrefix))]
        )
        guard result.results.count == 2, case .range(let pointerRange) = result.results[0],
            case .range(let bundleRange) = result.results[1]
        else {
            throw EtcdError.invalidResponse(endpoint: "txn", reason: "expected two range results")
        }
        let pointerKV = pointerRange.keyValues.first
        var bundles: [String: Entry] = [:]
        for kv in bundleRange.keyValues {
            let rest = kv.key.dropFirst(layout.bundlesPrefix.count)
            let hash = String(rest.prefix { $0 != "/" })
            // Keys this layout did not write are left alone.
            guard BundleHash.isValid(hash) else { continue }
            var entry = bundles[hash] ?? Entry()
            if rest.count == hash.count { entry.manifestRevision = kv.modRevision }
            entry.newestRevision = max(entry.newestRevision, kv.modRevision)
            bundles[hash] = entry
        }
        return StoredBundles(
            pointer: try pointerKV.map { try BundlePointer.decode($0.value) },
            pointerRevision: pointerKV?.modRevision ?? 0,
            revision: result.revision,
            bundles: bundles
        )
    }

    struct Plan: Equatable {
        var kept: [String]
        var deleted: [String]
        var orphans: [String]
    }

    /// What to keep and what to delete, keeping `keep` bundles besides the current one.
    func plan(keep: Int) -> Plan {
        let published = bundles.filter { $0.value.manifestRevision > 0 }
            .sorted { ($0.value.manifestRevision, $0.key) > ($1.value.manifestRevision, $1.key) }
            .map(\.key)
        var kept = Set([pointer?.hash, pointer?.previous].compactMap { $0 })
        kept.formUnion(published.filter { $0 != pointer?.hash }.prefix(keep))
        // Chunks without a manifest are an unfinished publish. Its publisher read the pointer before
        // writing them, so once the pointer has moved after them its guarded transaction must fail:
        // they can never be published. Before any pointer exists nothing is deleted.
        let orphans = bundles.filter { hash, entry in
            entry.manifestRevision == 0 && pointer != nil && entry.newestRevision < pointerRevision && !kept.contains(hash)
        }.map(\.key).sorted()
        return Plan(
            kept: published.filter(kept.contains),
            deleted: published.filter { !kept.contains($0) }.sorted(),
            orphans: orphans
        )
    }
}
