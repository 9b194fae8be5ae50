/// Cookie reply (type 3), 64 bytes, sent instead of a response when the responder is
/// under load and the handshake message lacked a valid MAC2:
///
///     type(4) receiver(4) nonce(24) cookie(16+16)
package struct MessageCookieReply: Sendable, Equatable {
    /// Encoded size in bytes.
    package static let byteCount = 64

    /// The sender index of the handshake message being answered.
    package var receiverIndex: UInt32
    /// Random XChaCha20 nonce.
    var nonce: [UInt8]
    /// The 16-byte cookie, XChaCha20-Poly1305-encrypted with the answered message's MAC1
    /// as associated data, so only its real sender can use it.
    var encryptedCookie: [UInt8]

    init(receiverIndex: UInt32, nonce: [UInt8], encryptedCookie: [UInt8]) {
        self.receiverIndex = receiverIndex
        self.nonce = nonce
        self.encryptedCookie = encryptedCookie
    }

    /// Decodes exactly 64 bytes.
    package init(bytes: [UInt8]) throws {
        guard bytes.count == Self.byteCount else { throw MessageError.wrongLength(type: .cookieReply, actual: bytes.count) }
        let type = bytes.loadLittleEndianUInt32(at: 0)
        guard type == MessageType.cookieReply.rawValue else { throw MessageError.unknownType(type) }
        receiverIndex = bytes.loadLittleEndianUInt32(at: 4)
        nonce = bytes.slice(8, 24)
        encryptedCookie = bytes.slice(32, 32)
    }

    /// The 64-byte wire form.
    package var bytes: [UInt8] {
        var out = [UInt8](repeating: 0, count: Self.byteCount)
        out.storeLittleEndian(MessageType.cookieReply.rawValue, at: 0)
        out.storeLittleEndian(receiverIndex, at: 4)
        out.store(nonce, at: 8)
        out.store(encryptedCookie, at: 32)
        return out
    }
}
