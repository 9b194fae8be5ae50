extension Device {
    /// Builds the handshake response to the initiation consumed from `peerKey` (paper
    /// 5.4.3). Afterwards ``beginSession(with:now:)`` yields the responder's keypair.
    ///
    /// Costs a fresh ephemeral key and two X25519 (DH(E_priv_r, E_pub_i) and
    /// DH(E_priv_r, S_pub_i)). Throws ``HandshakeError/unknownPeer``,
    /// ``HandshakeError/unexpectedState`` if no initiation from that peer was consumed
    /// since the last handshake step, or ``HandshakeError/lowOrderPoint``.
    public mutating func createResponse(to peerKey: PublicKey, now: ContinuousClock.Instant = .now) throws -> MessageResponse {
        guard var peer = peers[peerKey] else { throw HandshakeError.unknownPeer }
        guard peer.handshake.stage == .initiationConsumed, var state = peer.handshake.state,
              let initiatorEphemeral = peer.handshake.remoteEphemeral
        else { throw HandshakeError.unexpectedState }

        let ephemeral = PrivateKey()
        let ephemeralPublic = ephemeral.publicKey
        state.mixEphemeral(ephemeralPublic)
        state.mixKey(try dh(ephemeral, initiatorEphemeral))   // C = KDF1(C, DH(E_priv_r, E_pub_i))
        state.mixKey(try dh(ephemeral, peerKey))              // C = KDF1(C, DH(E_priv_r, S_pub_i))
        let key = state.mixPresharedKey(peer.presharedKey)
        let encryptedNothing = state.encryptAndHash([], key: key)

        let index = allocateIndex(for: peerKey)
        var message = MessageResponse(
            senderIndex: index, receiverIndex: peer.handshake.remoteIndex,
            ephemeral: ephemeralPublic.bytes, encryptedNothing: encryptedNothing)
        message = try stamp(message.bytes, for: &peer, mac1Offset: MessageResponse.mac1Offset, now: now) {
            try MessageResponse(bytes: $0)
        }

        peer.handshake.stage = .responseCreated
        peer.handshake.state = state
        peer.handshake.localEphemeral = ephemeral
        peer.handshake.localIndex = index
        peers[peerKey] = peer
        return message
    }

    /// Accepts the response to our initiation (paper 5.4.3, receiving side) and returns
    /// the responding peer's key; then call ``beginSession(with:now:)``.
    package mutating func consumeResponse(_ message: MessageResponse) throws -> PublicKey {
        guard cookieChecker.verifyMAC1(message.bytes, mac1Offset: MessageResponse.mac1Offset) else {
            throw HandshakeError.invalidMAC1
        }
        guard let peerKey = indexTable[message.receiverIndex], var peer = peers[peerKey] else {
            throw HandshakeError.unknownIndex(message.receiverIndex)
        }
        guard peer.handshake.stage == .initiationCreated, peer.handshake.localIndex == message.receiverIndex,
              var state = peer.handshake.state, let ephemeral = peer.handshake.localEphemeral
        else { throw HandshakeError.unexpectedState }

        let responderEphemeral = try PublicKey(rawBytes: message.ephemeral)
        state.mixEphemeral(responderEphemeral)
        state.mixKey(try dh(ephemeral, responderEphemeral))   // DH(E_priv_i, E_pub_r)
        state.mixKey(try dh(privateKey, responderEphemeral))  // DH(S_priv_i, E_pub_r)
        let key = state.mixPresharedKey(peer.presharedKey)
        do {
            let nothing = try state.decryptAndHash(message.encryptedNothing, key: key)
            guard nothing.isEmpty else { throw HandshakeError.decryptionFailed }
        } catch {
            throw HandshakeError.decryptionFailed
        }

        peer.handshake.stage = .responseConsumed
        peer.handshake.state = state
        peer.handshake.remoteEphemeral = responderEphemeral
        peer.handshake.remoteIndex = message.senderIndex
        peers[peerKey] = peer
        return peerKey
    }
}
