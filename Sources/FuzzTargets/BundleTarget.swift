import CSodium
import PolicyCompiler
import PolicyLang

extension FuzzTargets {
    /// The bundle decoder, then the evaluator over whatever it accepted.
    ///
    /// A bundle ends in a SHA-256 of everything before it, which random mutation never gets right,
    /// so by default the target repairs it: the first input byte is a mode, and unless its low bit
    /// is set the rest is taken as header and body only, its body length field is set to match,
    /// and the checksum is appended. That lets the fuzzer reach the body decoder and its index
    /// checks; mode 1 feeds the bytes as they are (checksum and length checks included).
    ///
    /// With bit 1 of the mode set the bytes go through the signed-bundle path instead
    /// (``signedBundle(_:repaired:)``): the trailer parser and `SignedBundle.open` under a fixed
    /// trusted key, a repaired input being signed by that key so that the decoder behind the
    /// signature check is reached.
    ///
    /// Invariants: an accepted bundle re-encodes to tables that decode equal, and the evaluator
    /// can query every identity of it without trapping (the decoder promises that every index is
    /// checked).
    public static func bundle(_ bytes: [UInt8]) {
        guard let mode = bytes.first else { return }
        let body = Array(bytes.dropFirst())
        if mode & 2 == 2 { return signedBundle(body, repaired: mode & 1 == 0) }
        let candidate = mode & 1 == 1 ? body : withRepairedChecksum(body)
        guard let tables = try? PolicyBundle.decode(candidate) else { return }
        precondition((try? PolicyBundle.decode(PolicyBundle.encode(tables))) == tables, "re-encoded bundle decodes differently")
        query(tables)
    }

    /// `header + body` with the body length field set and the trailing SHA-256 appended; too
    /// short a header is returned unchanged (the decoder rejects it).
    static func withRepairedChecksum(_ headerAndBody: [UInt8]) -> [UInt8] {
        let headerSize = 8 + 2 + 2 + 4 + 32
        guard headerAndBody.count >= headerSize else { return headerAndBody }
        var out = headerAndBody
        let length = UInt32(truncatingIfNeeded: out.count - headerSize)
        for i in 0..<4 { out[12 + i] = UInt8(truncatingIfNeeded: length >> (8 * UInt32(i))) }
        var digest = [UInt8](repeating: 0, count: Int(crypto_hash_sha256_BYTES))
        _ = crypto_hash_sha256(&digest, out, UInt64(out.count))
        return out + digest
    }

    /// A handful of decisions per identity and for anyone: addresses at partition starts and two
    /// fixed ones, ports at the edges, the protocols with port tables and one without.
    static func query(_ tables: DecisionTables) {
        let addresses = tables.v4Starts.prefix(4).map { IPAddress(v4: $0) } + tables.v6Starts.prefix(2).map { IPAddress(v6: $0) }
            + [IPAddress(v4: 0x0A00_0001), IPAddress(v6: 0xFD00 << 112 | 1)]
        let instant = policyTestInstant
        for address in addresses {
            for (port, ipProtocol) in [(UInt16(0), UInt8(1)), (22, 6), (443, 17), (65535, 47), (0, 58)] {
                for identity in [-1] + Array(tables.identities.indices.prefix(3)) {
                    let decision = tables.decide(identity: identity, address: address, port: port, ipProtocol: ipProtocol, at: instant)
                    precondition(tables.rules(of: decision).allSatisfy { tables.rules.indices.contains(Int($0)) }, "decision names a rule the bundle lacks")
                }
                _ = tables.decideForAnyone(address: address, port: port, ipProtocol: ipProtocol, at: instant)
            }
        }
    }
}
