// Which kernel offloads a TunnelRuntime's data path uses: the per-runtime switch between the
// offloading path (virtio-net headers on the TUN, UDP GSO and GRO on the socket) and the plain
// one (a syscall and a checksum per packet), kept so both stay tested and so an operator can
// fall back when a kernel misbehaves.

/// The data path a ``TunnelRuntime`` runs.
package enum DataPathOffloads: String, Sendable, CaseIterable {
    /// Every offload the kernel grants: TCP (and UDP) super-packets from a TUN opened with
    /// ``TunDevice/init(name:offloading:)`` are segmented before encryption and decrypted TCP
    /// segments coalesced before the write; equal-size ciphertexts to one endpoint go as one
    /// `UDP_SEGMENT` send; received datagrams arrive coalesced (`UDP_GRO`). An offload the
    /// kernel refuses is logged once and its plain counterpart used.
    case all
    /// One packet per TUN read and write, one datagram per UDP message (still batched with
    /// `recvmmsg`/`sendmmsg`). A TUN that carries virtio-net headers is still handled.
    case plain

    /// Whether TUNs for this path are opened with offloading (`IFF_VNET_HDR`).
    package var opensTunWithOffloads: Bool { self == .all }

    /// The choice named by `ZTPD_OFFLOAD` (`auto`, `on`, `all`: ``all``; `off`, `plain`:
    /// ``plain``); nil when the value is none of those.
    package init?(setting: String) {
        switch setting.lowercased() {
        case "auto", "on", "all": self = .all
        case "off", "plain": self = .plain
        default: return nil
        }
    }
}
