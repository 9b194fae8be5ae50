import CSodium
import SecureMemory

/// Base64 for key material, through libsodium's constant-time codec so that encoding
/// or decoding a private key does not leak its bytes through table-lookup timing.
enum KeyBase64 {
    /// Standard alphabet with padding, as used by `wg genkey` and wg-quick configs.
    private static let variant = Int32(sodium_base64_VARIANT_ORIGINAL)

    static func encode(_ bytes: UnsafeRawBufferPointer) -> String {
        Sodium.ensureInitialised()
        // 4 characters per started group of 3 bytes, plus the NUL libsodium writes.
        let capacity = 4 * ((bytes.count + 2) / 3) + 1
        var text = [CChar](repeating: 0, count: capacity)
        _ = text.withUnsafeMutableBufferPointer { out in
            sodium_bin2base64(
                out.baseAddress!, capacity, bytePointer(bytes), bytes.count, variant)
        }
        let utf8 = text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        return String(decoding: utf8, as: UTF8.self)
    }

    /// Decodes exactly `output.count` bytes from `text`, rejecting trailing garbage.
    static func decode(_ text: String, into output: UnsafeMutableRawBufferPointer) throws {
        var utf8 = Array(text.utf8)
        defer { wipe(&utf8) }
        try utf8.withUnsafeBytes { try decode(text: $0, into: output) }
    }

    /// Decodes exactly `output.count` bytes from the base64 characters in `text` (no
    /// surrounding whitespace), rejecting trailing garbage. Reads `text` in place, so a key
    /// read into zeroing storage is never copied into a String.
    static func decode(text: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) throws {
        Sodium.ensureInitialised()
        // An empty input still needs a valid address for libsodium's nonnull pointer.
        guard let base = text.baseAddress, !text.isEmpty else { throw CryptoError.invalidBase64 }
        var decodedCount = 0
        var end: UnsafePointer<CChar>? = nil
        let chars = base.assumingMemoryBound(to: CChar.self)
        let status = sodium_base642bin(
            bytePointer(output), output.count, chars, text.count, nil, &decodedCount, &end, variant)
        let consumed = end.map { $0 - chars } ?? 0
        guard status == 0, consumed == text.count, decodedCount == output.count else {
            throw CryptoError.invalidBase64
        }
    }
}
