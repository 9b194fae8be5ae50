/// What `get=1` reports: the interface's configuration and each peer's state, taken at
/// one instant.
package struct InterfaceSnapshot: Sendable {
    /// The static private key (printed: the socket is root-only, as for wireguard-go).
    package var privateKey: PrivateKey?
    /// The UDP port (0 or nil: not printed).
    package var listenPort: UInt16?
    /// The socket mark (0 or nil: not printed).
    var fwmark: UInt32?
    /// The peers, in the order they are printed.
    var peers: [PeerSnapshot]

    package init(privateKey: PrivateKey? = nil, listenPort: UInt16? = nil, fwmark: UInt32? = nil, peers: [PeerSnapshot] = []) {
        self.privateKey = privateKey
        self.listenPort = listenPort
        self.fwmark = fwmark
        self.peers = peers
    }
}

/// One peer in an ``InterfaceSnapshot``.
package struct PeerSnapshot: Sendable {
    package var publicKey: PublicKey
    /// Nil: none (printed as all zeros, as wireguard-go does).
    var presharedKey: SymmetricKey?
    var endpoint: Endpoint?
    /// The last completed handshake, since the Unix epoch (0, 0: never).
    var lastHandshakeSeconds: Int
    var lastHandshakeNanoseconds: Int
    var transmittedBytes: UInt64
    var receivedBytes: UInt64
    /// Seconds (0: off).
    var persistentKeepaliveInterval: UInt16
    var allowedIPs: [IPPrefix]

    package init(publicKey: PublicKey, presharedKey: SymmetricKey? = nil, endpoint: Endpoint? = nil,
                lastHandshakeSeconds: Int = 0, lastHandshakeNanoseconds: Int = 0, transmittedBytes: UInt64 = 0,
                receivedBytes: UInt64 = 0, persistentKeepaliveInterval: UInt16 = 0, allowedIPs: [IPPrefix] = []) {
        self.publicKey = publicKey
        self.presharedKey = presharedKey
        self.endpoint = endpoint
        self.lastHandshakeSeconds = lastHandshakeSeconds
        self.lastHandshakeNanoseconds = lastHandshakeNanoseconds
        self.transmittedBytes = transmittedBytes
        self.receivedBytes = receivedBytes
        self.persistentKeepaliveInterval = persistentKeepaliveInterval
        self.allowedIPs = allowedIPs
    }
}
