import CSodium

/// XChaCha20-Poly1305 AEAD (draft-irtf-cfrg-xchacha) through libsodium: ChaCha20-Poly1305
/// with a 192-bit nonce, long enough to be chosen at random. WireGuard uses it for the
/// encrypted cookie in cookie replies, whose nonce is random rather than a counter.
package enum XChaCha20Poly1305 {
    /// Key size in bytes.
    static let keyByteCount = 32
    /// Nonce size in bytes.
    static let nonceByteCount = 24
    /// Authentication tag size in bytes.
    static let tagByteCount = 16

    /// Encrypts `plaintext`; returns ciphertext followed by the tag.
    package static func seal(key: SymmetricKey, nonce: [UInt8], plaintext: [UInt8], additionalData: [UInt8]) throws -> [UInt8] {
        guard nonce.count == nonceByteCount else { throw CryptoError.invalidLength(expected: nonceByteCount, actual: nonce.count) }
        Sodium.ensureInitialised()
        var out = [UInt8](repeating: 0, count: plaintext.count + tagByteCount)
        key.withUnsafeBytes { k in
            nonce.withUnsafeBytes { n in
                plaintext.withUnsafeBytes { p in
                    additionalData.withUnsafeBytes { ad in
                        out.withUnsafeMutableBytes { o in
                            _ = crypto_aead_xchacha20poly1305_ietf_encrypt_detached(
                                bytePointer(o), bytePointer(o) + p.count, nil,
                                bytePointer(p), UInt64(p.count), bytePointer(ad), UInt64(ad.count),
                                nil, bytePointer(n), bytePointer(k))
                        }
                    }
                }
            }
        }
        return out
    }

    /// Verifies and decrypts `ciphertext` (ending with the tag).
    package static func open(key: SymmetricKey, nonce: [UInt8], ciphertext: [UInt8], additionalData: [UInt8]) throws -> [UInt8] {
        guard nonce.count == nonceByteCount else { throw CryptoError.invalidLength(expected: nonceByteCount, actual: nonce.count) }
        guard ciphertext.count >= tagByteCount else { throw CryptoError.authenticationFailed }
        Sodium.ensureInitialised()
        let plainCount = ciphertext.count - tagByteCount
        var out = [UInt8](repeating: 0, count: plainCount)
        let status = key.withUnsafeBytes { k in
            nonce.withUnsafeBytes { n in
                ciphertext.withUnsafeBytes { c in
                    additionalData.withUnsafeBytes { ad in
                        out.withUnsafeMutableBytes { o in
                            crypto_aead_xchacha20poly1305_ietf_decrypt_detached(
                                bytePointer(o), nil, bytePointer(c), UInt64(plainCount), bytePointer(c) + plainCount,
                                bytePointer(ad), UInt64(ad.count), bytePointer(n), bytePointer(k))
                        }
                    }
                }
            }
        }
        guard status == 0 else { throw CryptoError.authenticationFailed }
        return out
    }
}
