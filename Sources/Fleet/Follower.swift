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
    /// The mod revision of the last pointer received, by a read or the watch (its bundle may still
    /// be on its way): what the periodic re-read compares with.
    public var receivedRevision: Int64 = 0
    /// The revision of the last event the watch in place reported and the follower applied.
    var watchedRevision: Int64 = 0
}

/// The watch said nothing of a pointer that a re-read found moved: it is given up for a new one.
struct WatchStalled: Error, CustomStringConvertible {
    var received: Int64
    var found: Int64
    var description: String {
        "the pointer moved to revision \(found) but the watch reported nothing after \(received); watching again"
    }
}

/// Keeps an edge on the bundle the fleet's pointer names.
///
/// It reads `PREFIX/current`, fetches and checks the bundle, hands it to the installer, then
/// watches the pointer from the revision after the one it read. When the watch breaks it watches
/// again from the last revision seen, on the next member that answers, after a back-off; when that
/// revision has been compacted it reads the pointer again. A bundle refused once is not retried
/// until the pointer names another.
///
/// A watch can also hang without ending: a member that froze (a stalled disk, a partition that
/// drops packets without resetting connections) sends neither events nor an error. As a backstop
/// the follower reads the pointer every `rereadInterval` while it watches; when the pointer has
/// moved past what the watch reported, it drops that watch, applies the pointer and watches again.
public final class Follower: Service, Sendable {
    /// The edge's name, for the canary bucket and the log.
    public let edgeName: String
    private let client: EtcdClient
    private let store: BundleStore
    private let install: BundleInstaller
    private let backoff: Backoff
    private let rereadInterval: Duration
    private let logger: Logger
    private let state: Mutex<FollowerSnapshot>
    private let onChange: (@Sendable (FollowerSnapshot) -> Void)?

    /// - Parameters:
    ///   - installedHash: the hash of the bundle the edge already runs (from its cache), so that it
    ///     is not installed again.
    ///   - rereadInterval: how often the pointer is read while watching, in case the watch hangs
    ///     (one small read per edge: 30 s by default).
    ///   - onChange: called after each install, refusal or failure (the status reporter refreshes).
    public init(
        client: EtcdClient,
        layout: FleetLayout,
        edgeName: String,
        installedHash: String? = nil,
        backoff: Backoff = Backoff(),
        rereadInterval: Duration = Follower.defaultRereadInterval,
        logger: Logger = Logger(label: "ztp.fleet.follower"),
        onChange: (@Sendable (FollowerSnapshot) -> Void)? = nil,
        install: @escaping BundleInstaller
    ) {
        self.client = client
        self.store = BundleStore(client: client, layout: layout)
        self.edgeName = edgeName
        self.install = install
        self.backoff = backoff
        self.rereadInterval = rereadInterval
        self.logger = logger
        self.onChange = onChange
        self.state = Mutex(FollowerSnapshot(installedHash: installedHash))
    }

    /// How often a watching follower reads the pointer when nothing else is said.
    public static let defaultRereadInterval: Duration = .seconds(30)

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
                try await watchWithBackstop(from: resumeFrom!)
            } catch is CancellationError {
                break
            } catch EtcdError.compacted(let compactRevision) {
                logger.info("pointer revision compacted, reading it again", metadata: ["compact_revision": "\(compactRevision ?? 0)"])
                resumeFrom = nil
                continue
            } catch let stalled as WatchStalled {
                logger.warning("fleet follower: \(stalled)", metadata: ["edge": "\(edgeName)"])
                setWatching(false)
                resumeFrom = nil
                continue
            } catch {
                if Task.isCancelled { break }
                let watched = state.withLock { $0.watchedRevision }
                if let start = resumeFrom, watched >= start {
                    // The watch had reported events before it broke: resume after them.
                    resumeFrom = watched + 1
                    failures = 0
                }
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

    /// Watches from `revision` and, beside the watch, reads the pointer every ``rereadInterval``:
    /// throws ``WatchStalled`` (ending the watch) when the pointer moved and the watch said nothing.
    private func watchWithBackstop(from revision: Int64) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await self.watch(from: revision) }
            group.addTask { try await self.rereadUntilStalled() }
            // The first to end (the watch breaking, or a stall found) ends the other.
            defer { group.cancelAll() }
            try await group.next()
        }
    }

    /// Returns never; throws ``WatchStalled`` once a read finds a pointer newer than any received.
    private func rereadUntilStalled() async throws {
        while true {
            try await Task.sleep(for: rereadInterval)
            let kv: EtcdKeyValue?
            do {
                kv = try await client.get(store.layout.current)
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                // etcd out of reach: nothing to compare; the watch breaks by itself or the next read tells.
                logger.debug("periodic pointer read failed: \(error)", metadata: ["edge": "\(edgeName)"])
                continue
            }
            let received = snapshot.receivedRevision
            if let kv, kv.modRevision > received {
                throw WatchStalled(received: received, found: kv.modRevision)
            }
        }
    }

    /// Reads the pointer, applies it, and returns the store revision of the read.
    private func readAndApply() async throws -> Int64 {
        let read = try await client.range(.key(store.layout.current))
        if let kv = read.keyValues.first {
            try await apply(kv)
        }
        return read.revision
    }

    private func watch(from revision: Int64) async throws {
        for try await response in client.watch(.key(store.layout.current), startRevision: revision) {
            if response.created { setWatching(true) }
            for event in response.events {
                if event.kind == .put {
                    try await apply(event.keyValue)
                } else {
                    state.withLock { $0.receivedRevision = max($0.receivedRevision, event.keyValue.modRevision) }
                    logger.warning("the fleet pointer was deleted; keeping the current bundle", metadata: ["edge": "\(edgeName)"])
                }
                state.withLock { $0.watchedRevision = event.keyValue.modRevision }
            }
        }
    }

    /// Brings the edge to the bundle `kv` (a pointer) names for it.
    private func apply(_ kv: EtcdKeyValue) async throws {
        state.withLock { $0.receivedRevision = max($0.receivedRevision, kv.modRevision) }
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
