import Foundation
import Enforcer
import PolicyCompiler
import PolicyFixtures
import PolicyLang

// `PolicyProfile enforce RULES [ROUNDS]`: the "enforce hit" benchmark's loop, for perf and for
// interleaved A/B runs: 1,024 cached flows of one peer, every packet a hit.

/// One raw IPv4/IPv6 packet, as EnforcementBenchmarks builds them.
func profilePacket(source: UInt128, destination: UInt128, v6: Bool, proto: UInt8, sport: UInt16, dport: UInt16) -> [UInt8] {
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

func enforceProfile(_ tables: DecisionTables, _ spec: PolicySetSpec, rounds: Int) {
    var t = tables
    for i in t.identities.indices { t.identities[i].evaluationRate = Rate(count: 10_000_000, seconds: 1) }
    for i in t.rules.indices { t.rules[i].rate = Rate(count: 10_000_000, seconds: 1) }
    let start: Int64 = 1_795_424_400_000
    let e = Enforcer(store: PolicyStore(t, origin: "profile"), cacheCapacity: 65_536)
    let peer = t.identities.lazy.compactMap { e.sessionEstablished($0.key, now: start) }.first!
    var packets: [[UInt8]] = []
    for (n, q) in spec.queries(count: 2_048).enumerated() where packets.count < 1_024 {
        let v6 = q.family == .v6
        let source: UInt128 = v6 ? (UInt128(0xfd00_0099) << 96 | UInt128(n)) : UInt128(0x0A63_0000 | UInt32(n & 0xffff))
        packets.append(
            profilePacket(
                source: source, destination: q.address, v6: v6, proto: q.ipProtocol == 47 ? 6 : q.ipProtocol,
                sport: UInt16(truncatingIfNeeded: 1024 + n), dport: q.port))
    }
    for p in packets { _ = p.withUnsafeBytes { e.inbound(peer, $0, now: start) } }
    var passed = 0
    var now = start
    let t0 = profileNow(), c0 = cpu()
    for _ in 0..<rounds {
        for p in packets {
            if p.withUnsafeBytes({ e.inbound(peer, $0, now: now) }) == .pass { passed += 1 }
        }
        now &+= 1
    }
    let n = Double(rounds * packets.count)
    print(String(format: "enforce hit: %.1f ns/packet (%.1f ns of thread CPU time); %d passed", (profileNow() - t0) * 1e6 / n, (cpu() - c0) * 1e6 / n, passed))
}
