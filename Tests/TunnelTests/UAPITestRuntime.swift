import Foundation
@testable import Tunnel

/// A ``TunnelRuntime`` that is never started, for applying UAPI requests without root: a
/// socket pair stands in for the TUN device and the UDP socket is bound to a free port.
final class UAPITestRuntime {
    let key: PrivateKey
    let runtime: TunnelRuntime
    private let kernelEnd: Int32

    /// With `privateKey` nil the runtime starts without a key (``key`` is then the one a
    /// test may set later).
    init(privateKey: PrivateKey? = PrivateKey(), peers: [TunnelConfiguration.PeerConfiguration] = [],
         defaultPersistentKeepalive: UInt16? = nil) throws {
        key = privateKey ?? PrivateKey()
        var fds: [Int32] = [0, 0]
        guard socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue), 0, &fds) == 0 else {
            throw SystemError("socketpair", code: errno)
        }
        kernelEnd = fds[1]
        var configuration = TunnelConfiguration(privateKey: privateKey, peers: peers)
        configuration.defaultPersistentKeepalive = defaultPersistentKeepalive
        runtime = try TunnelRuntime(configuration: configuration, tun: TunDevice(packetDescriptor: fds[0], name: "uapi-test"),
                                    socket: UDPSocket(port: 0))
    }

    deinit {
        runtime.stop()
        close(kernelEnd)
    }

    /// The peers as `get=1` sees them, by public key.
    var peers: [PublicKey: PeerSnapshot] {
        Dictionary(uniqueKeysWithValues: runtime.uapiSnapshot().peers.map { ($0.publicKey, $0) })
    }
}

/// Lowercase hex of a key, as the UAPI writes it.
func uapiHex(_ key: PublicKey) -> String { key.bytes.hex }
func uapiHex(_ key: PrivateKey) -> String { key.withUnsafeBytes { Array($0) }.hex }
func uapiHex(_ key: SymmetricKey) -> String { key.rawBytes.hex }
