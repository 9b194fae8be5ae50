extension Device {
    /// Builds a handshake initiation to `peerKey` (paper 5.4.2), with MAC1 and, if we
    /// hold a fresh cookie from that peer, MAC2.
    ///
    /// - Parameters:
    ///   - timestamp: the TAI64N to encrypt; defaults to the current time.
    ///   - now: monotonic time, for cookie freshness.
    ///
    /// Costs a fresh ephemeral key and one X25519 (the static-static DH is precomputed per
    /// peer). Throws ``HandshakeError/unknownPeer`` for a key not added with
    /// ``addPeer(_:presharedKey:)`` and ``HandshakeError/lowOrderPoint`` if the DH fails.
    /// Any earlier handshake in progress with that peer is forgotten.
    public mutating func createInitiation(
        to peerKey: PublicKey, timestamp: TAI64N = .now(), now: ContinuousClock.Instant = .now
    ) throws -> MessageInitiation {
        guard var peer = peers[peerKey] else { throw HandshakeError.unknownPeer }
        resetHandshake(of: &peer)

        var state = SymmetricState(responderStatic: peerKey)
        let ephemeral = PrivateKey()
        let ephemeralPublic = ephemeral.publicKey
        state.mixEphemeral(ephemeralPublic)

        // (C, k) = KDF2(C, DH(E_priv_i, S_pub_r)); msg.static = AEAD(k, 0, S_pub_i, H)
        let staticKey = state.mixKeyAndDeriveKey(try dh(ephemeral, peerKey))
        let encryptedStatic = state.encryptAndHash(publicKey.bytes, key: staticKey)

        // (C, k) = KDF2(C, DH(S_priv_i, S_pub_r)); msg.timestamp = AEAD(k, 0, TAI64N, H)
        let timestampKey = state.mixKeyAndDeriveKey(peer.staticStatic)
        let encryptedTimestamp = state.encryptAndHash(timestamp.bytes, key: timestampKey)

        let index = allocateIndex(for: peerKey)
        var message = MessageInitiation(
            senderIndex: index, ephemeral: ephemeralPublic.bytes,
            encryptedStatic: encryptedStatic, encryptedTimestamp: encryptedTimestamp)
        message = try stamp(message.bytes, for: &peer, mac1Offset: MessageInitiation.mac1Offset, now: now) {
            try MessageInitiation(bytes: $0)
        }

        peer.handshake.stage = .initiationCreated
        peer.handshake.state = state
        peer.handshake.localEphemeral = ephemeral
        peer.handshake.localIndex = index
        peers[peerKey] = peer
        return message
    }

    /// Accepts a handshake initiation as responder (paper 5.4.2, receiving side) and
    /// returns the initiating peer's public key; answer with ``createResponse(to:now:)``.
    ///
    /// MAC1 is verified first (cheap), then the message is decrypted; the peer's state
    /// changes only if everything, including timestamp freshness, checks out. MAC2 /
    /// load policy is the caller's: see ``verifyMAC2(of:source:now:)``.
    /// An initiation arriving less than HANDSHAKE_INITIATION_RATE after the last accepted
    /// one from the same peer is refused (``HandshakeError/initiationFlood``), as
    /// wireguard-go does.
    ///
    /// Costs one X25519 (DH(S_priv_r, E_pub_i)) once MAC1 holds. Throws a ``HandshakeError``:
    /// `invalidMAC1`, `decryptionFailed`, `unknownPeer`, `lowOrderPoint`,
    /// `replayedTimestamp` or `initiationFlood`; on any of them the device is unchanged
    /// apart from its DH count.
    public mutating func consumeInitiation(
        _ message: MessageInitiation, now: ContinuousClock.Instant = .now
    ) throws -> PublicKey {
        try acceptInitiation(try openInitiation(message), now: now)
    }

    /// An initiation decrypted but not yet accepted: who sent it and when, and the
    /// handshake state to continue from.
    struct OpenedInitiation {
        let initiator: PublicKey
        let timestamp: TAI64N
        fileprivate let state: SymmetricState
        fileprivate let ephemeral: PublicKey
        fileprivate let senderIndex: UInt32
    }

    /// First half of ``consumeInitiation(_:now:)``: verifies MAC1 and decrypts the
    /// initiator's static key (one DH) and timestamp, changing nothing but the DH count, so
    /// that the caller can decide on the initiation knowing its sender.
    mutating func openInitiation(_ message: MessageInitiation) throws -> OpenedInitiation {
        guard cookieChecker.verifyMAC1(message.bytes, mac1Offset: MessageInitiation.mac1Offset) else {
            throw HandshakeError.invalidMAC1
        }
        var state = SymmetricState(responderStatic: publicKey)
        let ephemeral = try PublicKey(rawBytes: message.ephemeral)
        state.mixEphemeral(ephemeral)

        let staticKey = state.mixKeyAndDeriveKey(try dh(privateKey, ephemeral))
        let staticBytes: [UInt8]
        do {
            staticBytes = try state.decryptAndHash(message.encryptedStatic, key: staticKey)
        } catch {
            throw HandshakeError.decryptionFailed
        }
        let initiator = try PublicKey(rawBytes: staticBytes)
        guard let peer = peers[initiator] else { throw HandshakeError.unknownPeer }

        let timestampKey = state.mixKeyAndDeriveKey(peer.staticStatic)
        let timestampBytes: [UInt8]
        do {
            timestampBytes = try state.decryptAndHash(message.encryptedTimestamp, key: timestampKey)
        } catch {
            throw HandshakeError.decryptionFailed
        }
        guard let timestamp = TAI64N(bytes: timestampBytes) else { throw HandshakeError.decryptionFailed }
        return OpenedInitiation(initiator: initiator, timestamp: timestamp, state: state, ephemeral: ephemeral,
                                senderIndex: message.senderIndex)
    }

    /// Second half of ``consumeInitiation(_:now:)``: the freshness checks, then the
    /// peer's handshake moves to `initiationConsumed`.
    mutating func acceptInitiation(_ opened: OpenedInitiation, now: ContinuousClock.Instant) throws -> PublicKey {
        guard var peer = peers[opened.initiator] else { throw HandshakeError.unknownPeer }
        // A captured initiation replayed later carries an old timestamp: refuse it, so an
        // attacker cannot make us reset a live session or burn CPU on a known message.
        if let last = peer.lastInitiationTimestamp, opened.timestamp <= last {
            throw HandshakeError.replayedTimestamp
        }
        if let last = peer.lastInitiationConsumedAt, now - last <= WG.HANDSHAKE_INITIATION_RATE {
            throw HandshakeError.initiationFlood
        }

        resetHandshake(of: &peer)
        peer.lastInitiationTimestamp = opened.timestamp
        peer.lastInitiationConsumedAt = now
        peer.handshake.stage = .initiationConsumed
        peer.handshake.state = opened.state
        peer.handshake.remoteEphemeral = opened.ephemeral
        peer.handshake.remoteIndex = opened.senderIndex
        peers[opened.initiator] = peer
        return opened.initiator
    }
}
