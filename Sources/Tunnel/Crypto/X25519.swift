import CSodium

/// Curve25519 Diffie-Hellman (RFC 7748) through libsodium.
public enum X25519 {
    /// Clamps a scalar as RFC 7748 section 5 prescribes: clear the low three bits (a
    /// multiple of the cofactor 8), clear bit 255 and set bit 254 (fixed ladder length).
    static func clamp(_ scalar: UnsafeMutableRawBufferPointer) {
        scalar[0] &= 248
        scalar[31] &= 127
        scalar[31] |= 64
    }

    /// `DH-PUBKEY(private)`: the public key of a private key.
    package static func publicKey(for privateKey: PrivateKey) -> PublicKey {
        Sodium.ensureInitialised()
        var out = [UInt8](repeating: 0, count: PublicKey.byteCount)
        privateKey.withUnsafeBytes { scalar in
            out.withUnsafeMutableBytes { result in
                // Only fails for a zero result, impossible with the fixed base point.
                _ = crypto_scalarmult_curve25519_base(
                    result.baseAddress!.assumingMemoryBound(to: UInt8.self),
                    scalar.baseAddress!.assumingMemoryBound(to: UInt8.self))
            }
        }
        // The array is fully written, so the length check cannot fail.
        return try! PublicKey(rawBytes: out)
    }

    /// `DH(private, public)`: the shared secret.
    ///
    /// Throws ``CryptoError/lowOrderPoint`` when the result is all zeros (libsodium
    /// reports that as failure): a peer sending a low-order point must not be able to
    /// force a known "secret" into the handshake.
    public static func sharedSecret(_ privateKey: PrivateKey, _ publicKey: PublicKey) throws -> SymmetricKey {
        Sodium.ensureInitialised()
        var failed = false
        let key = SymmetricKey { out in
            privateKey.withUnsafeBytes { scalar in
                publicKey.withUnsafeBytes { point in
                    failed = crypto_scalarmult_curve25519(
                        out.baseAddress!.assumingMemoryBound(to: UInt8.self),
                        scalar.baseAddress!.assumingMemoryBound(to: UInt8.self),
                        point.baseAddress!.assumingMemoryBound(to: UInt8.self)) != 0
                }
            }
        }
        if failed { throw CryptoError.lowOrderPoint }
        return key
    }
}
