import Benchmark
import Enforcer
import Foundation
import PolicyCompiler
import PolicyFixtures
import PolicyLang

// Per-packet enforcement cost (the enforcer ztpd calls for every decrypted packet) at 10,000
// rules, and the time to reload a policy of that size.
//
// - hit: a packet of a flow whose decision is cached: parse the IP header, hash the flow, find
//   it in the cache, check generation and expiry. Cycles over 1,024 cached flows of one peer.
// - miss: a packet of a flow that is not cached: the same, plus the evaluation budget, a
//   `decide` on the tables, the flow budget, and storing the decision. The cache holds 64 flows
//   and the ring has 16,384, so every packet misses. Evaluation and flow rates are raised in the
//   fixture so that budgets are charged but never run out (a drop would skip the decision).
// - reload: compile the 10,000-rule directory and install it as a new generation, as ztpd does
//   on a change (readers keep going meanwhile; this is the time until the new policy is in force).

/// Raw IPv4/IPv6 packets, built before measuring, end to end in one buffer as a receive path
/// holds them (an array per packet would add a retain and a release of its buffer to every
/// packet measured, which ztpd's path does not have).
struct PacketRing {
    var bytes: [UInt8]
    /// Packet `k` is `bytes[bounds[k] ..< bounds[k + 1]]`.
    var bounds: [Int]
    var peers: [Enforcer.PeerContext]
    var count: Int { peers.count }

    init(packets: [[UInt8]], peers: [Enforcer.PeerContext]) {
        bytes = packets.flatMap { $0 }
        bounds = [0]
        for p in packets { bounds.append(bounds.last! + p.count) }
        self.peers = peers
    }

    /// Calls `body` with `count` packets in turn from packet `from` (wrapping), and the peer each
    /// came from.
    @inline(__always)
    func forEach(from: Int, count: Int, _ body: (UnsafeRawBufferPointer, Enforcer.PeerContext) -> Void) {
        bytes.withUnsafeBytes { all in
            bounds.withUnsafeBufferPointer { b in
                var k = from % self.count
                for _ in 0..<count {
                    body(UnsafeRawBufferPointer(rebasing: all[b[k]..<b[k + 1]]), peers[k])
                    k += 1
                    if k == self.count { k = 0 }
                }
            }
        }
    }

    static func packet(source: UInt128, destination: UInt128, v6: Bool, proto: UInt8, sport: UInt16, dport: UInt16) -> [UInt8] {
        var transport = [UInt8](repeating: 0, count: proto == 6 ? 20 : 8)
        transport[0] = UInt8(sport >> 8); transport[1] = UInt8(sport & 0xff)
        transport[2] = UInt8(dport >> 8); transport[3] = UInt8(dport & 0xff)
        if proto == 1 || proto == 58 { transport[0] = proto == 1 ? 8 : 128; transport[1] = 0 }
        if v6 {
            var p = [UInt8](repeating: 0, count: 40)
            p[0] = 0x60
            p[4] = UInt8(transport.count >> 8); p[5] = UInt8(transport.count & 0xff)
            p[6] = proto == 1 ? 58 : proto
            p[7] = 64
            for i in 0..<16 {
                p[8 + i] = UInt8(truncatingIfNeeded: source >> (120 - 8 * i))
                p[24 + i] = UInt8(truncatingIfNeeded: destination >> (120 - 8 * i))
            }
            return p + transport
        }
        var p = [UInt8](repeating: 0, count: 20)
        p[0] = 0x45
        let total = 20 + transport.count
        p[2] = UInt8(total >> 8); p[3] = UInt8(total & 0xff)
        p[8] = 64
        p[9] = proto
        for i in 0..<4 {
            p[12 + i] = UInt8(truncatingIfNeeded: source >> (24 - 8 * i))
            p[16 + i] = UInt8(truncatingIfNeeded: destination >> (24 - 8 * i))
        }
        return p + transport
    }
}

final class EnforcementFixtures: @unchecked Sendable {
    static let shared = EnforcementFixtures()
    private let lock = NSLock()
    private var built: (tables: DecisionTables, spec: PolicySetSpec)?

