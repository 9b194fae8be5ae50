#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why a UAPI request (`get=1`, `set=1`) was refused, with the errno the reply carries.
///
/// The codes are wireguard-go's (`ipcErrorf` in `device/uapi.go`): EPROTO for a line that
/// is not `key=value`, EINVAL for a bad key or value, EIO when the request cannot be read.
/// On the wire the errno is negative (`errno=-22`), as wireguard-go sends it and as `wg`
/// expects (it negates the number into its own `errno`).
///
/// Descriptions never quote a value: values include private and preshared keys. A key's
/// name is quoted only when it looks like one (lowercase letters and underscores).
package struct UAPIError: Error, Equatable, Sendable, CustomStringConvertible {
    package enum Reason: Equatable, Sendable {
        /// A line without `=`.
        case malformedLine
        /// A key the protocol does not have.
        case unknownKey(String)
        /// An interface key (private_key, listen_port, fwmark, replace_peers) after the
        /// first public_key: peer keys apply to the most recent public_key, so it is out of place.
        case interfaceKeyAfterPeer(String)
        /// A peer key before any public_key names the peer it belongs to.
        case peerKeyBeforePublicKey(String)
        /// A known key with a value it cannot take (bad hex, out of range, not `true`).
        case invalidValue(key: String)
        /// A line longer than ``UAPILineReader/maximumLineBytes``.
        case lineTooLong
        /// A request larger than ``UAPIHandler/maximumRequestBytes``.
        case requestTooLarge
        /// The connection ended (or timed out) before the blank line that ends a request.
        case truncated
        /// Reading the request failed.
        case io
        /// The first line of a request is no operation we serve.
        case unknownOperation
        /// The socket refused a `listen_port` (the port is taken: EADDRINUSE) or `fwmark`
        /// (EPERM without CAP_NET_ADMIN); `errno` is the system's.
        case socketSetting(key: String, errno: Int32)
        /// A peer public key with which no Diffie-Hellman is possible (a low-order point).
        case unusablePublicKey(PublicKey)
    }

    let reason: Reason
    /// The 1-based line of the request body where it went wrong, when there is one.
    package let line: Int?

    package init(_ reason: Reason, line: Int? = nil) {
        self.reason = reason
        self.line = line
    }

    /// The positive errno value (EINVAL, EPROTO, ...).
    package var errno: Int32 {
        switch reason {
        case .malformedLine: EPROTO
        case .io, .truncated: EIO
        case .lineTooLong, .requestTooLarge: EMSGSIZE
        case .unknownKey, .interfaceKeyAfterPeer, .peerKeyBeforePublicKey, .invalidValue, .unknownOperation,
             .unusablePublicKey: EINVAL
        case .socketSetting(_, let code): code
        }
    }

    /// The value of the reply's `errno=` line: negative, as wireguard-go sends it.
    var wireErrno: Int32 { -errno }

    package var description: String {
        let text: String
        switch reason {
        case .malformedLine: text = "line is not key=value"
        case .unknownKey(let key): text = "unknown key \(Self.quoted(key))"
        case .interfaceKeyAfterPeer(let key): text = "interface key \(Self.quoted(key)) after a public_key"
        case .peerKeyBeforePublicKey(let key): text = "peer key \(Self.quoted(key)) before any public_key"
        case .invalidValue(let key): text = "invalid value for \(Self.quoted(key))"
        case .lineTooLong: text = "line longer than \(UAPILineReader.maximumLineBytes) bytes"
        case .requestTooLarge: text = "request larger than \(UAPIHandler.maximumRequestBytes) bytes"
        case .truncated: text = "request ended before its blank line"
        case .io: text = "reading the request failed"
        case .unknownOperation: text = "unknown operation"
        case .socketSetting(let key, let code): text = "cannot set \(key): \(String(cString: strerror(code)))"
        case .unusablePublicKey(let key): text = "peer \(key.base64.prefix(8))…: no Diffie-Hellman is possible with this public key"
        }
        return line.map { "line \($0): \(text)" } ?? text
    }

    /// `"name"` for a plausible key name, else a placeholder: whatever precedes `=` on a
    /// garbled line might be key material.
    static func quoted(_ key: String) -> String {
        let plausible = !key.isEmpty && key.utf8.count <= 32 && key.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x5F }
        return plausible ? "\"\(key)\"" : "(unprintable key)"
    }
}
