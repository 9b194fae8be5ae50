import CSodium

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
        Sodium.ensureInitialised()
        // An empty string still needs a valid address for libsodium's nonnull pointer.
        var utf8 = Array(text.utf8)
        if utf8.isEmpty { throw CryptoError.invalidBase64 }
        defer { wipe(&utf8) }
        var decodedCount = 0
        var consumed = 0
        let status = utf8.withUnsafeBufferPointer { input -> Int32 in
            input.withMemoryRebound(to: CChar.self) { chars -> Int32 in
                var end: UnsafePointer<CChar>? = nil
                let rc = sodium_base642bin(
                    bytePointer(output), output.count,
                    chars.baseAddress!, chars.count, nil, &decodedCount, &end, variant)
                if let end, let start = chars.baseAddress { consumed = end - start }
                return rc
            }
        }
        guard status == 0, consumed == utf8.count, decodedCount == output.count else {
            throw CryptoError.invalidBase64
        }
    }
}
