import CSodium
import SecureMemory

/// The responding side of WireGuard's DoS defence (paper 5.4.7), one per interface:
/// verifies MAC1/MAC2 on incoming handshake messages and issues cookie replies.
///
/// A cookie is `MAC(Rm, Am)`: a keyed hash of the sender's IP address and port under a
/// random secret `Rm` that is replaced every two minutes, so the responder needs no
/// per-sender state to recognise a sender that has proven it owns its address.
struct CookieChecker: Sendable {
    /// `HASH(LABEL_MAC1 || S_pub_local)`.
    let mac1Key: [UInt8]
    /// `HASH(LABEL_COOKIE || S_pub_local)`.
    let cookieKey: SymmetricKey
    private var secret: SymmetricKey
    private var secretCreatedAt: ContinuousClock.Instant

    init(localStatic: PublicKey, now: ContinuousClock.Instant) {
        mac1Key = BLAKE2s.hash(Array(WG.LABEL_MAC1.utf8), localStatic.bytes)
        cookieKey = try! SymmetricKey(rawBytes: BLAKE2s.hash(Array(WG.LABEL_COOKIE.utf8), localStatic.bytes))
        secret = SymmetricKey()
        secretCreatedAt = now
    }

    /// True if `message[mac1Offset..<+16]` is the MAC1 of the bytes before it. Cheap (one
    /// BLAKE2s), so it is checked before any Curve25519 work is spent on a message.
    func verifyMAC1(_ message: [UInt8], mac1Offset: Int) -> Bool {
        guard message.count >= mac1Offset + 16 else { return false }
        return message.withUnsafeBytes { raw in
            let expected = BLAKE2s.mac(key: mac1Key, UnsafeRawBufferPointer(rebasing: raw[..<mac1Offset]))
            return expected.withUnsafeBytes { sodium_memcmp($0.baseAddress!, raw.baseAddress! + mac1Offset, 16) == 0 }
        }
    }

    /// True if MAC2 was made with the cookie `source` would currently get. An expired
    /// secret means no cookie is valid, so the sender must ask for a new one.
    func verifyMAC2(_ message: [UInt8], mac2Offset: Int, source: [UInt8], now: ContinuousClock.Instant) -> Bool {
        guard message.count >= mac2Offset + 16, now - secretCreatedAt < WG.COOKIE_REFRESH_TIME else { return false }
        var cookie = currentCookie(for: source)
        defer { wipe(&cookie) }
        return message.withUnsafeBytes { raw in
            let expected = BLAKE2s.mac(key: cookie, UnsafeRawBufferPointer(rebasing: raw[..<mac2Offset]))
            return expected.withUnsafeBytes { sodium_memcmp($0.baseAddress!, raw.baseAddress! + mac2Offset, 16) == 0 }
        }
    }

    /// Builds the cookie reply to a handshake message whose MAC1 is `mac1`, sent by
    /// `senderIndex` from `source`, rotating the secret first if it is stale.
    mutating func makeReply(senderIndex: UInt32, mac1: [UInt8], source: [UInt8], now: ContinuousClock.Instant) -> MessageCookieReply {
        if now - secretCreatedAt >= WG.COOKIE_REFRESH_TIME {
            secret = SymmetricKey()
            secretCreatedAt = now
        }
        var cookie = currentCookie(for: source)
        defer { wipe(&cookie) }
        var nonce = [UInt8](repeating: 0, count: XChaCha20Poly1305.nonceByteCount)
        nonce.withUnsafeMutableBytes { randombytes_buf($0.baseAddress!, $0.count) }
        // Binding the reply to the message's MAC1 means only whoever sent that message
        // (and so saw its MAC1) can decrypt the cookie: a spoofer cannot harvest cookies.
        let encrypted = try! XChaCha20Poly1305.seal(key: cookieKey, nonce: nonce, plaintext: cookie, additionalData: mac1)
        return MessageCookieReply(receiverIndex: senderIndex, nonce: nonce, encryptedCookie: encrypted)
    }

    /// `τ = MAC(Rm, Am)`.
    private func currentCookie(for source: [UInt8]) -> [UInt8] {
        secret.withUnsafeBytes { key in
            var hasher = BLAKE2s(digestByteCount: 16, key: key)
            hasher.update(source)
            return hasher.finalize()
        }
    }
}
