/// A flow as the enforcer sees it: which peer, and the packet's 5-tuple in the client-to-resource
/// direction. Plain integers, so that keys live inline in the cache with no allocation.
///
/// The addresses come first: they need 16-byte alignment, and put first they leave no padding,
/// so that the key takes 42 bytes and a cache entry with it one 64-byte line.
struct FlowKey: Hashable, Sendable {
    var client: UInt128
    var resource: UInt128
    /// The enforcer's slot for the peer, stable across policy reloads.
    var peer: UInt32
    var clientPort: UInt16
    var resourcePort: UInt16
    var ipProtocol: UInt8
    var isV6: Bool

    init(
        peer: UInt32, ipProtocol: UInt8, isV6: Bool, client: UInt128, resource: UInt128, clientPort: UInt16,
        resourcePort: UInt16
    ) {
        self.peer = peer
        self.ipProtocol = ipProtocol
        self.isV6 = isV6
        self.client = client
        self.resource = resource
        self.clientPort = clientPort
        self.resourcePort = resourcePort
    }

    /// A cheap, well-mixed hash for the open-addressing cache (not Hasher, which is seeded per
    /// process and slower than this table needs).
    @inline(__always)
    var slotHash: UInt64 {
        var h: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ UInt64(peer) ^ UInt64(ipProtocol) << 32 ^ (isV6 ? 1 << 40 : 0)
        h = mix(h ^ UInt64(truncatingIfNeeded: client) ^ UInt64(truncatingIfNeeded: client >> 64) &* 31)
        h = mix(h ^ UInt64(truncatingIfNeeded: resource) ^ UInt64(truncatingIfNeeded: resource >> 64) &* 31)
        return mix(h ^ UInt64(clientPort) << 16 ^ UInt64(resourcePort))
    }

    @inline(__always)
    private func mix(_ x: UInt64) -> UInt64 {
        var z = x &* 0xBF58_476D_1CE4_E5B9
        z ^= z >> 31
        return z &* 0x94D0_49BB_1331_11EB ^ (z >> 29)
    }
}
