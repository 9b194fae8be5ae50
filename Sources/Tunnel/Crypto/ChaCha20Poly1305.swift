import CSodium

/// ChaCha20-Poly1305 AEAD, IETF variant (RFC 8439: 96-bit nonce), through libsodium.
///
/// The pointer-based functions write into caller-provided memory so the data path can
/// run without allocating; plaintext and ciphertext may be the same memory (in place)
/// but must not otherwise overlap.
package enum ChaCha20Poly1305 {
    /// Key size in bytes.
    static let keyByteCount = 32
    /// Nonce size in bytes.
    static let nonceByteCount = 12
    /// Authentication tag size in bytes.
    static let tagByteCount = 16

    /// Encrypts `plaintext` and writes ciphertext followed by the 16-byte tag into `output`.
    package static func seal(
        key: SymmetricKey, nonce: UnsafeRawBufferPointer, plaintext: UnsafeRawBufferPointer,
        additionalData: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer
    ) throws {
        guard nonce.count == nonceByteCount else { throw CryptoError.invalidLength(expected: nonceByteCount, actual: nonce.count) }
        let needed = plaintext.count + tagByteCount
        guard output.count >= needed else { throw CryptoError.bufferTooSmall(needed: needed, available: output.count) }
        Sodium.ensureInitialised()
        key.withUnsafeBytes { k in
            _ = crypto_aead_chacha20poly1305_ietf_encrypt_detached(
                bytePointer(output), bytePointer(output) + plaintext.count, nil,
                bytePointer(plaintext), UInt64(plaintext.count),
                bytePointer(additionalData), UInt64(additionalData.count),
                nil, bytePointer(nonce), bytePointer(k))
        }
    }

    /// Verifies and decrypts `ciphertext` (which ends with the tag) into `output`,
    /// which receives `ciphertext.count - 16` bytes. Nothing is written if the tag is wrong.
    package static func open(
        key: SymmetricKey, nonce: UnsafeRawBufferPointer, ciphertext: UnsafeRawBufferPointer,
        additionalData: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer
    ) throws {
        guard nonce.count == nonceByteCount else { throw CryptoError.invalidLength(expected: nonceByteCount, actual: nonce.count) }
        guard ciphertext.count >= tagByteCount else { throw CryptoError.authenticationFailed }
        let plainCount = ciphertext.count - tagByteCount
        guard output.count >= plainCount else { throw CryptoError.bufferTooSmall(needed: plainCount, available: output.count) }
        Sodium.ensureInitialised()
        let status = key.withUnsafeBytes { k in
            crypto_aead_chacha20poly1305_ietf_decrypt_detached(
                bytePointer(output), nil,
                bytePointer(ciphertext), UInt64(plainCount), bytePointer(ciphertext) + plainCount,
                bytePointer(additionalData), UInt64(additionalData.count),
                bytePointer(nonce), bytePointer(k))
        }
        guard status == 0 else { throw CryptoError.authenticationFailed }
    }

    /// Runs `body` with WireGuard's nonce for `counter`: 32 zero bits followed by the
    /// counter as a little-endian 64-bit integer. The nonce lives on the stack.
    @inline(__always)
    static func withNonce<R>(counter: UInt64, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withUnsafeTemporaryAllocation(byteCount: nonceByteCount, alignment: 4) { nonce in
            nonce.initializeMemory(as: UInt8.self, repeating: 0)
            nonce.storeBytes(of: counter.littleEndian, toByteOffset: 4, as: UInt64.self)
            return try body(UnsafeRawBufferPointer(nonce))
        }
    }

    /// Array convenience for handshake fields: `AEAD(key, counter, plaintext, ad)`.
    package static func seal(key: SymmetricKey, counter: UInt64, plaintext: [UInt8], additionalData: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: plaintext.count + tagByteCount)
        withNonce(counter: counter) { nonce in
            plaintext.withUnsafeBytes { p in
                additionalData.withUnsafeBytes { ad in
                    out.withUnsafeMutableBytes { o in
                        // Sizes are correct by construction, so this cannot throw.
                        try! seal(key: key, nonce: nonce, plaintext: p, additionalData: ad, into: o)
                    }
                }
            }
        }
        return out
    }

    /// Array convenience for handshake fields; throws if authentication fails.
    package static func open(key: SymmetricKey, counter: UInt64, ciphertext: [UInt8], additionalData: [UInt8]) throws -> [UInt8] {
        guard ciphertext.count >= tagByteCount else { throw CryptoError.authenticationFailed }
        var out = [UInt8](repeating: 0, count: ciphertext.count - tagByteCount)
        try withNonce(counter: counter) { nonce in
            try ciphertext.withUnsafeBytes { c in
                try additionalData.withUnsafeBytes { ad in
                    try out.withUnsafeMutableBytes { o in
                        try open(key: key, nonce: nonce, ciphertext: c, additionalData: ad, into: o)
                    }
                }
            }
        }
        return out
    }
}
