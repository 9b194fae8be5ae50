import Etcd
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// What the edge did with a bundle the follower handed it.
public enum InstallOutcome: Sendable, Equatable {
    case installed
    /// The edge would not run it (bad signature, bad bundle, failing tests): it keeps its policy.
    case refused(reason: String)
    /// Not looked at now (another reload went first): the follower tries again after a back-off.
    case deferred(reason: String)
}

/// An install the edge put off: read the pointer again after a back-off.
struct InstallDeferred: Error, CustomStringConvertible {
    var hash: String
    var reason: String
    var description: String { "installing bundle \(hash) was put off: \(reason)" }
}

/// Installs a bundle on the edge: its bytes, already checked against `hash`. The edge verifies
/// what it needs (signature, format) and swaps the policy in, or refuses.
public typealias BundleInstaller = @Sendable (_ bundle: Data, _ hash: String) async -> InstallOutcome

/// What a follower knows, for the edge's status report.
public struct FollowerSnapshot: Sendable, Equatable {
    /// The bundle the edge runs (as far as this follower installed it or was told at start).
    public var installedHash: String?
    /// The bundle the pointer asks this edge to run.
    public var wantedHash: String?
    /// The last bundle refused, by the edge or because it was corrupt in etcd; nil again once a
    /// bundle is installed.
    public var refusedHash: String?
    /// Why the last refusal or failure happened; nil once the wanted bundle is installed.
    public var lastError: String?
    /// The mod revision of the pointer last applied.
    public var pointerRevision: Int64 = 0
    /// Whether a watch is in place right now.
    public var watching = false
}

/// Keeps an edge on the bundle the fleet's pointer names.
///
/// It reads `PREFIX/current`, fetches and checks the bundle, hands it to the installer, then
/// watches the pointer from the revision after the one it read. When the watch breaks it watches
/// again from the last revision seen, on the next member that answers, after a back-off; when that
/// revision has been compacted it reads the pointer again. A bundle refused once is not retried
/// until the pointer names another.
public final class Follower: Service, Sendable {
    /// The edge's name, for the canary bucket and the log.
    public let edgeName: String
    private let client: EtcdClient
    private let store: BundleStore
    private let install: BundleInstaller
    private let backoff: Backoff
    private let logger: Logger
    private let state: Mutex<FollowerSnapshot>
    private let onChange: (@Sendable (FollowerSnapshot) -> Void)?

    /// - Parameters:
    ///   - installedHash: the hash of the bundle the edge already runs (from its cache), so that it
    ///     is not installed again.
    ///   - onChange: called after each install, refusal or failure (the status reporter refreshes).
    public init(
        client: EtcdClient,
        layout: FleetLayout,
        edgeName: String,
        installedHash: String? = nil,
        backoff: Backoff = Backoff(),
        logger: Logger = Logger(label: "ztp.fleet.follower"),
        onChange: (@Sendable (FollowerSnapshot) -> Void)? = nil,
        install: @escaping BundleInstaller
    ) {
        self.client = client
        self.store = BundleStore(client: client, layout: layout)
        self.edgeName = edgeName
        self.install = install
        self.backoff = backoff
        self.logger = logger
        self.onChange = onChange
        self.state = Mutex(FollowerSnapshot(installedHash: installedHash))
    }

    /// What the follower knows now.
    public var snapshot: FollowerSnapshot { state.withLock { $0 } }

    /// Follows the pointer until the task is cancelled or a graceful shutdown begins.
    public func run() async throws {
        await cancelWhenGracefulShutdown {
            await self.follow()
        }
    }

