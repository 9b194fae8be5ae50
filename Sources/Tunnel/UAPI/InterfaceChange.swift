/// What one UAPI `set=1` request asks of the interface, parsed whole before anything is
/// applied (see ``UAPISetParser``): the interface keys, then the peers in request order.
///
/// Absent fields leave the current value alone, as in the protocol.
package struct InterfaceChange: Equatable, Sendable {
    /// `private_key`: the interface's new static key (all zeros: none).
    package var privateKey: PrivateKey?
    /// `listen_port`.
    package var listenPort: UInt16?
    /// `fwmark` (0: none).
    var fwmark: UInt32?
    /// `replace_peers=true`: remove every peer before applying ``peers``.
    var replacePeers = false
    /// One entry per `public_key` line, in order; the same key may appear more than once
    /// and the entries then apply one after the other.
    var peers: [PeerChange] = []

    package init(privateKey: PrivateKey? = nil, listenPort: UInt16? = nil, fwmark: UInt32? = nil,
                replacePeers: Bool = false, peers: [PeerChange] = []) {
        self.privateKey = privateKey
        self.listenPort = listenPort
        self.fwmark = fwmark
        self.replacePeers = replacePeers
        self.peers = peers
    }
}

/// The lines of a `set=1` request from one `public_key` to the next.
///
/// Normalised by the parser so that applying the fields in a fixed order (remove; or
/// replace allowed IPs, remove ``removedAllowedIPs``, add ``allowedIPs``) has the effect
/// of the lines in request order: `remove=true` discards what came before it for this
/// peer and what follows; `replace_allowed_ips=true` discards the allowed_ip lines before
/// it; an allowed_ip line cancels an earlier opposite one for the same prefix.
package struct PeerChange: Equatable, Sendable {
    /// `public_key`: the peer this change is for (created unless ``updateOnly``).
    package var publicKey: PublicKey
    /// `remove=true`: remove the peer (nothing else applies).
    var remove = false
    /// `update_only=true`: change the peer only if it exists; never create it.
    var updateOnly = false
    /// `preshared_key` (all zeros: none).
    var presharedKey: SymmetricKey?
    /// `endpoint` (numeric `a.b.c.d:port` or `[v6]:port`).
    var endpoint: Endpoint?
    /// `persistent_keepalive_interval`, seconds (0: off).
    var persistentKeepaliveInterval: UInt16?
    /// `replace_allowed_ips=true`: drop the peer's allowed IPs before adding ``allowedIPs``.
    var replaceAllowedIPs = false
    /// `allowed_ip=PREFIX` lines, in order.
    var allowedIPs: [IPPrefix] = []
    /// `allowed_ip=-PREFIX` lines (wireguard-go's removal of one prefix).
    var removedAllowedIPs: [IPPrefix] = []
    /// `protocol_version` (only 1 exists).
    var protocolVersion: Int?

    package init(publicKey: PublicKey, remove: Bool = false, updateOnly: Bool = false, presharedKey: SymmetricKey? = nil,
                endpoint: Endpoint? = nil, persistentKeepaliveInterval: UInt16? = nil, replaceAllowedIPs: Bool = false,
                allowedIPs: [IPPrefix] = [], removedAllowedIPs: [IPPrefix] = [], protocolVersion: Int? = nil) {
        self.publicKey = publicKey
        self.remove = remove
        self.updateOnly = updateOnly
        self.presharedKey = presharedKey
        self.endpoint = endpoint
        self.persistentKeepaliveInterval = persistentKeepaliveInterval
        self.replaceAllowedIPs = replaceAllowedIPs
        self.allowedIPs = allowedIPs
        self.removedAllowedIPs = removedAllowedIPs
        self.protocolVersion = protocolVersion
    }
}
