/// The `type` field that starts every WireGuard message, sent as a little-endian u32
/// (one type byte followed by three reserved zero bytes in the paper's words).
package enum MessageType: UInt32, Sendable {
    case initiation = 1
    case response = 2
    case cookieReply = 3
    case transport = 4
}
