/// The running chaining key `C` and transcript hash `H` of a Noise handshake, with the
/// few operations WireGuard's message construction is written in (paper 5.4.2-5.4.3).
struct SymmetricState: Sendable {
    /// `C`: secret, feeds every key derivation.
    var chainingKey: SymmetricKey
    /// `H`: the hash of the transcript so far, authenticated as AEAD associated data.
    var hash: [UInt8]

    /// `C = HASH(CONSTRUCTION)` and `HASH(C || IDENTIFIER)`: the same for every handshake,
    /// so they are computed once.
    private static let initialChainingKey = try! SymmetricKey(rawBytes: BLAKE2s.hash(Array(WG.CONSTRUCTION.utf8)))
    private static let initialHash = BLAKE2s.hash(initialChainingKey.rawBytes, Array(WG.IDENTIFIER.utf8))

    /// Initial state for a handshake towards `responderStatic`: `H = HASH(H || Sr_pub)`.
    /// Both sides start from the responder's static key, which is how IK binds it.
    init(responderStatic: PublicKey) {
        chainingKey = Self.initialChainingKey
        hash = BLAKE2s.hash(Self.initialHash, responderStatic.bytes)
    }

    /// `H = HASH(H || data)`.
    mutating func mixHash(_ data: [UInt8]) {
        hash = BLAKE2s.hash(hash, data)
    }

    /// `C = KDF1(C, ephemeral)` and `H = HASH(H || ephemeral)`: absorbing an ephemeral
    /// public key, which Noise mixes into both with psk modes.
    mutating func mixEphemeral(_ ephemeral: PublicKey) {
        chainingKey = KDF.kdf1(key: chainingKey, ephemeral.bytes)
        mixHash(ephemeral.bytes)
    }

    /// `C = KDF1(C, dh)`.
    mutating func mixKey(_ dh: SymmetricKey) {
        chainingKey = KDF.kdf1(key: chainingKey, dh)
    }

    /// `(C, k) = KDF2(C, dh)`; returns `k`.
    mutating func mixKeyAndDeriveKey(_ dh: SymmetricKey) -> SymmetricKey {
        let (next, key) = KDF.kdf2(key: chainingKey, dh)
        chainingKey = next
        return key
    }

    /// `(C, τ, k) = KDF3(C, Q)` and `H = HASH(H || τ)`; returns `k`.
    mutating func mixPresharedKey(_ psk: SymmetricKey) -> SymmetricKey {
        let (next, tau, key) = KDF.kdf3(key: chainingKey, psk)
        chainingKey = next
        tau.withUnsafeBytes { mixHash(Array($0)) }
        return key
    }

    /// `c = AEAD(k, 0, plaintext, H)` and `H = HASH(H || c)`.
    mutating func encryptAndHash(_ plaintext: [UInt8], key: SymmetricKey) -> [UInt8] {
        let ciphertext = ChaCha20Poly1305.seal(key: key, counter: 0, plaintext: plaintext, additionalData: hash)
        mixHash(ciphertext)
        return ciphertext
    }

    /// Inverse of ``encryptAndHash(_:key:)``; throws if the field does not authenticate.
    mutating func decryptAndHash(_ ciphertext: [UInt8], key: SymmetricKey) throws -> [UInt8] {
        let plaintext = try ChaCha20Poly1305.open(key: key, counter: 0, ciphertext: ciphertext, additionalData: hash)
        mixHash(ciphertext)
        return plaintext
    }

    /// `(T_i, T_r) = KDF2(C, ε)`: the initiator's and responder's sending keys.
    func splitTransportKeys() -> (initiatorSend: SymmetricKey, responderSend: SymmetricKey) {
        KDF.kdf2(key: chainingKey, [])
    }
}
