import Foundation
import NetPrimitives
import PolicyCompiler
import PolicyLang

/// Decides every packet of every session against the policy in force.
///
/// Inbound (client to resource) packets are decided per flow: a cached decision is reused until
/// it expires or a new policy generation loads; a miss asks the tables, charged to the client's
/// evaluation budget, and a new allowed flow is charged to its rule's flow budget. Outbound
/// (resource to client) packets pass only for flows the client opened and the policy still
/// allows, and ICMP errors pass when they belong to such a flow. Over any limit, the enforcer
/// drops: it fails closed.
///
/// Thread safety: the policy is read atomically and reloads never block packets; the cache,
/// buckets and counters are not locked, so the caller serializes calls. ztpd serializes them
/// with the tunnel's data-path lock: packets are decided inside the tunnel's packet filter,
/// which runs under that lock, and everything else (session events, reloads, status) enters
/// through `TunnelRuntime.serializedWithDataPath` (Edge's `SessionTable`). A packet so takes
/// one lock.
public final class Enforcer: @unchecked Sendable {
    /// What to do with one packet: forward it, or drop it and count why.
    public enum Verdict: Sendable, Equatable {
        case pass
        case drop(DropReason)
    }

    /// Why a packet was dropped; the raw values are the words of the decision log and the metrics' `reason` label.
    public enum DropReason: String, Sendable, CaseIterable {
        case malformed
        // The same words as a decision's reason (and the decision log) use.
        case unknownIdentity = "unknown-identity"
        case policyDeny = "denied"
        case defaultDeny = "no-rule-matched"
        case evaluationRateLimited = "evaluation-rate-limited"
        case flowRateLimited = "flow-rate-limited"
        case unsolicited
    }

    /// A decision made on a cache miss, for the decision log.
    public struct DecisionRecord: Sendable {
        /// When the decision was made, in milliseconds of `Enforcer.now()`'s clock.
        public var time: Int64
        /// The WireGuard key of the session the packet came through.
        package var peer: PublicKey
        /// The identity the key resolved to in the policy, or nil for an unknown key.
        public var identity: String?
        /// The packet's addresses, protocol and ports.
        package var summary: PacketSummary
        /// The tables' decision: verdict, matching rule and reason.
        package var decision: Decision
        /// Ids of the rules behind the decision, as ``PolicyCompiler/RuleInfo/id`` names them.
        package var ruleIDs: [String]
        /// The policy generation that decided, so that a log line can be tied to a reload.
        public var generation: UInt64
        /// Set when the packet was dropped by a rate limit rather than by the decision.
        package var limited: DropReason?
    }

    /// Counters, for metrics and `ztpc status`.
    public struct Statistics: Sendable {
        /// Packets decided from the flow cache.
        package var cacheHits: UInt64 = 0
        /// Packets the cache could not decide (no entry, expired, or decided by an older generation):
        /// they go to the tables unless a limit drops them first.
        package var cacheMisses: UInt64 = 0
        /// Packets given the verdict of the packet before them in a batch, of the same flow,
        /// without a decision of their own (see ``Enforcer/countRepeated(_:_:)``).
        package var sharedVerdicts: UInt64 = 0
        /// Packets passed.
        package var allowed: UInt64 = 0
        /// Decisions made on the tables (cache misses that got as far as a decision), by verdict.
        package var decisionsAllowed: UInt64 = 0
        /// Decisions on the tables that denied.
        package var decisionsDenied: UInt64 = 0
        /// Dropped packets by reason.
        package var drops = DropCounts()
        /// Dropped packets by reason; a reason that never happened has no entry.
        package var dropped: [DropReason: UInt64] { drops.nonZero }
        /// Decisions by rule id, since the enforcer started (across policy generations).
        package var byRule: [String: UInt64] = [:]
    }

    /// Per-session state: who the peer is and its budgets.
    public final class PeerContext: @unchecked Sendable {
        /// The session's WireGuard public key.
        public let key: PublicKey
        let slot: UInt32
        var identity: Int?
        /// Read on every packet; unchecked for the reason ``Enforcer/statistics`` is.
        @exclusivity(unchecked) var resolvedIn: UInt64
        var evaluations: TokenBucket
        var flows: [Int32: TokenBucket] = [:]

        init(key: PublicKey, slot: UInt32, identity: Int?, generation: PolicyGeneration, now: Int64) {
            self.key = key
            self.slot = slot
            self.identity = identity
            self.resolvedIn = generation.number
            let rate = identity.map { generation.tables.identities[$0].evaluationRate } ?? generation.tables.defaultRate
            evaluations = TokenBucket(rate: rate, now: now)
        }
    }