    /// The 10,000-rule tables with budgets raised so that rate limits never trip.
    func tables() -> (DecisionTables, PolicySetSpec) {
        lock.lock()
        defer { lock.unlock() }
        if let b = built { return (b.tables, b.spec) }
        let (spec, dir) = FixtureStore.shared.set(rules: 10_000)
        var t = compileOrDie(dir, lint: false)
        for i in t.identities.indices { t.identities[i].evaluationRate = Rate(count: 10_000_000, seconds: 1) }
        for i in t.rules.indices { t.rules[i].rate = Rate(count: 10_000_000, seconds: 1) }
        built = (t, spec)
        return (t, spec)
    }

    /// An enforcer over the tables, a session per identity allowed anything, and a ring of packets.
    func ring(cacheCapacity: Int, flows: Int, onePeer: Bool) -> (Enforcer, PacketRing) {
        let (t, spec) = tables()
        let e = Enforcer(store: PolicyStore(t, origin: "bench"), cacheCapacity: cacheCapacity)
        var contexts: [Int: Enforcer.PeerContext] = [:]
        for (i, identity) in t.identities.enumerated() {
            if let c = e.sessionEstablished(identity.key, now: fixedNow) { contexts[i] = c }
        }
        let queries = spec.queries(count: flows * 2)
        var packets: [[UInt8]] = []
        var peers: [Enforcer.PeerContext] = []
        let first = contexts.keys.min()!
        for (n, q) in queries.enumerated() where packets.count < flows {
            guard let idx = t.identity(named: spec.identities[q.identity].name) else { continue }
            let peerIndex = onePeer ? first : idx
            guard let peer = contexts[peerIndex] else { continue }
            let v6 = q.family == .v6
            let source: UInt128 = v6 ? (UInt128(0xfd00_0099) << 96 | UInt128(n)) : UInt128(0x0A63_0000 | UInt32(n & 0xffff))
            packets.append(
                PacketRing.packet(
                    source: source, destination: q.address, v6: v6, proto: q.ipProtocol == 47 ? 6 : q.ipProtocol,
                    sport: UInt16(truncatingIfNeeded: 1024 + n), dport: q.port))
            peers.append(peer)
        }
        return (e, PacketRing(packets: packets, peers: peers))
    }
}

func enforcementBenchmarks() {
    for (name, capacity, flows, onePeer) in [("hit", 65_536, 1_024, true), ("miss", 64, 16_384, false)] {
        var cursor = 0
        var fixture: (Enforcer, PacketRing)? = nil
        Benchmark(
            "enforce \(name) (10000 rules)",
            configuration: .init(
                metrics: [.wallClock, .throughput, .mallocCountTotal], timeUnits: .nanoseconds, warmupIterations: 10,
                scalingFactor: .kilo, maxDuration: .seconds(5), maxIterations: 20_000)
        ) { benchmark in
            let (e, ring) = fixture!
            let n = benchmark.scaledIterations.count
            var now = fixedNow
            benchmark.startMeasurement()
            ring.forEach(from: cursor, count: n) { packet, peer in
                blackHole(e.inbound(peer, packet, now: now))
                now &+= 1  // a millisecond per packet, from the same instant each iteration: the cached decisions stay valid
            }
            benchmark.stopMeasurement()
            cursor &+= n
        } setup: {
            fixture = EnforcementFixtures.shared.ring(cacheCapacity: capacity, flows: flows, onePeer: onePeer)
            // Warm the cache for the hit case: every flow decided once.
            if let (e, ring) = fixture {
                ring.forEach(from: 0, count: ring.count) { packet, peer in _ = e.inbound(peer, packet, now: fixedNow) }
            }
        }
    }

    Benchmark(
        "reload (10000 rules)",
        configuration: .init(
            metrics: [.wallClock, .cpuTotal, .peakMemoryResident], timeUnits: .milliseconds, warmupIterations: 1,
            scalingFactor: .one, maxDuration: .seconds(60), maxIterations: 10)
    ) { benchmark in
        let dir = FixtureStore.shared.set(rules: 10_000).directory
        let (t, _) = EnforcementFixtures.shared.tables()
        let store = PolicyStore(t, origin: "bench")
        benchmark.startMeasurement()
        let tables = try PolicySource.directory(dir).load(now: fixedNow)
        store.install(tables, origin: dir)
        benchmark.stopMeasurement()
        blackHole(store.generation)
    } setup: {
        _ = EnforcementFixtures.shared.tables()
    }
}