    private func follow() async {
        // The revision to watch from; nil: read the pointer first.
        var resumeFrom: Int64?
        var failures = 0
        while !Task.isCancelled {
            do {
                if resumeFrom == nil {
                    resumeFrom = try await readAndApply() + 1
                }
                try await watch(from: resumeFrom!, progress: { revision in
                    resumeFrom = revision + 1
                    failures = 0
                })
            } catch is CancellationError {
                break
            } catch EtcdError.compacted(let compactRevision) {
                logger.info("pointer revision compacted, reading it again", metadata: ["compact_revision": "\(compactRevision ?? 0)"])
                resumeFrom = nil
                continue
            } catch {
                if Task.isCancelled { break }
                failures += 1
                let delay = backoff.delay(afterFailures: failures)
                let isWatchBreak: Bool
                if case EtcdError.watchEnded = error { isWatchBreak = true } else { isWatchBreak = false }
                // A broken watch resumes from the last revision seen; anything else (etcd down
                // while reading, a bundle that could not be fetched) reads the pointer again.
                if !isWatchBreak { resumeFrom = nil }
                setWatching(false)
                logger.warning(
                    "fleet follower: \(error); retrying in \(delay)",
                    metadata: ["edge": "\(edgeName)", "failures": "\(failures)"]
                )
                try? await Task.sleep(for: delay)
            }
        }
        setWatching(false)
    }

    /// Reads the pointer, applies it, and returns the store revision of the read.
    private func readAndApply() async throws -> Int64 {
        let read = try await client.range(.key(store.layout.current))
        if let kv = read.keyValues.first {
            try await apply(kv)
        }
        return read.revision
    }

    private func watch(from revision: Int64, progress: (Int64) -> Void) async throws {
        for try await response in client.watch(.key(store.layout.current), startRevision: revision) {
            if response.created { setWatching(true) }
            for event in response.events {
                if event.kind == .put {
                    try await apply(event.keyValue)
                } else {
                    logger.warning("the fleet pointer was deleted; keeping the current bundle", metadata: ["edge": "\(edgeName)"])
                }
                progress(event.keyValue.modRevision)
            }
        }
    }

    /// Brings the edge to the bundle `kv` (a pointer) names for it.
    private func apply(_ kv: EtcdKeyValue) async throws {
        let pointer: BundlePointer
        do {
            pointer = try BundlePointer.decode(kv.value)
        } catch {
            record { $0.lastError = "\(error)"; $0.pointerRevision = kv.modRevision }
            logger.error("fleet pointer refused: \(error)", metadata: ["edge": "\(edgeName)"])
            return
        }
        let wanted = pointer.hash(forEdge: edgeName)
        let current = snapshot
        record { $0.wantedHash = wanted }
        if wanted == current.installedHash || wanted == current.refusedHash {
            record { $0.pointerRevision = kv.modRevision }
            return
        }
        let bundle: Data
        do {
            bundle = try await store.fetch(wanted)
        } catch let error as FleetError {
            // Corrupt or missing in etcd: refuse it like a bad bundle, keep the policy in force.
            refuse(wanted, reason: "\(error)", revision: kv.modRevision)
            return
        }
        let started = ContinuousClock.now
        switch await install(bundle, wanted) {
        case .installed:
            record {
                $0.installedHash = wanted
                $0.refusedHash = nil
                $0.lastError = nil
                $0.pointerRevision = kv.modRevision
            }
            logger.info(
                "fleet bundle installed",
                metadata: ["edge": "\(edgeName)", "hash": "\(wanted)", "revision": "\(kv.modRevision)", "install": "\(ContinuousClock.now - started)"]
            )
        case .refused(let reason):
            refuse(wanted, reason: reason, revision: kv.modRevision)
        case .deferred(let reason):
            throw InstallDeferred(hash: wanted, reason: reason)
        }
    }

    private func refuse(_ hash: String, reason: String, revision: Int64) {
        record {
            $0.refusedHash = hash
            $0.lastError = "bundle \(hash) refused: \(reason)"
            $0.pointerRevision = revision
        }
        logger.error("fleet bundle refused, keeping the policy in force", metadata: ["edge": "\(edgeName)", "hash": "\(hash)", "reason": "\(reason)"])
    }

    private func setWatching(_ watching: Bool) {
        let changed = state.withLock { snapshot -> Bool in
            defer { snapshot.watching = watching }
            return snapshot.watching != watching
        }
        if changed { onChange?(snapshot) }
    }

    private func record(_ change: (inout FollowerSnapshot) -> Void) {
        let updated = state.withLock { snapshot -> FollowerSnapshot in
            change(&snapshot)
            return snapshot
        }
        onChange?(updated)
    }
}
