/// Why a handshake message was refused or could not be produced. A daemon should drop
/// the offending datagram silently; the cases exist for logging and tests.
package enum HandshakeError: Error, Equatable, Sendable {
    /// MAC1 did not verify: the sender does not know our public key (or bits flipped).
    case invalidMAC1
    /// An AEAD field failed to decrypt: wrong keys or a tampered message.
    case decryptionFailed
    /// The initiation's static key belongs to no configured peer.
    case unknownPeer
    /// The receiver index names no handshake of ours.
    case unknownIndex(UInt32)
    /// The initiation's timestamp is not newer than the last accepted one from that peer.
    case replayedTimestamp
    /// An initiation came sooner than HANDSHAKE_INITIATION_RATE after the last one
    /// accepted from the same peer.
    case initiationFlood
    /// The message does not fit the handshake's current stage (e.g. a second response).
    case unexpectedState
    /// A DH result was all zeros (low-order point).
    case lowOrderPoint
    /// A cookie reply arrived for which we have no MAC1 on record, or it did not decrypt.
    case invalidCookieReply
}
