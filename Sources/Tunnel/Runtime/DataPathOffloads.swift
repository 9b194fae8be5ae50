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

    /// The choice named by `--offload`, `ZTPD_OFFLOAD` or the daemon config's `offload:`
    /// (`auto`, `on`, `all`: ``all``; `off`, `plain`: ``plain``); nil when the value is none
    /// of those.
    package init?(setting: String) {
        switch setting.lowercased() {
        case "auto", "on", "all": self = .all
        case "off", "plain": self = .plain
        default: return nil
        }
    }

    /// Why a setting of the offload mode was refused: which source gave what.
    package struct SettingError: Error, Equatable, CustomStringConvertible {
        /// `--offload` or `ZTPD_OFFLOAD`.
        package var source: String
        package var value: String
        package var description: String { "\(source) is auto or off, not \"\(value)\"" }
    }

    /// The mode ztpd runs: the `--offload` flag if given, else `ZTPD_OFFLOAD` if set, else the
    /// daemon config's `offload:` (already parsed), else ``all`` (auto). The first source that
    /// is present decides, even when a later one says otherwise.
    /// - Throws: ``SettingError`` for a flag or environment value that names no mode.
    package static func resolve(flag: String?, environment: String?, config: DataPathOffloads?) throws(SettingError)
        -> DataPathOffloads {
        if let flag {
            guard let mode = DataPathOffloads(setting: flag) else { throw SettingError(source: "--offload", value: flag) }
            return mode
        }
        if let environment {
            guard let mode = DataPathOffloads(setting: environment) else {
                throw SettingError(source: "ZTPD_OFFLOAD", value: environment)
            }
            return mode
        }
        return config ?? .all
    }
}
