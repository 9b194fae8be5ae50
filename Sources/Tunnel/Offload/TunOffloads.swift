/// The offloads a TUN opened with `IFF_VNET_HDR` takes (`TUNSETOFFLOAD`, linux/if_tun.h):
/// which super-packets the kernel may hand over and which it accepts back. Empty for a
/// plain TUN.
package struct TunOffloads: OptionSet, Sendable, CustomStringConvertible {
    package let rawValue: UInt32

    package init(rawValue: UInt32) {
        self.rawValue = rawValue
    }

    /// `TUN_F_CSUM`: packets may carry a partial checksum (`NEEDS_CSUM`) both ways.
    package static let TUN_F_CSUM = TunOffloads(rawValue: 0x01)
    /// `TUN_F_TSO4`: IPv4 TCP super-packets (`GSO_TCPV4`).
    package static let TUN_F_TSO4 = TunOffloads(rawValue: 0x02)
    /// `TUN_F_TSO6`: IPv6 TCP super-packets (`GSO_TCPV6`).
    package static let TUN_F_TSO6 = TunOffloads(rawValue: 0x04)
    /// `TUN_F_USO4`: IPv4 UDP super-packets (`GSO_UDP_L4`), Linux 6.2 on.
    package static let TUN_F_USO4 = TunOffloads(rawValue: 0x20)
    /// `TUN_F_USO6`: IPv6 UDP super-packets (`GSO_UDP_L4`), Linux 6.2 on.
    package static let TUN_F_USO6 = TunOffloads(rawValue: 0x40)

    /// What an offloading TUN needs at the least: checksum and TCP segmentation offload.
    package static let tcp: TunOffloads = [.TUN_F_CSUM, .TUN_F_TSO4, .TUN_F_TSO6]
    /// TCP and UDP segmentation offload, asked for first.
    package static let tcpAndUDP: TunOffloads = [.tcp, .TUN_F_USO4, .TUN_F_USO6]

    package var description: String {
        let names: [(TunOffloads, String)] = [
            (.TUN_F_CSUM, "csum"), (.TUN_F_TSO4, "tso4"), (.TUN_F_TSO6, "tso6"), (.TUN_F_USO4, "uso4"), (.TUN_F_USO6, "uso6"),
        ]
        let present = names.filter { contains($0.0) }.map(\.1)
        return present.isEmpty ? "none" : present.joined(separator: ",")
    }
}
