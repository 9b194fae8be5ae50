import Tunnel

/// What the edge needs of the tunnel it enforces on: to run its own work in step with the
/// packet filter, to close sessions, to keep the policy's identities as peers and to read the
/// tunnel's counters. ``TunnelRuntime`` is the implementation; Edge's logic depends on this
/// protocol only, so that it can be driven and tested without a tunnel.
///
/// Events go the other way through ``EdgeService/hooks``: session established and ended, and
/// one verdict per packet.
package protocol SessionControl: AnyObject, Sendable {
    /// Runs `body` serialised with the per-packet filter (see
    /// ``TunnelRuntime/serializedWithDataPath(_:)``): the one lock of the packet path.
    func serializedWithDataPath<T>(_ body: () throws -> T) rethrows -> T
    /// Ends `key`'s session at once (allowed from inside the packet filter).
    func closeSession(of key: PublicKey)
    func hasPeer(_ key: PublicKey) -> Bool
    func addPeer(_ peer: TunnelConfiguration.PeerConfiguration) throws
    func updatePeer(_ peer: TunnelConfiguration.PeerConfiguration, replaceAllowedIPs: Bool) throws
    func removePeer(_ key: PublicKey)
    func statistics() -> TunnelStatistics
    var peerCount: Int { get }
}

extension TunnelRuntime: SessionControl {}
