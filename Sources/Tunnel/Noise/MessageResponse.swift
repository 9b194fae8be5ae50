/// Handshake response (type 2), 92 bytes:
///
///     type(4) sender(4) receiver(4) ephemeral(32) empty(0+16) mac1(16) mac2(16)
public struct MessageResponse: Sendable, Equatable {
    /// Encoded size in bytes.
    package static let byteCount = 92
    /// Offset of `mac1`; MAC1 covers every byte before it.
    package static let mac1Offset = 60
    /// Offset of `mac2`; MAC2 covers every byte before it.
    static let mac2Offset = 76

    /// The responder's index for the new keypair.
    package var senderIndex: UInt32
    /// The initiator's index, echoed so the initiator can find its handshake.
    package var receiverIndex: UInt32
    /// `msg.ephemeral`: the responder's ephemeral public key.
    package var ephemeral: [UInt8]
    /// `msg.empty`: an AEAD tag over nothing, proving the responder derived the keys.
    package var encryptedNothing: [UInt8]
    /// `msg.mac1`.
    package var mac1: [UInt8]
    /// `msg.mac2`.
    var mac2: [UInt8]

    init(senderIndex: UInt32, receiverIndex: UInt32, ephemeral: [UInt8], encryptedNothing: [UInt8]) {
        self.senderIndex = senderIndex
        self.receiverIndex = receiverIndex
        self.ephemeral = ephemeral
        self.encryptedNothing = encryptedNothing
        mac1 = [UInt8](repeating: 0, count: 16)
        mac2 = [UInt8](repeating: 0, count: 16)
    }

    /// Decodes exactly 92 bytes.
    package init(bytes: [UInt8]) throws {
        guard bytes.count == Self.byteCount else { throw MessageError.wrongLength(type: .response, actual: bytes.count) }
        let type = bytes.loadLittleEndianUInt32(at: 0)
        guard type == MessageType.response.rawValue else { throw MessageError.unknownType(type) }
        senderIndex = bytes.loadLittleEndianUInt32(at: 4)
        receiverIndex = bytes.loadLittleEndianUInt32(at: 8)
        ephemeral = bytes.slice(12, 32)
        encryptedNothing = bytes.slice(44, 16)
        mac1 = bytes.slice(60, 16)
        mac2 = bytes.slice(76, 16)
    }

    /// The 92-byte wire form.
    package var bytes: [UInt8] {
        var out = [UInt8](repeating: 0, count: Self.byteCount)
        out.storeLittleEndian(MessageType.response.rawValue, at: 0)
        out.storeLittleEndian(senderIndex, at: 4)
        out.storeLittleEndian(receiverIndex, at: 8)
        out.store(ephemeral, at: 12)
        out.store(encryptedNothing, at: 44)
        out.store(mac1, at: 60)
        out.store(mac2, at: 76)
        return out
    }
}
