/// Handshake initiation (type 1), 148 bytes:
///
///     type(4) sender(4) ephemeral(32) static(32+16) timestamp(12+16) mac1(16) mac2(16)
public struct MessageInitiation: Sendable, Equatable {
    /// Encoded size in bytes.
    package static let byteCount = 148
    /// Offset of `mac1`; MAC1 covers every byte before it.
    package static let mac1Offset = 116
    /// Offset of `mac2`; MAC2 covers every byte before it.
    static let mac2Offset = 132

    /// The initiator's index for this handshake (and the keypair that follows).
    package var senderIndex: UInt32
    /// `msg.ephemeral`: the initiator's ephemeral public key.
    package var ephemeral: [UInt8]
    /// `msg.static`: the initiator's static public key, AEAD-encrypted.
    package var encryptedStatic: [UInt8]
    /// `msg.timestamp`: a TAI64N timestamp, AEAD-encrypted.
    package var encryptedTimestamp: [UInt8]
    /// `msg.mac1`.
    package var mac1: [UInt8]
    /// `msg.mac2`, zero unless the initiator holds a fresh cookie.
    var mac2: [UInt8]

    init(senderIndex: UInt32, ephemeral: [UInt8], encryptedStatic: [UInt8], encryptedTimestamp: [UInt8]) {
        self.senderIndex = senderIndex
        self.ephemeral = ephemeral
        self.encryptedStatic = encryptedStatic
        self.encryptedTimestamp = encryptedTimestamp
        mac1 = [UInt8](repeating: 0, count: 16)
        mac2 = [UInt8](repeating: 0, count: 16)
    }

    /// Decodes exactly 148 bytes.
    package init(bytes: [UInt8]) throws {
        guard bytes.count == Self.byteCount else { throw MessageError.wrongLength(type: .initiation, actual: bytes.count) }
        let type = bytes.loadLittleEndianUInt32(at: 0)
        guard type == MessageType.initiation.rawValue else { throw MessageError.unknownType(type) }
        senderIndex = bytes.loadLittleEndianUInt32(at: 4)
        ephemeral = bytes.slice(8, 32)
        encryptedStatic = bytes.slice(40, 48)
        encryptedTimestamp = bytes.slice(88, 28)
        mac1 = bytes.slice(116, 16)
        mac2 = bytes.slice(132, 16)
    }

    /// The 148-byte wire form.
    package var bytes: [UInt8] {
        var out = [UInt8](repeating: 0, count: Self.byteCount)
        out.storeLittleEndian(MessageType.initiation.rawValue, at: 0)
        out.storeLittleEndian(senderIndex, at: 4)
        out.store(ephemeral, at: 8)
        out.store(encryptedStatic, at: 40)
        out.store(encryptedTimestamp, at: 88)
        out.store(mac1, at: 116)
        out.store(mac2, at: 132)
        return out
    }
}
