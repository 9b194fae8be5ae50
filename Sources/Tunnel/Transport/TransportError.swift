/// Why a transport message could not be sealed or opened.
package enum TransportError: Error, Equatable, Sendable {
    /// The output buffer is too small.
    case bufferTooSmall(needed: Int, available: Int)
    /// The keypair is older than `REJECT_AFTER_TIME`.
    case keypairExpired
    /// The send counter reached `REJECT_AFTER_MESSAGES`; a new handshake is required.
    case counterExhausted
    /// Not a transport message, or shorter than header and tag.
    case malformed
    /// The receiver index is not this keypair's.
    case wrongReceiver(UInt32)
    /// The tag did not verify.
    case authenticationFailed
    /// The counter was already seen, is too old for the window, or is out of range.
    case replayed(counter: UInt64)
}
