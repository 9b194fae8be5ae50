import Enforcer
import Foundation
import Logging
import PolicyCompiler
import PolicyLang
import Tunnel

/// Joins the policy to the tunnel: resolves each session's identity, decides every packet,
/// reloads the policy without dropping anyone, and adds the policy's identities as peers.
public final class EdgeService: @unchecked Sendable {
    public let enforcer: Enforcer
    public let source: PolicySource
    public let metrics = EdgeMetrics()
    private let logger: Logger
    private let decisionLog: DecisionLog?
    /// Guards `peers`, `policyPeers` and every call into the enforcer (which is not itself locked).
    private let lock = NSLock()
    private var peers: [PublicKey: Enforcer.PeerContext] = [:]
    /// Peers this service added from the policy's identities, with the allowed IPs it gave them.
    private var policyPeers: [PublicKey: [IPPrefix]] = [:]
    private var runtime: TunnelRuntime?
    private let reloader: PolicyReloader
    private let started = Date()
    /// Called with the tables of each generation put in force after the first (the daemon
    /// updates the XDP deny list from it).
    public var onPolicyInstalled: (@Sendable (DecisionTables) -> Void)?
    /// Extra sections of `ztpc status` (the daemon adds its XDP counters).
    public var statusExtras: (@Sendable () -> [String: Any])?

    /// The time a compile of the policy may take, in seconds, unless the daemon sets another.
    public static let defaultReloadTimeout: Double = 30

    /// Loads the policy once; the daemon refuses to start without one. Each compile, this first
    /// one and every reload, may take `reloadTimeout` seconds (nil: no limit).
    public init(
        source: PolicySource, cacheSize: Int, allowLogSample: Int, decisionLog: DecisionLog?, logger: Logger,
        reloadTimeout: Double? = EdgeService.defaultReloadTimeout
    ) throws(PolicySource.LoadFailure) {
        let t0 = Date()
        let tables = try source.load(budget: CompileBudget(seconds: reloadTimeout))
        self.source = source
        self.logger = logger
        self.decisionLog = decisionLog
        enforcer = Enforcer(store: PolicyStore(tables, origin: source.description), cacheCapacity: cacheSize)
        enforcer.allowSampleInterval = UInt64(allowLogSample)
        if let decisionLog { enforcer.decisionLog = { decisionLog.write($0) } }
        reloader = PolicyReloader(source: source, timeLimit: reloadTimeout, logger: logger)
        logger.info(
            "policy generation 1 loaded from \(source) in \(Int(Date().timeIntervalSince(t0) * 1000)) ms: \(tables.rules.count) rules, \(tables.identities.count) identities")
        reloader.setInstaller { [weak self] tables in self?.install(tables) }
    }

    // MARK: Tunnel hooks

    /// The hooks to give the tunnel runtime at creation; `attach` completes the link.
    public var hooks: TunnelRuntime.Hooks {
        TunnelRuntime.Hooks(
            sessionEstablished: { [weak self] key, endpoint in self?.sessionEstablished(key, endpoint) },
            sessionEnded: { [weak self] key, _ in self?.sessionEnded(key) },
            packetFilter: { [weak self] direction, key, packet in
                guard let self else { return .drop }
                return self.filter(direction, key, packet)
            })
    }

    /// Links the service to its runtime and adds the policy's identities as peers.
    public func attach(_ runtime: TunnelRuntime) {
        lock.lock()
        self.runtime = runtime
        lock.unlock()
        syncPolicyPeers(enforcer.store.generation.tables)
    }

    private func sessionEstablished(_ key: PublicKey, _ endpoint: Endpoint?) {
        lock.lock()
        if peers[key] != nil {
            lock.unlock()
            return
        }
        let context = enforcer.sessionEstablished(key)
        peers[key] = context
        let runtime = self.runtime
        lock.unlock()
        let at = endpoint.map { " from \($0)" } ?? ""
        if let context {
            let name = enforcer.store.generation.tables.identities.first { $0.key == context.key }?.name ?? "?"
            logger.info("session established: \(name) (\(key.base64))\(at)")
        } else {
            let known = enforcer.store.generation.tables.identity(forKey: key) != nil
            logger.warning(
                "session refused: peer \(key.base64)\(at) \(known ? "is allowed nothing by the policy" : "has no identity in the policy"); closing it")
            lock.lock()
            peers[key] = nil
            lock.unlock()
            runtime?.closeSession(of: key)
        }
    }

    private func sessionEnded(_ key: PublicKey) {
        lock.lock()
        if let context = peers.removeValue(forKey: key) { enforcer.sessionEnded(context) }
        lock.unlock()
    }

    private func filter(_ direction: TunnelRuntime.Direction, _ key: PublicKey, _ packet: UnsafeRawBufferPointer)
        -> TunnelRuntime.Verdict
    {
        lock.lock()
        defer { lock.unlock() }
        guard let context = peers[key] else { return .drop }
        let verdict = direction == .inbound ? enforcer.inbound(context, packet) : enforcer.outbound(context, packet)
        return verdict == .pass ? .pass : .drop
    }

    // MARK: Reload

    /// Compiles the policy again off the data path and puts it in force if it compiles and its
    /// tests pass; otherwise the old policy stays and the error is logged and counted. A request
    /// made while a compile runs supersedes it: that compile stops and the newest files are
    /// compiled instead (see ``PolicyReloader``). `completion` gets whether a new generation
    /// was put in force.
    public func reload(reason: String, completion: (@Sendable (Bool) -> Void)? = nil) {
        reloader.request(reason: reason, completion: completion)
    }

