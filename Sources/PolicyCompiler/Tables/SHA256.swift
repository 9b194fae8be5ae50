import CLibCrypto

/// SHA-256 through OpenSSL's libcrypto, for the bundle's source hash, checksum and content hash:
/// it uses the CPU's SHA extensions where there are some, which makes a pass over a 6 MB bundle
/// take a few milliseconds instead of libsodium's tens (its implementation is portable C).
enum SHA256 {
    static func hash(_ bytes: [UInt8]) -> [UInt8] {
        bytes.withUnsafeBytes { digest(of: $0) }
    }

    /// The hash of a part of a buffer, without copying it out.
    static func hash(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
        bytes.withUnsafeBytes { digest(of: $0) }
    }

    static func hex(_ bytes: [UInt8]) -> String {
        bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }

    private static func digest(of input: UnsafeRawBufferPointer) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        // EVP_Digest fails only when out of memory; an all-zero hash then fails every comparison.
        _ = out.withUnsafeMutableBufferPointer { output in
            EVP_Digest(input.baseAddress, input.count, output.baseAddress, &length, EVP_sha256(), nil)
        }
        return out
    }
}
