/// Why bytes could not be decoded as a WireGuard message.
package enum MessageError: Error, Equatable, Sendable {
    /// Fewer than the four bytes of the type field.
    case truncated
    /// The type field holds no known message type (or its reserved bytes are not zero).
    case unknownType(UInt32)
    /// A fixed-size message with the wrong size, or a transport message too short for
    /// header and tag.
    case wrongLength(type: MessageType, actual: Int)
}
