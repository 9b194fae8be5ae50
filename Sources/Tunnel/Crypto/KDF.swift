import CSodium

/// WireGuard's `KDF1`, `KDF2` and `KDF3` (paper 5.4): HKDF (RFC 5869) with HMAC-BLAKE2s,
/// an empty `info` and one, two or three 32-byte outputs.
///
///     τ0 = HMAC(key, input)
///     τ1 = HMAC(τ0, 0x1)
///     τi = HMAC(τ0, τ(i-1) || i)
///
/// Outputs are returned as ``SymmetricKey``s so every derived secret, including the
/// chaining key, is wiped when dropped.
package enum KDF {
    /// Derives `count` (1...3) keys from `key` (the chaining key) and `input`.
    static func derive(_ count: Int, key: SymmetricKey, input: UnsafeRawBufferPointer) -> [SymmetricKey] {
        precondition((1...3).contains(count), "WireGuard only defines KDF1...KDF3")
        let size = HMACBLAKE2s.byteCount
        return withUnsafeTemporaryAllocation(byteCount: size + 1, alignment: 16) { scratch in
            let prk = UnsafeMutableRawBufferPointer(rebasing: scratch[0..<size])
            defer { sodium_memzero(scratch.baseAddress, scratch.count) }
            key.withUnsafeBytes { k in HMACBLAKE2s.authenticate(key: k, parts: [input], into: prk) }

            var outputs: [SymmetricKey] = []
            outputs.reserveCapacity(count)
            var counter: UInt8 = 1
            for _ in 0..<count {
                let previous = outputs.last
                let next = SymmetricKey { out in
                    withUnsafeBytes(of: counter) { counterByte in
                        if let previous {
                            previous.withUnsafeBytes { prev in
                                HMACBLAKE2s.authenticate(key: UnsafeRawBufferPointer(prk), parts: [prev, counterByte], into: out)
                            }
                        } else {
                            HMACBLAKE2s.authenticate(key: UnsafeRawBufferPointer(prk), parts: [counterByte], into: out)
                        }
                    }
                }
                outputs.append(next)
                counter += 1
            }
            return outputs
        }
    }

    /// `KDF1(key, input)`.
    static func kdf1(key: SymmetricKey, _ input: [UInt8]) -> SymmetricKey {
        input.withUnsafeBytes { derive(1, key: key, input: $0)[0] }
    }

    /// `KDF2(key, input)`.
    static func kdf2(key: SymmetricKey, _ input: [UInt8]) -> (SymmetricKey, SymmetricKey) {
        let keys = input.withUnsafeBytes { derive(2, key: key, input: $0) }
        return (keys[0], keys[1])
    }

    /// `KDF2` with a secret input (a DH result), which never leaves secure storage.
    static func kdf2(key: SymmetricKey, _ input: SymmetricKey) -> (SymmetricKey, SymmetricKey) {
        let keys = input.withUnsafeBytes { derive(2, key: key, input: $0) }
        return (keys[0], keys[1])
    }

    /// `KDF1` with a secret input.
    static func kdf1(key: SymmetricKey, _ input: SymmetricKey) -> SymmetricKey {
        input.withUnsafeBytes { derive(1, key: key, input: $0)[0] }
    }

    /// `KDF3` with a secret input (the preshared key).
    static func kdf3(key: SymmetricKey, _ input: SymmetricKey) -> (SymmetricKey, SymmetricKey, SymmetricKey) {
        let keys = input.withUnsafeBytes { derive(3, key: key, input: $0) }
        return (keys[0], keys[1], keys[2])
    }
}
