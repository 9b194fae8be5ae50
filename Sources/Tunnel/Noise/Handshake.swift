/// Per-peer state of one Noise_IKpsk2 handshake, between messages.
///
/// Stages follow wireguard-go's naming: whoever created or consumed the last message.
struct Handshake: Sendable {
    enum Stage: Sendable, Equatable {
        /// No handshake in progress.
        case zeroed
        /// We are the initiator and sent an initiation.
        case initiationCreated
        /// We are the responder and accepted an initiation.
        case initiationConsumed
        /// We are the responder and sent the response: keys can be derived.
        case responseCreated
        /// We are the initiator and accepted the response: keys can be derived.
        case responseConsumed
    }

    var stage: Stage = .zeroed
    var state: SymmetricState?
    var localEphemeral: PrivateKey?
    var remoteEphemeral: PublicKey?
    /// Our index for this handshake, carried over to the keypair it produces.
    var localIndex: UInt32 = 0
    /// The peer's index, taken from its initiation or response.
    var remoteIndex: UInt32 = 0

    /// Drops all secrets (they are wiped as their storage is released).
    mutating func clear() {
        self = Handshake()
    }
}
