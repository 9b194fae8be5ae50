@preconcurrency import CSodium

/// A libsodium random source that replays one fixed stream, so that the WireGuard fixture's
/// ephemeral keys and indices (and hence its real messages in the seed corpus) come out the same
/// in every process. Without it a saved response or cookie reply could never be valid again: both
/// depend on the initiator's random ephemeral key.
///
/// Installed only around a target call (``withInstalled(_:)``), so that other code in the same
/// process (the XCTest bundle) keeps real randomness. Not thread-safe, like libFuzzer's one
/// calling thread; the fixed stream is worthless as randomness and must never leave the fuzz code.
enum DeterministicRandom {
    /// Position in the stream; each request for bytes takes the next 64-byte-aligned chunk.
    nonisolated(unsafe) private static var counter: UInt64 = 0

    nonisolated(unsafe) private static let implementation: UnsafeMutablePointer<randombytes_implementation> = {
        let p = UnsafeMutablePointer<randombytes_implementation>.allocate(capacity: 1)
        p.initialize(to: randombytes_implementation(
            implementation_name: { DeterministicRandom.name },
            random: {
                var value: UInt32 = 0
                withUnsafeMutableBytes(of: &value) { DeterministicRandom.fill($0.baseAddress, $0.count) }
                return value
            },
            stir: nil,
            uniform: nil,
            buf: { DeterministicRandom.fill($0, $1) },
            close: nil))
        return p
    }()

    nonisolated(unsafe) private static let name: UnsafePointer<CChar> = {
        let text = Array("ztp-fuzz-deterministic".utf8CString)
        let p = UnsafeMutablePointer<CChar>.allocate(capacity: text.count)
        p.initialize(from: text, count: text.count)
        return UnsafePointer(p)
    }()

    private static func fill(_ buffer: UnsafeMutableRawPointer?, _ size: Int) {
        guard let buffer, size > 0 else { return }
        var seed = [UInt8](repeating: 0x5A, count: Int(randombytes_SEEDBYTES))
        withUnsafeBytes(of: counter.littleEndian) { seed.replaceSubrange(0..<8, with: $0) }
        counter &+= 1
        randombytes_buf_deterministic(buffer, size, seed)
    }

    /// Runs `body` with the fixed stream, from position `start`, as libsodium's source, then puts
    /// libsodium's default source back. Calls must not nest.
    static func withInstalled<R>(from start: UInt64, _ body: () throws -> R) rethrows -> R {
        _ = sodium_init()
        counter = start
        randombytes_set_implementation(implementation)
        defer { randombytes_set_implementation(&randombytes_internal_implementation) }
        return try body()
    }
}
