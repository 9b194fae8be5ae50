/// Header of a transport data message (type 4), 16 bytes, followed by the encrypted,
/// zero-padded packet and its 16-byte tag:
///
///     type(4) receiver(4) counter(8) packet(16n + 16)
package struct TransportHeader: Sendable, Equatable {
    /// Header size in bytes.
    package static let byteCount = 16
    /// Smallest transport message: header plus tag (a keepalive carries no payload).
    static let minimumMessageByteCount = byteCount + ChaCha20Poly1305.tagByteCount

    /// The receiver's keypair index.
    package var receiverIndex: UInt32
    /// The sender's message counter, also the AEAD nonce.
    package var counter: UInt64

    /// A header with the given fields.
    package init(receiverIndex: UInt32, counter: UInt64) {
        self.receiverIndex = receiverIndex
        self.counter = counter
    }

    /// Reads the header of a transport message without copying the payload.
    package init(packet: UnsafeRawBufferPointer) throws {
        guard packet.count >= 4 else { throw MessageError.truncated }
        let type = UInt32(littleEndian: packet.loadUnaligned(fromByteOffset: 0, as: UInt32.self))
        guard type == MessageType.transport.rawValue else { throw MessageError.unknownType(type) }
        guard packet.count >= Self.minimumMessageByteCount else {
            throw MessageError.wrongLength(type: .transport, actual: packet.count)
        }
        receiverIndex = UInt32(littleEndian: packet.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
        counter = UInt64(littleEndian: packet.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
    }

    /// Writes the 16 header bytes at the start of `packet`.
    package func write(into packet: UnsafeMutableRawBufferPointer) {
        packet.storeBytes(of: MessageType.transport.rawValue.littleEndian, toByteOffset: 0, as: UInt32.self)
        packet.storeBytes(of: receiverIndex.littleEndian, toByteOffset: 4, as: UInt32.self)
        packet.storeBytes(of: counter.littleEndian, toByteOffset: 8, as: UInt64.self)
    }
}
