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
    private let reloadQueue = DispatchQueue(label: "ztp.policy-reload")
    private var reloadCount: UInt64 = 0
    private var reloadFailureCount: UInt64 = 0
    private var lastReloadError: String?
    private var lastReloadMilliseconds: Double = 0
    private let started = Date()
    /// Called with the tables of each generation put in force after the first (the daemon
    /// updates the XDP deny list from it).
    public var onPolicyInstalled: (@Sendable (DecisionTables) -> Void)?
    /// Extra sections of `ztpc status` (the daemon adds its XDP counters).
    public var statusExtras: (@Sendable () -> [String: Any])?

    /// Loads the policy once; the daemon refuses to start without one.
    public init(
        source: PolicySource, cacheSize: Int, allowLogSample: Int, decisionLog: DecisionLog?, logger: Logger
    ) throws(PolicySource.LoadFailure) {
        let t0 = Date()
        let tables = try source.load()
        self.source = source
        self.logger = logger
        self.decisionLog = decisionLog
        enforcer = Enforcer(store: PolicyStore(tables, origin: source.description), cacheCapacity: cacheSize)
        enforcer.allowSampleInterval = UInt64(allowLogSample)
        if let decisionLog { enforcer.decisionLog = { decisionLog.write($0) } }
        logger.info(
            "policy generation 1 loaded from \(source) in \(Int(Date().timeIntervalSince(t0) * 1000)) ms: \(tables.rules.count) rules, \(tables.identities.count) identities")
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
        guard let peerKey = PeerKey(bytes: key.bytes) else { return }
        lock.lock()
        if peers[key] != nil {
            lock.unlock()
            return
        }
        let context = enforcer.sessionEstablished(peerKey)
        peers[key] = context
        let runtime = self.runtime
        lock.unlock()
        let at = endpoint.map { " from \($0)" } ?? ""
        if let context {
            let name = enforcer.store.generation.tables.identities.first { $0.key == context.key }?.name ?? "?"
            logger.info("session established: \(name) (\(key.base64))\(at)")
        } else {
            let known = enforcer.store.generation.tables.identity(forKey: peerKey) != nil
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
    /// tests pass; otherwise the old policy stays and the error is logged and counted.
    public func reload(reason: String, completion: (@Sendable (Bool) -> Void)? = nil) {
        reloadQueue.async { [self] in
            let t0 = Date()
            do throws(PolicySource.LoadFailure) {
                let tables = try source.load()
                let ms = Date().timeIntervalSince(t0) * 1000
                let g = enforcer.store.install(tables, origin: source.description)
                lock.lock()
                reloadCount += 1
                lastReloadError = nil
                lastReloadMilliseconds = ms
                lock.unlock()
                logger.info(
                    "policy generation \(g.number) loaded from \(source) (\(reason)) in \(Int(ms)) ms: \(tables.rules.count) rules, \(tables.identities.count) identities")
                syncPolicyPeers(tables)
                closeSessionsNoLongerAllowed()
                onPolicyInstalled?(tables)
                completion?(true)
            } catch {
                lock.lock()
                reloadFailureCount += 1
                lastReloadError = error.message
                lock.unlock()
                logger.error(
                    "policy reload (\(reason)) refused; generation \(enforcer.store.generation.number) stays in force")
                for d in error.diagnostics {
                    logger.error("\(d.span.map { "\($0.start): " } ?? "")error: \(d.message) [\(d.code.rawValue)]")
                }
                if error.diagnostics.isEmpty { logger.error("\(error.message)") }
                completion?(false)
            }
        }
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
            guard let key = try? PublicKey(rawBytes: identity.key.bytes) else { continue }
            wanted[key] = identity.allowedIPs.compactMap { IPPrefix($0.description) }
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
        let reloads = reloadCount, failures = reloadFailureCount, failing = lastReloadError != nil
        let runtime = self.runtime
        lock.unlock()
        let g = enforcer.store.generation
        metrics.sample(
            enforcer: stats, tunnel: runtime?.statistics(), sessions: sessions, cached: cached,
            generation: g.number, reloads: reloads, reloadFailures: failures, policyLoadedAt: g.loadedAt,
            lastReloadFailed: failing)
    }

    /// The answer to `ztpc status`: one JSON document.
    public func status() -> String {
        lock.lock()
        let stats = enforcer.snapshot()
        let sessions = peers.map { (key, c) -> [String: Any] in
            ["peer": key.base64, "identity": enforcer.store.generation.tables.identities.first { $0.key == c.key }?.name ?? NSNull()]
        }
        let reloads = reloadCount, failures = reloadFailureCount, lastError = lastReloadError
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
                "rules": g.tables.rules.count, "identities": g.tables.identities.count, "reloads": reloads,
                "reload_failures": failures, "last_reload_error": lastError ?? NSNull(),
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
