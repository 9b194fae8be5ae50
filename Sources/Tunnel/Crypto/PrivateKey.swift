import CSodium
import SecureMemory

/// A Curve25519 private key (32 bytes). Its bytes are wiped from memory when the last
/// copy of the key is dropped.
public struct PrivateKey: Sendable {
    /// Size of a private key in bytes.
    package static let byteCount = 32
    let storage: SecureBytes

    /// Generates a fresh random key, clamped the way `wg genkey` clamps, so that the
    /// stored bytes are a valid X25519 scalar whatever implementation reads them later.
    public init() {
        storage = SecureBytes(count: Self.byteCount) { bytes in
            randombytes_buf(bytes.baseAddress!, bytes.count)
            X25519.clamp(bytes)
        }
    }

    /// Wraps existing key bytes. They are kept as given: X25519 clamps internally, so an
    /// unclamped key from elsewhere still yields the same public key as in `wg pubkey`.
    package init(rawBytes: [UInt8]) throws {
        guard rawBytes.count == Self.byteCount else {
            throw CryptoError.invalidLength(expected: Self.byteCount, actual: rawBytes.count)
        }
        storage = rawBytes.withUnsafeBytes { SecureBytes(copying: $0) }
    }

    /// Decodes the base64 form used by `wg genkey` and configuration files.
    package init(base64: String) throws {
        storage = try SecureBytes(count: Self.byteCount) { try KeyBase64.decode(base64, into: $0) }
    }

    /// The key in base64. This is secret material: avoid logging it.
    var base64: String { storage.withUnsafeBytes { KeyBase64.encode($0) } }

    /// The matching public key, `DH-PUBKEY` in the paper. Computed on every read (one
    /// fixed-base X25519, not cached): keep the result rather than asking again on a hot path.
    public var publicKey: PublicKey { X25519.publicKey(for: self) }

    func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try storage.withUnsafeBytes(body)
    }
}

extension PrivateKey: Equatable {
    /// Constant-time comparison.
    public static func == (lhs: PrivateKey, rhs: PrivateKey) -> Bool {
        lhs.storage.constantTimeEquals(rhs.storage)
    }
}