    /// The policy the enforcer decides against; reload it through this store.
    public let store: PolicyStore
    /// The flow cache; its table is shared memory, so its methods do not mutate the property.
    private let cache: DecisionCache
    private var nextSlot: UInt32 = 1
    private var ruleCounters: [UInt64] = []
    private var ruleCountersGeneration: PolicyGeneration?
    private var allowSamples: UInt64 = 0
    /// Counters since the enforcer was created; read them under the same serialization as the packets.
    /// Callers serialize every call (see the type's comment), so the dynamic exclusivity check
    /// Swift makes on a class's stored property, two runtime calls per access and a few accesses
    /// per packet, guards nothing here and is turned off for the per-packet state.
    @exclusivity(unchecked) package private(set) var statistics = Statistics()

    /// How long a flow may be idle before its replies stop passing (ms).
    var flowIdleTimeout: Int64 = 180_000
    /// Every allow decision is logged when 1; one in N when N.
    package var allowSampleInterval: UInt64 = 100
    /// Receives every deny and a sample of allows. Called on the packet path of a cache miss.
    package var decisionLog: (@Sendable (DecisionRecord) -> Void)?

    /// An enforcer over `store` with a flow cache of `cacheCapacity` entries (allocated once, here: 65 536
    /// entries take a few MB).
    public init(store: PolicyStore, cacheCapacity: Int = 65_536) {
        self.store = store
        cache = DecisionCache(capacity: cacheCapacity)
    }

    /// The number of entries the flow cache was created with.
    public var cacheCapacity: Int { cache.capacity }
    /// The number of live entries in the flow cache; walks the whole cache, so not for the packet path.
    package var cachedFlows: Int { cache.count }

    // MARK: Sessions

    /// Called when a session is established. Returns the peer's context, or nil when the policy
    /// does not know the key or allows it nothing: the caller closes such a session.
    public func sessionEstablished(_ key: PublicKey, now: Int64 = Enforcer.now()) -> PeerContext? {
        let g = store.generation
        guard let identity = g.tables.identity(forKey: key), g.tables.allowsAnything(identity: identity) else { return nil }
        defer { nextSlot &+= 1 }
        return PeerContext(key: key, slot: nextSlot, identity: identity, generation: g, now: now)
    }

    /// Called when a session ends: forgets the peer's flows.
    package func sessionEnded(_ peer: PeerContext) {
        cache.removeAll(peer: peer.slot)
    }

    /// Whether the peer is still allowed anything under the policy in force (checked on reload).
    package func stillAllowed(_ peer: PeerContext) -> Bool {
        let g = store.generation
        guard let identity = g.tables.identity(forKey: peer.key) else { return false }
        return g.tables.allowsAnything(identity: identity)
    }

    // MARK: Packets

    /// Decides a decrypted packet from the client (`peer`) toward a resource.
    public func inbound(_ peer: PeerContext, _ packet: UnsafeRawBufferPointer, now: Int64 = Enforcer.now()) -> Verdict {
        guard let s = PacketSummary.parse(packet) else { return count(.drop(.malformed)) }
        let number = store.generationNumber
        let key = FlowKey(
            peer: peer.slot, ipProtocol: s.ipProtocol, isV6: s.family == .v6, client: s.source, resource: s.destination,
            clientPort: s.sourcePort, resourcePort: s.destinationPort)
        let cached = cache.lookup(key, touchingAt: now)
        if let e = cached, e.made(under: number), now < e.validUntil, peer.resolvedIn == number {
            statistics.cacheHits &+= 1
            return count(e.allowed ? .pass : .drop(e.explicitDeny ? .policyDeny : .defaultDeny))
        }
        statistics.cacheMisses &+= 1
        let g = store.generation
        if peer.resolvedIn != g.number { refresh(peer, g, now: now) }
        if let e = cached, e.towardClient, e.allowed, now - e.lastSeen < flowIdleTimeout {
            // The client answering a flow that a `*` rule let reach it: asked again in that direction.
            guard peer.evaluations.take(now: now) else { return count(.drop(.evaluationRateLimited)) }
            let d = g.tables.decideForAnyone(
                address: IPAddress(family: s.family, value: key.client), port: key.clientPort, ipProtocol: key.ipProtocol, at: now)
            guard d.verdict == .allow else { return count(.drop(.unsolicited)) }
            cache.store(.init(key: key, allowed: true, explicitDeny: false, towardClient: true, validUntil: d.validUntilMilliseconds, lastSeen: now, generation: g.number))
            return count(.pass)
        }
        return decide(peer, s, key, g, now: now, isNewFlow: cached == nil || cached?.allowed == false)
    }

