/// The initiating side of WireGuard's DoS defence (paper 5.4.4 and 5.4.7), one per peer:
/// stamps MAC1 and MAC2 on outgoing handshake messages and stores cookies received
/// in cookie replies.
struct CookieGenerator: Sendable {
    /// `HASH(LABEL_MAC1 || S_pub_remote)`: MAC1 proves we know the receiver's public key.
    let mac1Key: [UInt8]
    /// `HASH(LABEL_COOKIE || S_pub_remote)`: decrypts the receiver's cookie replies.
    let cookieKey: SymmetricKey
    /// The cookie `Lm` and when it arrived.
    private var cookie: (value: [UInt8], receivedAt: ContinuousClock.Instant)?
    /// MAC1 of the last handshake message sent: the associated data of the cookie reply
    /// that may answer it. Kept only until one reply is consumed, so a reply cannot be
    /// replayed.
    private var lastMAC1: [UInt8]?

    init(remoteStatic: PublicKey) {
        mac1Key = BLAKE2s.hash(Array(WG.LABEL_MAC1.utf8), remoteStatic.bytes)
        cookieKey = try! SymmetricKey(rawBytes: BLAKE2s.hash(Array(WG.LABEL_COOKIE.utf8), remoteStatic.bytes))
    }

    /// Computes `mac1` over `message[..<mac1Offset]` and `mac2` over `message[..<mac2Offset]`
    /// (zeros without a fresh cookie), writing both into the message bytes.
    mutating func stampMACs(_ message: inout [UInt8], mac1Offset: Int, now: ContinuousClock.Instant) {
        let mac2Offset = mac1Offset + 16
        let mac1 = message.withUnsafeBytes { BLAKE2s.mac(key: mac1Key, UnsafeRawBufferPointer(rebasing: $0[..<mac1Offset])) }
        message.store(mac1, at: mac1Offset)
        lastMAC1 = mac1

        var mac2 = [UInt8](repeating: 0, count: 16)
        if let cookie, now - cookie.receivedAt < WG.COOKIE_REFRESH_TIME {
            mac2 = message.withUnsafeBytes { BLAKE2s.mac(key: cookie.value, UnsafeRawBufferPointer(rebasing: $0[..<mac2Offset])) }
        }
        message.store(mac2, at: mac2Offset)
    }

    /// Decrypts and stores the cookie from a reply to our last handshake message.
    mutating func consume(_ reply: MessageCookieReply, now: ContinuousClock.Instant) throws {
        guard let ad = lastMAC1 else { throw HandshakeError.invalidCookieReply }
        let value: [UInt8]
        do {
            value = try XChaCha20Poly1305.open(key: cookieKey, nonce: reply.nonce, ciphertext: reply.encryptedCookie, additionalData: ad)
        } catch {
            throw HandshakeError.invalidCookieReply
        }
        cookie = (value, now)
        lastMAC1 = nil
    }
}
