/// Failures of the cryptographic primitives.
package enum CryptoError: Error, Equatable, Sendable {
    /// A key or nonce had the wrong number of bytes.
    case invalidLength(expected: Int, actual: Int)
    /// Text was not valid standard base64 of the expected length.
    case invalidBase64
    /// An X25519 result was all zeros: the peer supplied a low-order point, which would
    /// make the "shared" secret predictable.
    case lowOrderPoint
    /// AEAD authentication failed: wrong key, nonce, associated data or tampered data.
    case authenticationFailed
    /// The output buffer cannot hold the result.
    case bufferTooSmall(needed: Int, available: Int)
}