    /// Decides a packet from a resource toward the client (`peer`): only replies of flows the
    /// client opened, or ICMP errors about them, and only while the policy still allows them.
    package func outbound(_ peer: PeerContext, _ packet: UnsafeRawBufferPointer, now: Int64 = Enforcer.now()) -> Verdict {
        guard let s = PacketSummary.parse(packet) else { return count(.drop(.malformed)) }
        let number = store.generationNumber
        let key: FlowKey
        if s.icmp == .error, let q = s.embedded {
            // The quoted packet went from the client to the resource.
            key = FlowKey(
                peer: peer.slot, ipProtocol: q.ipProtocol, isV6: s.family == .v6, client: q.source, resource: q.destination,
                clientPort: q.sourcePort, resourcePort: q.destinationPort)
        } else if s.isICMP {
            key = FlowKey(
                peer: peer.slot, ipProtocol: s.ipProtocol, isV6: s.family == .v6, client: s.destination, resource: s.source,
                clientPort: s.sourcePort, resourcePort: 0)
        } else {
            key = FlowKey(
                peer: peer.slot, ipProtocol: s.ipProtocol, isV6: s.family == .v6, client: s.destination, resource: s.source,
                clientPort: s.destinationPort, resourcePort: s.sourcePort)
        }
        guard let e = cache.lookup(key), e.allowed, now - e.lastSeen < flowIdleTimeout else {
            return unsolicited(peer, s, key, now: now)
        }
        if e.made(under: number) && now < e.validUntil && peer.resolvedIn == number {
            statistics.cacheHits &+= 1
            cache.touch(key, at: now)
            return count(.pass)
        }
        // The decision expired or the policy changed: ask again for the client's direction.
        statistics.cacheMisses &+= 1
        let g = store.generation
        if peer.resolvedIn != g.number { refresh(peer, g, now: now) }
        guard let identity = peer.identity else { return count(.drop(.unknownIdentity)) }
        guard peer.evaluations.take(now: now) else { return count(.drop(.evaluationRateLimited)) }
        let d =
            e.towardClient
            ? g.tables.decideForAnyone(
                address: IPAddress(family: s.family, value: key.client), port: key.clientPort, ipProtocol: key.ipProtocol, at: now)
            : g.tables.decide(
                identity: identity, address: IPAddress(family: s.family, value: key.resource), port: key.resourcePort,
                ipProtocol: key.ipProtocol, at: now)
        cache.store(.init(key: key, allowed: d.verdict == .allow, explicitDeny: d.reason == .denied, towardClient: e.towardClient, validUntil: d.validUntilMilliseconds, lastSeen: now, generation: g.number))
        return count(d.verdict == .allow ? .pass : .drop(.unsolicited))
    }

    /// Traffic toward a client that no flow of the client explains passes only when a `*` rule
    /// allows anyone to reach the client's address and port (`allow * -> 10.99.0.0/24:22/tcp`);
    /// the flow is then remembered so that the client's replies pass.
    private func unsolicited(_ peer: PeerContext, _ s: PacketSummary, _ key: FlowKey, now: Int64) -> Verdict {
        guard s.icmp != .error, s.icmp != .echoReply else { return count(.drop(.unsolicited)) }
        let g = store.generation
        guard g.tables.anyoneClass >= 0, peer.evaluations.take(now: now) else { return count(.drop(.unsolicited)) }
        statistics.cacheMisses &+= 1
        let d = g.tables.decideForAnyone(
            address: IPAddress(family: s.family, value: s.destination), port: s.destinationPort, ipProtocol: s.ipProtocol,
            at: now)
        countRules(d, g)
        guard d.verdict == .allow else { return count(.drop(.unsolicited)) }
        statistics.decisionsAllowed &+= 1
        // Stored in the client's direction, as its replies will look up.
        cache.store(.init(key: key, allowed: true, explicitDeny: false, towardClient: true, validUntil: d.validUntilMilliseconds, lastSeen: now, generation: g.number))
        return count(.pass)
    }