    /// Puts freshly compiled tables in force and brings peers and sessions in line with them.
    private func install(_ tables: DecisionTables) -> PolicyGeneration {
        let g = enforcer.store.install(tables, origin: source.description)
        syncPolicyPeers(tables)
        closeSessionsNoLongerAllowed()
        onPolicyInstalled?(tables)
        return g
    }

    private func closeSessionsNoLongerAllowed() {
        lock.lock()
        let gone = peers.filter { !enforcer.stillAllowed($0.value) }.map(\.key)
        for key in gone { if let c = peers.removeValue(forKey: key) { enforcer.sessionEnded(c) } }
        let runtime = self.runtime
        lock.unlock()
        for key in gone {
            logger.warning("session closed: peer \(key.base64) is allowed nothing by the new policy")
            runtime?.closeSession(of: key)
        }
    }

    /// Adds the identities that list allowed IPs as peers, updates changed ones, and removes the
    /// peers this service added whose identity is gone. Peers configured otherwise are left alone.
    private func syncPolicyPeers(_ tables: DecisionTables) {
        lock.lock()
        guard let runtime else {
            lock.unlock()
            return
        }
        var wanted: [PublicKey: [IPPrefix]] = [:]
        for identity in tables.identities where !identity.allowedIPs.isEmpty {
            wanted[identity.key] = identity.allowedIPs
        }
        let previous = policyPeers
        policyPeers = wanted
        lock.unlock()
        for (key, ips) in wanted where previous[key] != ips {
            do {
                if previous[key] == nil && runtime.status().contains(where: { $0.publicKey == key }) {
                    try runtime.updatePeer(.init(publicKey: key, allowedIPs: ips), replaceAllowedIPs: true)
                } else if previous[key] == nil {
                    try runtime.addPeer(.init(publicKey: key, allowedIPs: ips))
                } else {
                    try runtime.updatePeer(.init(publicKey: key, allowedIPs: ips), replaceAllowedIPs: true)
                }
            } catch {
                logger.error("cannot add peer \(key.base64) from the policy: \(error)")
            }
        }
        for key in previous.keys where wanted[key] == nil {
            runtime.removePeer(key)
            logger.info("peer \(key.base64) removed: its identity left the policy")
        }
    }

    // MARK: Status

    /// Samples counters into the metrics (call before rendering them).
    public func sampleMetrics() {
        lock.lock()
        let stats = enforcer.snapshot()
        let sessions = peers.count
        let cached = enforcer.cachedFlows
        let runtime = self.runtime
        lock.unlock()
        let reloads = reloader.snapshot
        let g = enforcer.store.generation
        metrics.sample(
            enforcer: stats, tunnel: runtime?.statistics(), sessions: sessions, cached: cached,
            generation: g.number, reloads: reloads.reloads, reloadFailures: reloads.failures, policyLoadedAt: g.loadedAt,
            lastReloadFailed: reloads.lastError != nil)
    }

    /// The answer to `ztpc status`: one JSON document.
    public func status() -> String {
        lock.lock()
        let stats = enforcer.snapshot()
        let sessions = peers.map { (key, c) -> [String: Any] in
            ["peer": key.base64, "identity": enforcer.store.generation.tables.identities.first { $0.key == c.key }?.name ?? NSNull()]
        }
        let reloads = reloader.snapshot
        let cached = enforcer.cachedFlows, capacity = enforcer.cacheCapacity
        let runtime = self.runtime
        lock.unlock()
        let g = enforcer.store.generation
        var tunnel: [String: Any] = [:]
        if let t = runtime?.statistics() {
            tunnel = [
                "handshakes": t.global.handshakes, "rx_bytes": t.global.receivedBytes, "tx_bytes": t.global.sentBytes,
                "drops": Dictionary(uniqueKeysWithValues: DropReason.allCases.map { ($0.rawValue, t.global.drops[$0]) }),
                "peers": runtime?.status().count ?? 0,
            ]
        }
        var document: [String: Any] = [
            "policy": [
                "generation": g.number, "origin": g.origin, "loaded_at": ISO8601DateFormatter().string(from: g.loadedAt),
                "rules": g.tables.rules.count, "identities": g.tables.identities.count, "reloads": reloads.reloads,
                "reload_failures": reloads.failures, "reloads_superseded": reloads.superseded,
                "last_reload_error": reloads.lastError ?? NSNull(),
            ],
            "sessions": sessions.sorted { "\($0["peer"]!)" < "\($1["peer"]!)" },
            "decisions": [
                "allowed": stats.allowed, "cache_hits": stats.cacheHits, "cache_misses": stats.cacheMisses,
                "dropped": Dictionary(uniqueKeysWithValues: stats.dropped.map { ($0.key.rawValue, $0.value) }),
                "by_rule": stats.byRule, "cached_flows": cached, "cache_capacity": capacity,
            ],
            "tunnel": tunnel,
            "uptime_seconds": Int(Date().timeIntervalSince(started)),
        ]
        for (k, v) in statusExtras?() ?? [:] { document[k] = v }
        let data = (try? JSONSerialization.data(withJSONObject: document, options: [.prettyPrinted, .sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self) + "\n"
    }
}
