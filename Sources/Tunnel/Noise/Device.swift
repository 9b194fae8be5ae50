import CSodium

/// The handshake half of a WireGuard interface: our static identity, the peers we
/// accept, the index table and the cookie machinery. Pure protocol logic: it consumes
/// and produces messages and never touches sockets or clocks on its own (callers pass
/// `now`, which keeps it testable).
///
/// A value type without internal locking: the daemon is expected to own it from a
/// single actor, which is where the serialisation belongs.
public struct Device: Sendable {
    /// Our static private key `S_priv`.
    package let privateKey: PrivateKey
    /// Our static public key `S_pub`.
    public let publicKey: PublicKey
    /// Configured peers, by static public key.
    var peers: [PublicKey: Peer] = [:]
    /// Local index → owning peer, for handshakes in flight and keypairs in use. Indices
    /// are random so they reveal nothing about how many sessions exist.
    var indexTable: [UInt32: PublicKey] = [:] {
        didSet { indexGeneration &+= 1 }
    }
    /// Changes whenever an index is allocated or freed, so that a watcher of
    /// ``liveIndices`` can tell cheaply whether the set changed.
    private(set) var indexGeneration: UInt64 = 0
    var cookieChecker: CookieChecker
    /// X25519 shared-secret computations done for handshake messages, in either role (the
    /// static-static one of each peer, computed once by ``addPeer(_:presharedKey:)``, and
    /// ephemeral key generation are not counted): the bulk of a handshake's CPU cost.
    private(set) var dhOperations: UInt64 = 0

    /// A device with the given static key and no peers. Derives the public key once (one
    /// fixed-base X25519); `now` starts the cookie secret's rotation clock.
    public init(privateKey: PrivateKey, now: ContinuousClock.Instant = .now) {
        self.privateKey = privateKey
        publicKey = privateKey.publicKey
        cookieChecker = CookieChecker(localStatic: publicKey, now: now)
    }

    /// Adds (or replaces) a peer. Throws ``HandshakeError/lowOrderPoint`` for a public key
    /// with which no secure DH is possible.
    ///
    /// Costs one X25519: the static-static DH is computed here once, so that handshakes with
    /// this peer do not repeat it. Replacing a peer drops its handshake and session indices.
    public mutating func addPeer(_ publicKey: PublicKey, presharedKey: SymmetricKey? = nil) throws {
        removePeer(publicKey)
        peers[publicKey] = try Peer(publicKey: publicKey, presharedKey: presharedKey, localPrivateKey: privateKey)
    }

    /// Removes a peer and frees every index it owned.
    package mutating func removePeer(_ publicKey: PublicKey) {
        guard peers.removeValue(forKey: publicKey) != nil else { return }
        indexTable = indexTable.filter { $0.value != publicKey }
    }

    /// Abandons any handshake in progress with `peerKey` (its index is freed and its
    /// ephemeral secrets wiped), so the next message must start a new one.
    mutating func clearHandshake(of peerKey: PublicKey) {
        guard var peer = peers[peerKey] else { return }
        resetHandshake(of: &peer)
        peers[peerKey] = peer
    }

    /// Frees a keypair's local index once the session layer discards that keypair.
    mutating func releaseIndex(_ index: UInt32) {
        guard indexTable[index] != nil else { return }
        indexTable.removeValue(forKey: index)
    }

    /// The peer owning a local index (handshake or keypair), for demultiplexing.
    package func peer(forIndex index: UInt32) -> PublicKey? {
        indexTable[index]
    }

    /// Every local index a peer may address a message to: those of keypairs in use and of
    /// handshakes we sent a message for.
    var liveIndices: Set<UInt32> { Set(indexTable.keys) }

    /// A fresh random index not currently in use.
    mutating func allocateIndex(for peer: PublicKey) -> UInt32 {
        while true {
            let candidate = randombytes_random()
            if indexTable[candidate] == nil {
                indexTable[candidate] = peer
                return candidate
            }
        }
    }

    /// Starts a new handshake for `peer`, freeing the index of one that never completed.
    mutating func resetHandshake(of peer: inout Peer) {
        if peer.handshake.stage != .zeroed {
            releaseIndex(peer.handshake.localIndex)
        }
        peer.handshake.clear()
    }

    /// Stamps MAC1/MAC2 on encoded message bytes and decodes them back.
    func stamp<M>(
        _ bytes: [UInt8], for peer: inout Peer, mac1Offset: Int, now: ContinuousClock.Instant,
        decode: ([UInt8]) throws -> M
    ) throws -> M {
        var bytes = bytes
        peer.cookies.stampMACs(&bytes, mac1Offset: mac1Offset, now: now)
        return try decode(bytes)
    }

    /// `DH(private, public)`, mapping a low-order result to a handshake error.
    mutating func dh(_ privateKey: PrivateKey, _ publicKey: PublicKey) throws -> SymmetricKey {
        dhOperations &+= 1
        do {
            return try X25519.sharedSecret(privateKey, publicKey)
        } catch {
            throw HandshakeError.lowOrderPoint
        }
    }
}
