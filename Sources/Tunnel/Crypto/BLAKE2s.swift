import CSodium
import SecureMemory

/// BLAKE2s (RFC 7693): the 32-bit-word BLAKE2 variant WireGuard uses for `HASH`, `MAC`
/// and, through HMAC, for the key derivation chain.
///
/// libsodium only ships BLAKE2b, hence this Swift implementation. It supports digests of
/// 1...32 bytes and an optional key of up to 32 bytes (keyed mode, used by `MAC`).
package struct BLAKE2s: Sendable {
    /// Bytes per compression block.
    static let blockByteCount = 64
    /// Largest digest and key size.
    static let maxDigestByteCount = 32

    /// Initialisation vector: the same constants as SHA-256's initial state (RFC 7693 2.6).
    private static let iv: [UInt32] = [
        0x6A09_E667, 0xBB67_AE85, 0x3C6E_F372, 0xA54F_F53A,
        0x510E_527F, 0x9B05_688C, 0x1F83_D9AB, 0x5BE0_CD19,
    ]

    /// Message word schedule for the ten rounds (RFC 7693 2.7).
    private static let sigma: [[Int]] = [
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
        [14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3],
        [11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4],
        [7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8],
        [9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13],
        [2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9],
        [12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11],
        [13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10],
        [6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5],
        [10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0],
    ]

    private var state: [UInt32]
    private var block: [UInt8]
    private var blockFill = 0
    private var bytesCompressed: UInt64 = 0
    private let digestByteCount: Int

    /// Starts a hash producing `digestByteCount` bytes, keyed with `key` if it is not empty.
    package init(digestByteCount: Int = maxDigestByteCount, key: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0)) {
        precondition((1...Self.maxDigestByteCount).contains(digestByteCount), "BLAKE2s digest must be 1...32 bytes")
        precondition(key.count <= Self.maxDigestByteCount, "BLAKE2s key must be at most 32 bytes")
        self.digestByteCount = digestByteCount
        state = Self.iv
        // Parameter block word 0: digest length, key length, fanout 1, depth 1 (sequential mode).
        state[0] ^= 0x0101_0000 ^ (UInt32(key.count) << 8) ^ UInt32(digestByteCount)
        block = [UInt8](repeating: 0, count: Self.blockByteCount)
        if !key.isEmpty {
            // The key, zero-padded to a full block, is hashed as the first block.
            block.withUnsafeMutableBytes { $0.copyMemory(from: key) }
            blockFill = Self.blockByteCount
        }
    }

    /// Convenience for array keys.
    package init(digestByteCount: Int = maxDigestByteCount, key: [UInt8]) {
        self = key.withUnsafeBytes { BLAKE2s(digestByteCount: digestByteCount, key: $0) }
    }

    /// Absorbs more input.
    mutating func update(_ input: UnsafeRawBufferPointer) {
        guard var remaining = input.baseAddress, !input.isEmpty else { return }
        var count = input.count
        let free = Self.blockByteCount - blockFill
        // A full block is compressed only once more input arrives, because the final
        // block must be compressed with the finalisation flag set.
        if count > free {
            block.withUnsafeMutableBytes { ($0.baseAddress! + blockFill).copyMemory(from: remaining, byteCount: free) }
            remaining += free
            count -= free
            bytesCompressed &+= UInt64(Self.blockByteCount)
            block.withUnsafeBytes { compress($0, isFinal: false) }
            blockFill = 0
            while count > Self.blockByteCount {
                bytesCompressed &+= UInt64(Self.blockByteCount)
                compress(UnsafeRawBufferPointer(start: remaining, count: Self.blockByteCount), isFinal: false)
                remaining += Self.blockByteCount
                count -= Self.blockByteCount
            }
        }
        block.withUnsafeMutableBytes { ($0.baseAddress! + blockFill).copyMemory(from: remaining, byteCount: count) }
        blockFill += count
    }

    /// Convenience for arrays.
    mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// Finishes the hash, writing the digest into the first `digestByteCount` bytes of
    /// `output`, and wipes the internal state (which holds the key in keyed mode).
    mutating func finalize(into output: UnsafeMutableRawBufferPointer) {
        precondition(output.count >= digestByteCount, "output too small for digest")
        bytesCompressed &+= UInt64(blockFill)
        block.withUnsafeMutableBytes { bytes in
            for i in blockFill..<Self.blockByteCount { bytes[i] = 0 }
        }
        block.withUnsafeBytes { compress($0, isFinal: true) }
        for i in 0..<digestByteCount {
            output[i] = UInt8(truncatingIfNeeded: state[i / 4] >> (8 * UInt32(i % 4)))
        }
        state.withUnsafeMutableBytes { sodium_memzero($0.baseAddress, $0.count) }
        wipe(&block)
        blockFill = 0
    }

    /// Finishes the hash and returns the digest.
    mutating func finalize() -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: digestByteCount)
        digest.withUnsafeMutableBytes { finalize(into: $0) }
        return digest
    }

    /// The compression function F (RFC 7693 3.2).
    private mutating func compress(_ input: UnsafeRawBufferPointer, isFinal: Bool) {
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 32) { scratch in
            let m = UnsafeMutableBufferPointer(rebasing: scratch[0..<16])
            let v = UnsafeMutableBufferPointer(rebasing: scratch[16..<32])
            for i in 0..<16 {
                m[i] = input.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self).littleEndian
            }
            for i in 0..<8 {
                v[i] = state[i]
                v[i + 8] = Self.iv[i]
            }
            v[12] ^= UInt32(truncatingIfNeeded: bytesCompressed)
            v[13] ^= UInt32(truncatingIfNeeded: bytesCompressed >> 32)
            if isFinal { v[14] = ~v[14] }

            @inline(__always)
            func mix(_ a: Int, _ b: Int, _ c: Int, _ d: Int, _ x: UInt32, _ y: UInt32) {
                v[a] = v[a] &+ v[b] &+ x
                v[d] = (v[d] ^ v[a]).rotatedRight(by: 16)
                v[c] = v[c] &+ v[d]
                v[b] = (v[b] ^ v[c]).rotatedRight(by: 12)
                v[a] = v[a] &+ v[b] &+ y
                v[d] = (v[d] ^ v[a]).rotatedRight(by: 8)
                v[c] = v[c] &+ v[d]
                v[b] = (v[b] ^ v[c]).rotatedRight(by: 7)
            }

            for round in 0..<10 {
                let s = Self.sigma[round]
                // Columns, then diagonals.
                mix(0, 4, 8, 12, m[s[0]], m[s[1]])
                mix(1, 5, 9, 13, m[s[2]], m[s[3]])
                mix(2, 6, 10, 14, m[s[4]], m[s[5]])
                mix(3, 7, 11, 15, m[s[6]], m[s[7]])
                mix(0, 5, 10, 15, m[s[8]], m[s[9]])
                mix(1, 6, 11, 12, m[s[10]], m[s[11]])
                mix(2, 7, 8, 13, m[s[12]], m[s[13]])
                mix(3, 4, 9, 14, m[s[14]], m[s[15]])
            }
            for i in 0..<8 { state[i] ^= v[i] ^ v[i + 8] }
            // The message words may be key material in keyed mode.
            sodium_memzero(scratch.baseAddress, 32 * MemoryLayout<UInt32>.stride)
        }
    }
}

extension UInt32 {
    @inline(__always)
    fileprivate func rotatedRight(by n: UInt32) -> UInt32 { (self >> n) | (self << (32 - n)) }
}

extension BLAKE2s {
    /// WireGuard's `HASH(input)`: unkeyed 32-byte BLAKE2s of the concatenated parts.
    package static func hash(_ parts: [UInt8]...) -> [UInt8] {
        var hasher = BLAKE2s()
        for part in parts { hasher.update(part) }
        return hasher.finalize()
    }

    /// WireGuard's `MAC(key, input)`: keyed BLAKE2s with a 16-byte digest.
    package static func mac(key: [UInt8], _ input: UnsafeRawBufferPointer) -> [UInt8] {
        var hasher = BLAKE2s(digestByteCount: 16, key: key)
        hasher.update(input)
        return hasher.finalize()
    }

    /// `MAC` over an array.
    package static func mac(key: [UInt8], _ input: [UInt8]) -> [UInt8] {
        input.withUnsafeBytes { mac(key: key, $0) }
    }
}
