import CSodium
import Foundation

/// The content hash that names a bundle in etcd: lowercase hex SHA-256 of its bytes.
public enum BundleHash {
    /// The hex SHA-256 of `bytes` (libsodium's crypto_hash_sha256).
    public static func of(_ bytes: Data) -> String {
        var digest = [UInt8](repeating: 0, count: Int(crypto_hash_sha256_BYTES))
        bytes.withUnsafeBytes { raw in
            _ = crypto_hash_sha256(&digest, raw.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(raw.count))
        }
        return digest.map { byte in
            let text = String(byte, radix: 16)
            return text.count == 1 ? "0" + text : text
        }.joined()
    }

    /// Whether `text` looks like a hash this layout writes (64 lowercase hex digits).
    public static func isValid(_ text: String) -> Bool {
        text.utf8.count == 64 && text.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }
}
