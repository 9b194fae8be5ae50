// One verdict of the packet filter per run of packets of one flow: the segments cut from one
// TSO/USO super-packet, or consecutive decrypted packets of one peer with the same flow, are
// decided once and the verdict applied to all of them. A packet whose flow differs in anything
// the enforcer reads is always decided on its own.

import NetPrimitives

/// The packet filter's last verdict, held for the packets that follow it with the same peer and
/// the same ``PacketSummary`` (family, protocol, addresses, ports, ICMP kind and quoted flow):
/// everything the enforcer's decision reads from a packet. TCP flags are not in it: the
/// enforcer's verdict does not depend on them. A packet the summary cannot be read from
/// (malformed, to be dropped by the filter) is decided on its own and ends the run.
///
/// Lives for one hold of the data-path lock (one TUN batch or one receive chunk): the state the
/// filter reads cannot change under it except a policy swap, which a run of at most a batch then
/// follows one batch late, as a decision per batch must. The filter's own state moves once per
/// run, not per packet: a run is one evaluation against a rate limit, and a run whose first
/// packet a limit dropped is dropped whole (the enforcer fails closed). A value on the I/O
/// thread's stack: no allocation.
struct FilterRun {
    typealias Filter = (TunnelRuntime.Direction, PublicKey, UnsafeRawBufferPointer) -> TunnelRuntime.Verdict
    typealias Repeated = (TunnelRuntime.Direction, PublicKey, TunnelRuntime.Verdict, Int) -> Void

    let direction: TunnelRuntime.Direction
    private var peer: PublicKey?
    private var summary: PacketSummary?
    private var verdict: TunnelRuntime.Verdict = .pass
    /// Packets given the held verdict since the filter was last called.
    private var repeats = 0

    init(_ direction: TunnelRuntime.Direction) {
        self.direction = direction
    }

    /// The verdict on `packet` of `peer`: the held one when the packet continues the run, else
    /// the filter's (after reporting the run's repeats to `repeated`).
    @inline(__always)
    mutating func verdict(_ peer: PublicKey, _ packet: UnsafeRawBufferPointer, filter: Filter,
                          repeated: Repeated?) -> TunnelRuntime.Verdict {
        let summary = PacketSummary.parse(packet)
        if let summary, summary == self.summary, peer == self.peer {
            repeats += 1
            return verdict
        }
        finish(repeated)
        verdict = filter(direction, peer, packet)
        self.peer = peer
        // A packet with no summary starts no run: the next one is decided again.
        self.summary = summary
        return verdict
    }

    /// Reports the repeats of the run in progress, if any, and ends it. Call before the lock is
    /// released.
    mutating func finish(_ repeated: Repeated?) {
        if repeats > 0, let peer { repeated?(direction, peer, verdict, repeats) }
        repeats = 0
        summary = nil
        peer = nil
    }
}
