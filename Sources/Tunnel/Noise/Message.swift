/// Any WireGuard message, decoded from a received datagram.
package enum Message: Sendable, Equatable {
    case initiation(MessageInitiation)
    case response(MessageResponse)
    case cookieReply(MessageCookieReply)
    /// Only the header is decoded; pass the whole datagram to ``Keypair/open(packet:into:now:)``.
    case transport(TransportHeader)

    /// Decodes a datagram. Never traps: any byte sequence either decodes or throws
    /// ``MessageError``, because these bytes come straight from the network.
    package static func decode(_ datagram: [UInt8]) throws -> Message {
        guard datagram.count >= 4 else { throw MessageError.truncated }
        let rawType = datagram.loadLittleEndianUInt32(at: 0)
        guard let type = MessageType(rawValue: rawType) else { throw MessageError.unknownType(rawType) }
        switch type {
        case .initiation: return .initiation(try MessageInitiation(bytes: datagram))
        case .response: return .response(try MessageResponse(bytes: datagram))
        case .cookieReply: return .cookieReply(try MessageCookieReply(bytes: datagram))
        case .transport: return .transport(try datagram.withUnsafeBytes { try TransportHeader(packet: $0) })
        }
    }
}
