/// Everything the handshake needs to know about one remote peer.
package struct Peer: Sendable {
    /// The peer's static public key, its identity.
    package let publicKey: PublicKey
    /// The preshared key `Q` mixed in after the DHs; all zeros when none is configured.
    let presharedKey: SymmetricKey
    /// `DH(S_priv_local, S_pub_remote)`, the same for every handshake with this peer, so
    /// computed once when the peer is added (the paper's "static-static" precomputation).
    let staticStatic: SymmetricKey
    /// The greatest initiation timestamp accepted from this peer.
    var lastInitiationTimestamp: TAI64N?
    /// When the last initiation from this peer was accepted (HANDSHAKE_INITIATION_RATE).
    var lastInitiationConsumedAt: ContinuousClock.Instant?
    var handshake = Handshake()
    var cookies: CookieGenerator

    init(publicKey: PublicKey, presharedKey: SymmetricKey?, localPrivateKey: PrivateKey) throws {
        self.publicKey = publicKey
        self.presharedKey = presharedKey ?? .zero
        do {
            staticStatic = try X25519.sharedSecret(localPrivateKey, publicKey)
        } catch {
            throw HandshakeError.lowOrderPoint
        }
        cookies = CookieGenerator(remoteStatic: publicKey)
    }
}
