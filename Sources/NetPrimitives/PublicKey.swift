/// A Curve25519 public key: the 32 bytes of a WireGuard peer's identity (the little-endian
/// u-coordinate). Public keys are not secret, so they are plain values that hash and serve as
/// dictionary keys: peers are looked up by them on every packet.
///
/// Held inline as four words, so that copying, hashing and comparing one touch no heap memory.
public struct PublicKey: Hashable, Sendable, CustomStringConvertible {
    /// Size of a public key in bytes.
    public static let byteCount = 32

    /// Why bytes or text do not make a key.
    public enum FormatError: Error, Equatable, Sendable {
        /// Not exactly 32 bytes.
        case invalidLength(expected: Int, actual: Int)
        /// Not the 44-character padded base64 of 32 bytes.
        case invalidBase64
        /// Not 64 hex digits.
        case invalidHex
    }

    /// The key bytes 0-7, 8-15, 16-23 and 24-31, each word little-endian (byte 0 in the low bits).
    @usableFromInline let w0, w1, w2, w3: UInt64

    @inlinable
    init(words w0: UInt64, _ w1: UInt64, _ w2: UInt64, _ w3: UInt64) {
        (self.w0, self.w1, self.w2, self.w3) = (w0, w1, w2, w3)
    }

    /// Wraps 32 key bytes; throws ``FormatError/invalidLength(expected:actual:)`` for another count.
    public init(rawBytes: some Collection<UInt8>) throws(FormatError) {
        // Arrays and slices are read as memory: this init is generic and not specialized across the
        // module boundary, and walking the collection through its witnesses cost microseconds.
        if let key = rawBytes.withContiguousStorageIfAvailable({ try? PublicKey(raw: UnsafeRawBufferPointer($0)) }) {
            guard let key else { throw .invalidLength(expected: Self.byteCount, actual: rawBytes.count) }
            self = key
            return
        }
        guard rawBytes.count == Self.byteCount else {
            throw .invalidLength(expected: Self.byteCount, actual: rawBytes.count)
        }
        var w: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        for (i, b) in rawBytes.enumerated() {
            let bits = UInt64(b) << (8 * UInt64(i % 8))
            switch i / 8 {
            case 0: w.0 |= bits
            case 1: w.1 |= bits
            case 2: w.2 |= bits
            default: w.3 |= bits
            }
        }
        self.init(words: w.0, w.1, w.2, w.3)
    }

    /// Reads 32 key bytes in place (a handshake message's static or ephemeral key), with no
    /// allocation. Throws ``FormatError/invalidLength(expected:actual:)`` unless `raw` is 32 bytes.
    public init(raw: UnsafeRawBufferPointer) throws(FormatError) {
        guard raw.count == Self.byteCount else { throw .invalidLength(expected: Self.byteCount, actual: raw.count) }
        func word(_ offset: Int) -> UInt64 { UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self)) }
        self.init(words: word(0), word(8), word(16), word(24))
    }

    /// Decodes the base64 form `wg pubkey` prints: 44 characters, one `=` of padding, unused bits
    /// zero (as `wg` requires). Throws ``FormatError/invalidBase64`` otherwise.
    public init(base64: some StringProtocol) throws(FormatError) {
        var bytes = KeyText.Bytes32()
        guard KeyText.decodeBase64(base64, into: &bytes) else { throw .invalidBase64 }
        self = bytes.key
    }

    /// Decodes the 64 hex digits of the WireGuard UAPI (`public_key=…`), either case.
    /// Throws ``FormatError/invalidHex`` otherwise.
    public init(hex: some StringProtocol) throws(FormatError) {
        var bytes = KeyText.Bytes32()
        guard KeyText.decodeHex(hex, into: &bytes) else { throw .invalidHex }
        self = bytes.key
    }

    /// The key in base64, as `wg pubkey` prints it.
    public var base64: String { KeyText.encodeBase64(self) }

    /// The key as 64 lowercase hex digits, as the UAPI writes it.
    package var hex: String { KeyText.encodeHex(self) }

    /// The 32 key bytes. Allocates an array: use ``withUnsafeBytes(_:)`` where that matters.
    public var bytes: [UInt8] { withUnsafeBytes { Array($0) } }

    /// Calls `body` with the 32 key bytes, in order, without allocating.
    @inlinable
    public func withUnsafeBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        var words = (w0.littleEndian, w1.littleEndian, w2.littleEndian, w3.littleEndian)
        return try Swift.withUnsafeBytes(of: &words) { (raw) throws(E) -> R in try body(raw) }
    }

    /// The key in base64.
    public var description: String { base64 }

    /// Compared in constant time: equality of keys decides whether a handshake is accepted, and a
    /// timing side channel there costs nothing to avoid (four XORs and an OR, no early exit).
    @inlinable
    public static func == (a: PublicKey, b: PublicKey) -> Bool {
        ((a.w0 ^ b.w0) | (a.w1 ^ b.w1) | (a.w2 ^ b.w2) | (a.w3 ^ b.w3)) == 0
    }

    /// The 32 bytes in one call: measured faster than combining the four words one by one, and
    /// peers are looked up by key on every packet.
    @inlinable
    public func hash(into hasher: inout Hasher) {
        var words = (w0, w1, w2, w3)
        Swift.withUnsafeBytes(of: &words) { hasher.combine(bytes: $0) }
    }
}
