import CSodium

/// HMAC (RFC 2104) instantiated with BLAKE2s: WireGuard's `HMAC(key, input)`.
///
/// WireGuard uses HMAC rather than BLAKE2s keyed mode inside its KDF so that the
/// construction is exactly HKDF (RFC 5869), whose security analysis is well known.
package enum HMACBLAKE2s {
    /// Digest size in bytes.
    package static let byteCount = 32

    /// Writes `HMAC(key, parts[0] || parts[1] || ...)` into the first 32 bytes of `output`.
    static func authenticate(
        key: UnsafeRawBufferPointer, parts: [UnsafeRawBufferPointer], into output: UnsafeMutableRawBufferPointer
    ) {
        let blockSize = BLAKE2s.blockByteCount
        withUnsafeTemporaryAllocation(byteCount: blockSize + byteCount, alignment: 16) { scratch in
            let pad = UnsafeMutableRawBufferPointer(rebasing: scratch[0..<blockSize])
            let inner = UnsafeMutableRawBufferPointer(rebasing: scratch[blockSize...])
            defer { sodium_memzero(scratch.baseAddress, scratch.count) }

            // Keys longer than a block are first hashed; shorter ones are zero padded.
            pad.initializeMemory(as: UInt8.self, repeating: 0)
            if key.count > blockSize {
                var keyHasher = BLAKE2s()
                keyHasher.update(key)
                keyHasher.finalize(into: pad)
            } else {
                pad.copyMemory(from: key)
            }

            for i in 0..<blockSize { pad[i] ^= 0x36 }
            var innerHasher = BLAKE2s()
            innerHasher.update(UnsafeRawBufferPointer(pad))
            for part in parts { innerHasher.update(part) }
            innerHasher.finalize(into: inner)

            // 0x36 ^ 0x5c turns the inner pad into the outer pad without re-reading the key.
            for i in 0..<blockSize { pad[i] ^= 0x36 ^ 0x5C }
            var outerHasher = BLAKE2s()
            outerHasher.update(UnsafeRawBufferPointer(pad))
            outerHasher.update(UnsafeRawBufferPointer(inner))
            outerHasher.finalize(into: output)
        }
    }

    /// Array convenience: `HMAC(key, input)`.
    static func authenticate(key: [UInt8], _ input: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: byteCount)
        key.withUnsafeBytes { k in
            input.withUnsafeBytes { i in
                out.withUnsafeMutableBytes { authenticate(key: k, parts: [i], into: $0) }
            }
        }
        return out
    }
}
