import CSodium
import SecureMemory

/// A 32-byte symmetric secret: a ChaCha20-Poly1305 key, a preshared key, a chaining key
/// or a DH result. Wiped from memory when the last copy is dropped.
public struct SymmetricKey: Sendable {
    /// Size of a symmetric key in bytes.
    package static let byteCount = 32
    let storage: SecureBytes

    /// Generates a random key (for example a preshared key, as `wg genpsk` does).
    package init() {
        storage = SecureBytes(count: Self.byteCount) { randombytes_buf($0.baseAddress!, $0.count) }
    }

    /// Wraps existing key bytes.
    package init(rawBytes: [UInt8]) throws {
        guard rawBytes.count == Self.byteCount else {
            throw CryptoError.invalidLength(expected: Self.byteCount, actual: rawBytes.count)
        }
        storage = rawBytes.withUnsafeBytes { SecureBytes(copying: $0) }
    }

    /// Decodes the base64 form used for preshared keys in configuration files.
    package init(base64: String) throws {
        storage = try SecureBytes(count: Self.byteCount) { try KeyBase64.decode(base64, into: $0) }
    }

    /// Builds a key by letting `fill` write its 32 bytes directly into secure storage,
    /// so derived keys never pass through an ordinary array.
    init(filling fill: (UnsafeMutableRawBufferPointer) throws -> Void) rethrows {
        storage = try SecureBytes(count: Self.byteCount, initialise: fill)
    }

    /// The all-zero key: WireGuard's preshared key `Q` when none is configured.
    static let zero = SymmetricKey { _ in }

    /// The key in base64. This is secret material: avoid logging it.
    var base64: String { storage.withUnsafeBytes { KeyBase64.encode($0) } }

    func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try storage.withUnsafeBytes(body)
    }

    /// A copy of the bytes, for tests and diagnostics only.
    var rawBytes: [UInt8] { withUnsafeBytes { Array($0) } }
}

extension SymmetricKey: Equatable {
    /// Constant-time comparison.
    public static func == (lhs: SymmetricKey, rhs: SymmetricKey) -> Bool {
        lhs.storage.constantTimeEquals(rhs.storage)
    }
}
