extension Device {
    /// Derives the transport keypair once the handshake with `peerKey` is complete
    /// (initiator after consuming the response, responder after creating it) and wipes
    /// the handshake state.
    ///
    /// The keypair keeps the handshake's local index; the caller owns it from now on and
    /// calls ``releaseIndex(_:)`` when it discards the keypair. A responder must not send
    /// data on its keypair before it has received the initiator's first transport
    /// message (key confirmation); that rule belongs to the session layer.
    package mutating func beginSession(with peerKey: PublicKey, now: ContinuousClock.Instant = .now) throws -> Keypair {
        guard var peer = peers[peerKey], let state = peer.handshake.state else { throw HandshakeError.unexpectedState }
        let isInitiator: Bool
        switch peer.handshake.stage {
        case .responseConsumed: isInitiator = true
        case .responseCreated: isInitiator = false
        default: throw HandshakeError.unexpectedState
        }
        let (initiatorSend, responderSend) = state.splitTransportKeys()
        let keypair = Keypair(
            sendKey: isInitiator ? initiatorSend : responderSend,
            receiveKey: isInitiator ? responderSend : initiatorSend,
            localIndex: peer.handshake.localIndex, remoteIndex: peer.handshake.remoteIndex,
            isInitiator: isInitiator, createdAt: now)
        // Clear without releasing the index: it now belongs to the keypair.
        peer.handshake.clear()
        peers[peerKey] = peer
        return keypair
    }
}
