import CSodium

/// A Curve25519 public key (32 bytes). Public keys are not secret, so they are plain
/// values that can be hashed and used as dictionary keys (peers are looked up by them).
public struct PublicKey: Sendable, Hashable, CustomStringConvertible {
    /// Size of a public key in bytes.
    public static let byteCount = 32
    /// The 32 key bytes (the little-endian u-coordinate).
    public let bytes: [UInt8]

    /// Wraps 32 key bytes.
    public init(rawBytes: [UInt8]) throws {
        guard rawBytes.count == Self.byteCount else {
            throw CryptoError.invalidLength(expected: Self.byteCount, actual: rawBytes.count)
        }
        bytes = rawBytes
    }

    /// Decodes the base64 form printed by `wg pubkey`.
    public init(base64: String) throws {
        var raw = [UInt8](repeating: 0, count: Self.byteCount)
        try raw.withUnsafeMutableBytes { try KeyBase64.decode(base64, into: $0) }
        bytes = raw
    }

    /// The key in base64, as `wg pubkey` prints it.
    public var base64: String { bytes.withUnsafeBytes { KeyBase64.encode($0) } }

    public var description: String { base64 }

    /// Compared in constant time: equality of keys decides whether a handshake is
    /// accepted, and a timing side channel there costs nothing to avoid. Four word XORs
    /// rather than a call into libsodium: peers are looked up by key on every packet.
    public static func == (lhs: PublicKey, rhs: PublicKey) -> Bool {
        lhs.bytes.withUnsafeBytes { l in
            rhs.bytes.withUnsafeBytes { r in
                var difference: UInt64 = 0
                for offset in stride(from: 0, to: byteCount, by: 8) {
                    difference |= l.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
                        ^ r.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
                }
                return difference == 0
            }
        }
    }

    /// The 32 bytes in one call (hashing the array element by element cost more than the
    /// rest of a dictionary lookup on the data path).
    public func hash(into hasher: inout Hasher) { bytes.withUnsafeBytes { hasher.combine(bytes: $0) } }
}
