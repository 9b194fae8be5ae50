import Enforcer
import Foundation
import Logging
import PolicyCompiler
import PolicyLang
import Tunnel

/// Joins the policy to the tunnel: resolves each session's identity, decides every packet,
/// reloads the policy without dropping anyone, and adds the policy's identities as peers.
///
/// Its four jobs live in their own types: ``SessionTable`` (sessions and the per-packet
/// verdict), ``PolicyReloader`` (compiles off the data path, the newest change winning),
/// ``PolicyPeerSync`` (the policy's identities as tunnel peers) and ``EdgeStatus`` (what
/// `ztpc status` shows). The tunnel is reached only through ``SessionControl``.
package final class EdgeService: @unchecked Sendable {
    package let enforcer: Enforcer
    package let source: PolicySource
    package let metrics = EdgeMetrics()
    private let logger: Logger
    private let sessions: SessionTable
    private let peerSync: PolicyPeerSync
    private let reloader: PolicyReloader
    private let started = Date()
    /// Called with the tables of each generation put in force after the first (the daemon
    /// updates the XDP deny list from it).
    package var onPolicyInstalled: (@Sendable (DecisionTables) -> Void)?
    /// The XDP section of `ztpc status`, when the daemon has attached the guard (it samples
    /// the guard's counters into the metrics too).
    package var xdpStatus: (@Sendable () -> EdgeStatus.XDP?)?

    /// The time a compile of the policy may take, in seconds, unless the daemon sets another.
    package static let defaultReloadTimeout: Double = 30

    /// Loads the policy once; the daemon refuses to start without one. Each compile, this first
    /// one and every reload, may take `reloadTimeout` seconds (nil: no limit). Under `trust`
    /// naming publishers, every bundle loaded (this one, each reload and each
    /// ``installBundle(_:origin:)``) must carry a trusted signature, and a directory is refused.
    /// Bundles installed from a remote source are kept in `cache`, when given.
    package init(
        source: PolicySource, cacheSize: Int, allowLogSample: Int, decisionLog: DecisionLog?, logger: Logger,
        reloadTimeout: Double? = EdgeService.defaultReloadTimeout, trust: BundleTrust = .anyBundle,
        cache: BundleCache? = nil
    ) throws(PolicySource.LoadFailure) {
        let t0 = Date()
        let loaded = try source.loadPolicy(trust: trust, budget: CompileBudget(seconds: reloadTimeout))
        let tables = loaded.tables
        self.source = source
        self.logger = logger
        enforcer = Enforcer(store: PolicyStore(tables, origin: source.description), cacheCapacity: cacheSize)
        enforcer.allowSampleInterval = UInt64(allowLogSample)
        if let decisionLog { enforcer.decisionLog = { decisionLog.write($0) } }
        sessions = SessionTable(enforcer: enforcer, logger: logger)
        peerSync = PolicyPeerSync(logger: logger)
        reloader = PolicyReloader(
            source: source, trust: trust, cache: cache, first: loaded, timeLimit: reloadTimeout, logger: logger)
        logger.info(
            "policy generation 1 loaded from \(source) in \(Int(Date().timeIntervalSince(t0) * 1000)) ms: \(tables.rules.count) rules, \(tables.identities.count) identities\(loaded.signer.map { ", signed by \($0)" } ?? "")")
        reloader.setInstaller(
            { [weak self] tables, origin in self?.install(tables, origin: origin) },
            current: { [weak self] in self?.enforcer.store.generation })
    }

    // MARK: The tunnel

    /// The hooks to give the tunnel runtime at creation; ``attach(_:)`` completes the link.
    package var hooks: TunnelRuntime.Hooks {
        let sessions = self.sessions
        return TunnelRuntime.Hooks(
            sessionEstablished: { key, endpoint in sessions.established(key, from: endpoint) },
            sessionEnded: { key, _ in sessions.ended(key) },
            packetFilter: { direction, key, packet in sessions.verdict(direction, key, packet) },
            packetFilterRepeated: { direction, key, verdict, count in sessions.repeated(direction, key, verdict, count) })
    }

    /// Links the service to its tunnel and adds the policy's identities as peers. Call before
    /// the tunnel starts moving packets.
    package func attach(_ runtime: TunnelRuntime) {
        attach(control: runtime)
    }

    /// ``attach(_:)`` for any ``SessionControl``.
    package func attach(control: any SessionControl) {
        sessions.attach(control)
        peerSync.sync(enforcer.store.generation.tables, into: control)
    }

    // MARK: Reload

    /// Compiles the policy again off the data path and puts it in force if it compiles and its
    /// tests pass; otherwise the old policy stays and the error is logged and counted. A request
    /// made while a compile runs supersedes it: that compile stops and the newest files are
    /// compiled instead (see ``PolicyReloader``). `completion` gets whether a new generation
    /// was put in force.
    package func reload(reason: String, completion: (@Sendable (Bool) -> Void)? = nil) {
        reloader.request(reason: reason) { outcome in
            if case .installed = outcome { completion?(true) } else { completion?(false) }
        }
    }

    /// Puts a bundle from a remote source (the etcd follower) in force through the same path
    /// as a local reload: checksum, then the signature under `trusted_publishers`, then the
    /// tables, then the same atomic swap (sessions kept, flows whose permission went cut at their
    /// next packet). Serialized with reloads, the newest request winning. A refusal keeps the
    /// policy in force and is logged, counted and shown in `ztpc status` like a refused reload.
    /// An installed bundle is written to the ``BundleCache``.
    ///
    /// The bundle format carries no `tests:` (they run at `ztpc compile`, before signing), so
    /// there are none to run here: the signature is what vouches for them.
    ///
    /// `origin` names the source in logs and status (for example `etcd:/ztp/bundles/HASH`).
    /// `contentHash` is the SHA-256 of `bytes` when the caller has just checked it (the fleet's
    /// store names bundles by it): it is not computed again. Costs one SHA-256 of the bytes (unless
    /// given), one signature check and one decode, off the data path.
    package func installBundle(_ bytes: [UInt8], origin: String, contentHash: String? = nil) async -> BundleInstallOutcome {
        let hash = contentHash ?? PolicyBundle.contentHash(bytes)
        return await withCheckedContinuation { continuation in
            reloader.request(reason: "bundle from \(origin)", load: .bundle(bytes, hash: hash, origin: origin)) { outcome in
                switch outcome {
                case .installed(let g): continuation.resume(returning: .installed(generation: g.number, hash: hash))
                case .unchanged(let g): continuation.resume(returning: .unchanged(generation: g.number, hash: hash))
                case .refused(let reason): continuation.resume(returning: .refused(hash: hash, reason: reason))
                case .superseded: continuation.resume(returning: .superseded(hash: hash))
                }
            }
        }
    }

    /// Puts freshly loaded tables in force and brings peers and sessions in line with them.
    private func install(_ tables: DecisionTables, origin: String) -> PolicyGeneration {
        let g = enforcer.store.install(tables, origin: origin)
        if let control = sessions.attached { peerSync.sync(tables, into: control) }
        sessions.closeSessionsNoLongerAllowed()
        onPolicyInstalled?(tables)
        return g
    }

    // MARK: Status

    /// Samples counters into the metrics (call before rendering them).
    package func sampleMetrics() {
        let snapshot = sessions.snapshot()
        let reloads = reloader.snapshot
        let g = enforcer.store.generation
        metrics.sample(
            enforcer: snapshot.statistics, tunnel: sessions.attached?.statistics(), sessions: snapshot.sessions.count,
            cached: snapshot.cachedFlows, generation: g.number, reloads: reloads.reloads,
            reloadFailures: reloads.failures, policyLoadedAt: g.loadedAt, lastReloadFailed: reloads.lastError != nil)
    }

    /// What `ztpc status` shows.
    package func statusDocument() -> EdgeStatus {
        let snapshot = sessions.snapshot()
        let reloads = reloader.snapshot
        let g = enforcer.store.generation
        let control = sessions.attached
        let tunnel = control.map { control -> EdgeStatus.Tunnel in
            let t = control.statistics()
            return EdgeStatus.Tunnel(
                peers: control.peerCount, handshakes: t.global.handshakes, receivedBytes: t.global.receivedBytes,
                sentBytes: t.global.sentBytes,
                drops: Dictionary(uniqueKeysWithValues: DropReason.allCases.map { ($0.rawValue, t.global.drops[$0]) }))
        }
        let stats = snapshot.statistics
        return EdgeStatus(
            policy: .init(
                generation: g.number, origin: g.origin, loadedAt: ISO8601DateFormatter().string(from: g.loadedAt),
                rules: g.tables.rules.count, identities: g.tables.identities.count, reloads: reloads.reloads,
                reloadFailures: reloads.failures, reloadsSuperseded: reloads.superseded, lastReloadError: reloads.lastError,
                lastReloadErrorAt: reloads.lastErrorAt.map { ISO8601DateFormatter().string(from: $0) },
                bundleHash: reloads.bundleHash, signer: reloads.signer?.base64),
            sessions: snapshot.sessions.map { EdgeStatus.Session(peer: $0.key.base64, identity: $0.identity) }
                .sorted { $0.peer < $1.peer },
            decisions: .init(
                allowed: stats.allowed, cacheHits: stats.cacheHits, cacheMisses: stats.cacheMisses,
                dropped: Dictionary(uniqueKeysWithValues: stats.dropped.map { ($0.key.rawValue, $0.value) }),
                byRule: stats.byRule, cachedFlows: snapshot.cachedFlows, cacheCapacity: snapshot.cacheCapacity),
            tunnel: tunnel, xdp: xdpStatus?(), uptimeSeconds: Int(Date().timeIntervalSince(started)))
    }

    /// The answer to `ztpc status`: ``statusDocument()`` as JSON.
    package func status() -> String {
        statusDocument().json()
    }
}
