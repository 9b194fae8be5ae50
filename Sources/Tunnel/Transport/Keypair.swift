/// The symmetric session produced by a handshake: one key per direction, the two
/// indices, a send counter and a replay filter for received counters.
package struct Keypair: Sendable {
    /// Key for messages we send.
    let sendKey: SymmetricKey
    /// Key for messages we receive.
    let receiveKey: SymmetricKey
    /// Our index: the receiver index of messages sent to us.
    let localIndex: UInt32
    /// The peer's index: the receiver index of messages we send.
    let remoteIndex: UInt32
    /// Whether we initiated the handshake (only the initiator rekeys by time).
    let isInitiator: Bool
    /// When the keypair was derived; it must not be used after `REJECT_AFTER_TIME`.
    let createdAt: ContinuousClock.Instant
    /// Counter of the next message we send, which is also its nonce.
    var sendCounter: UInt64 = 0
    var replayFilter = ReplayFilter()

    init(sendKey: SymmetricKey, receiveKey: SymmetricKey, localIndex: UInt32, remoteIndex: UInt32,
         isInitiator: Bool, createdAt: ContinuousClock.Instant) {
        self.sendKey = sendKey
        self.receiveKey = receiveKey
        self.localIndex = localIndex
        self.remoteIndex = remoteIndex
        self.isInitiator = isInitiator
        self.createdAt = createdAt
    }

    /// True once the keypair is older than `REJECT_AFTER_TIME`.
    func isExpired(now: ContinuousClock.Instant) -> Bool {
        now - createdAt >= WG.REJECT_AFTER_TIME
    }
}