    private func decide(
        _ peer: PeerContext, _ s: PacketSummary, _ key: FlowKey, _ g: PolicyGeneration, now: Int64, isNewFlow: Bool
    ) -> Verdict {
        guard let identity = peer.identity else { return count(.drop(.unknownIdentity)) }
        guard peer.evaluations.take(now: now) else {
            return count(.drop(.evaluationRateLimited))
        }
        let t = g.tables
        let d = t.decide(
            identity: identity, address: IPAddress(family: s.family, value: s.destination), port: s.destinationPort,
            ipProtocol: s.ipProtocol, at: now)
        countRules(d, g)
        if d.verdict == .allow { statistics.decisionsAllowed &+= 1 } else { statistics.decisionsDenied &+= 1 }
        var limited: DropReason? = nil
        if d.verdict == .allow, isNewFlow, d.rateRule >= 0, let rate = d.rate {
            if peer.flows[d.rateRule] == nil { peer.flows[d.rateRule] = TokenBucket(rate: rate, now: now) }
            if peer.flows[d.rateRule]!.take(now: now) == false { limited = .flowRateLimited }
        }
        if let limited {
            log(peer, s, d, g, now: now, limited: limited)
            return count(.drop(limited))
        }
        cache.store(.init(key: key, allowed: d.verdict == .allow, explicitDeny: d.reason == .denied, towardClient: false, validUntil: d.validUntilMilliseconds, lastSeen: now, generation: g.number))
        log(peer, s, d, g, now: now, limited: nil)
        switch d.verdict {
        case .allow: return count(.pass)
        case .deny:
            return count(.drop(d.reason == .denied ? .policyDeny : (d.reason == .unknownIdentity ? .unknownIdentity : .defaultDeny)))
        }
    }

    /// Counts `times` more packets given `verdict` without a decision of their own: the caller
    /// (the tunnel) applied the verdict of the packet just decided to the packets of the same
    /// flow that followed it in one batch. So ``Statistics/allowed`` and the drop counts stay
    /// per packet; cache hits and decisions count calls.
    package func countRepeated(_ verdict: Verdict, _ times: Int) {
        guard times > 0 else { return }
        statistics.sharedVerdicts &+= UInt64(times)
        switch verdict {
        case .pass: statistics.allowed &+= UInt64(times)
        case .drop(let reason): statistics.drops[reason] &+= UInt64(times)
        }
    }

    /// Re-resolves a peer after a reload: its identity may have moved, its limits changed.
    private func refresh(_ peer: PeerContext, _ g: PolicyGeneration, now: Int64) {
        peer.identity = g.tables.identity(forKey: peer.key)
        peer.resolvedIn = g.number
        peer.evaluations.update(rate: peer.identity.map { g.tables.identities[$0].evaluationRate } ?? g.tables.defaultRate)
        // Rule indices belong to a generation; flow budgets start afresh under the new one.
        peer.flows.removeAll(keepingCapacity: true)
    }

    private func log(_ peer: PeerContext, _ s: PacketSummary, _ d: Decision, _ g: PolicyGeneration, now: Int64, limited: DropReason?) {
        guard let decisionLog else { return }
        if d.verdict == .allow && limited == nil {
            allowSamples &+= 1
            guard allowSamples % max(1, allowSampleInterval) == 1 || allowSampleInterval <= 1 else { return }
        }
        let t = g.tables
        decisionLog(
            DecisionRecord(
                time: now, peer: peer.key, identity: peer.identity.map { t.identities[$0].name }, summary: s, decision: d,
                ruleIDs: t.rules(of: d).map { t.rules[Int($0)].id }, generation: g.number, limited: limited))
    }

    private func countRules(_ d: Decision, _ g: PolicyGeneration) {
        if ruleCountersGeneration !== g {
            // Rule indices belong to a generation: fold the old counts in by rule id.
            foldRuleCounters()
            ruleCounters = [UInt64](repeating: 0, count: g.tables.rules.count)
            ruleCountersGeneration = g
        }
        g.tables.forEachRule(of: d) { ruleCounters[Int($0)] &+= 1 }
    }

    private func foldRuleCounters() {
        guard let old = ruleCountersGeneration else { return }
        for (i, n) in ruleCounters.enumerated() where n > 0 { statistics.byRule[old.tables.rules[i].id, default: 0] &+= n }
        ruleCounters = [UInt64](repeating: 0, count: ruleCounters.count)
    }

    @inline(__always)
    private func count(_ v: Verdict) -> Verdict {
        switch v {
        case .pass: statistics.allowed &+= 1
        case .drop(let reason): statistics.drops[reason] &+= 1
        }
        return v
    }

    /// A snapshot of the counters, with decisions by rule id.
    package func snapshot() -> Statistics {
        var s = statistics
        if let g = ruleCountersGeneration {
            for (i, n) in ruleCounters.enumerated() where n > 0 { s.byRule[g.tables.rules[i].id, default: 0] &+= n }
        }
        return s
    }

    /// Wall-clock Unix milliseconds (time windows are wall-clock).
    @inline(__always)
    public static func now() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }
}
