import CSodium
import SecureMemory

/// An Ed25519 key that signs policy bundles (`ztpc keygen`, `ztpc compile --sign`).
///
/// The secret lives in zeroing storage and is wiped when the last copy of the key is dropped;
/// it is never logged or printed. Its file holds the 32-byte seed in base64, mode 0600.
public struct SigningKey: Sendable {
    /// The size of an Ed25519 seed, the secret the key file holds (RFC 8032, section 5.1.5).
    public static let seedByteCount = 32
    /// The size of an Ed25519 signature (RFC 8032, section 5.1.6).
    public static let signatureByteCount = 64
    /// libsodium's expanded secret key: the seed followed by the public key.
    private static let secretByteCount = 64

    private let secret: SecureBytes
    /// The key that verifies this key's signatures.
    public let publicKey: SigningPublicKey

    /// A fresh random key.
    public init() {
        let seed = SecureBytes(count: Self.seedByteCount) { randombytes_buf($0.baseAddress!, $0.count) }
        self.init(seed: seed)
    }

    private init(seed: SecureBytes) {
        var publicBytes = [UInt8](repeating: 0, count: SigningPublicKey.byteCount)
        secret = SecureBytes(count: Self.secretByteCount) { sk in
            seed.withUnsafeBytes { s in
                _ = crypto_sign_seed_keypair(
                    &publicBytes, sk.baseAddress!.assumingMemoryBound(to: UInt8.self), s.baseAddress!.assumingMemoryBound(to: UInt8.self))
            }
        }
        // 32 bytes by construction.
        publicKey = SigningPublicKey(bytes: publicBytes)!
    }

    /// Reads a key file that `ztpc keygen` wrote, refusing one that group or others may read or
    /// write, that is not a regular file, or that holds anything but a base64 seed.
    package init(keyFile path: String) throws(SecretKeyFile.Failure) {
        self.init(seed: try SecretKeyFile.read(path, byteCount: Self.seedByteCount))
    }

    /// Writes the key's seed to a new file `path`, mode 0600; an existing file is never replaced.
    package func writeKeyFile(_ path: String) throws(SecretKeyFile.Failure) {
        // libsodium's secret key starts with the seed.
        let seed = secret.withUnsafeBytes { SecureBytes(copying: UnsafeRawBufferPointer(rebasing: $0[0..<Self.seedByteCount])) }
        try SecretKeyFile.create(path, holding: seed)
    }

    /// The Ed25519 signature of exactly `message` (64 bytes).
    public func signature(of message: ArraySlice<UInt8>) -> [UInt8] {
        var signature = [UInt8](repeating: 0, count: Self.signatureByteCount)
        message.withUnsafeBufferPointer { m in
            secret.withUnsafeBytes { sk in
                _ = crypto_sign_detached(
                    &signature, nil, m.baseAddress, UInt64(m.count), sk.baseAddress!.assumingMemoryBound(to: UInt8.self))
            }
        }
        return signature
    }
}
