import CLibCrypto
import Foundation

/// The content hash that names a bundle in etcd: lowercase hex SHA-256 of its bytes.
public enum BundleHash {
    /// The hex SHA-256 of `bytes` (OpenSSL's libcrypto, which uses the CPU's SHA extensions: a
    /// 6 MB bundle hashes in a few milliseconds).
    public static func of(_ bytes: Data) -> String {
        var digest = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        bytes.withUnsafeBytes { raw in
            digest.withUnsafeMutableBufferPointer { out in
                // Fails only when out of memory; the all-zero hash then matches no bundle's name.
                _ = EVP_Digest(raw.baseAddress, raw.count, out.baseAddress, &length, EVP_sha256(), nil)
            }
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
