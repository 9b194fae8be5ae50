extension Device {
    /// Checks MAC1 of a received initiation or response (raw datagram). Cheap: do this
    /// before anything else.
    package func verifyMAC1(of datagram: [UInt8]) -> Bool {
        guard let offsets = Self.macOffsets(of: datagram) else { return false }
        return cookieChecker.verifyMAC1(datagram, mac1Offset: offsets.mac1)
    }

    /// Checks MAC2 of a received initiation or response from `source` (the sender's IP
    /// address and port bytes). Only demanded under load: when it fails then, answer with
    /// ``makeCookieReply(to:source:now:)`` instead of processing the message.
    package func verifyMAC2(of datagram: [UInt8], source: [UInt8], now: ContinuousClock.Instant = .now) -> Bool {
        guard let offsets = Self.macOffsets(of: datagram) else { return false }
        return cookieChecker.verifyMAC2(datagram, mac2Offset: offsets.mac2, source: source, now: now)
    }

    /// Builds a cookie reply to a received initiation or response from `source`.
    /// The datagram must already have passed ``verifyMAC1(of:)``.
    package mutating func makeCookieReply(
        to datagram: [UInt8], source: [UInt8], now: ContinuousClock.Instant = .now
    ) throws -> MessageCookieReply {
        guard let offsets = Self.macOffsets(of: datagram) else { throw HandshakeError.unexpectedState }
        // Both handshake messages carry their sender index at offset 4.
        let senderIndex = datagram.loadLittleEndianUInt32(at: 4)
        let mac1 = datagram.slice(offsets.mac1, 16)
        return cookieChecker.makeReply(senderIndex: senderIndex, mac1: mac1, source: source, now: now)
    }

    /// Stores the cookie from a reply to one of our handshake messages, so the next one
    /// we send to that peer carries a valid MAC2.
    package mutating func consumeCookieReply(_ reply: MessageCookieReply, now: ContinuousClock.Instant = .now) throws {
        guard let peerKey = indexTable[reply.receiverIndex], var peer = peers[peerKey] else {
            throw HandshakeError.unknownIndex(reply.receiverIndex)
        }
        try peer.cookies.consume(reply, now: now)
        peers[peerKey] = peer
    }

    /// MAC offsets by message type, for handshake messages of the right size only.
    private static func macOffsets(of datagram: [UInt8]) -> (mac1: Int, mac2: Int)? {
        guard datagram.count >= 4 else { return nil }
        switch MessageType(rawValue: datagram.loadLittleEndianUInt32(at: 0)) {
        case .initiation where datagram.count == MessageInitiation.byteCount:
            return (MessageInitiation.mac1Offset, MessageInitiation.mac2Offset)
        case .response where datagram.count == MessageResponse.byteCount:
            return (MessageResponse.mac1Offset, MessageResponse.mac2Offset)
        default:
            return nil
        }
    }
}
