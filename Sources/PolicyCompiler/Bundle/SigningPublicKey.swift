import CSodium
import Foundation

/// The public half of an Ed25519 policy signing key: what `trusted_publishers:` lists and what
/// a signed bundle names as its signer. Public, so its base64 form is written and logged freely.
public struct SigningPublicKey: Sendable, Hashable, CustomStringConvertible {
    /// An Ed25519 public key's size (RFC 8032, section 5.1.5).
    public static let byteCount = 32
    /// The key's 32 bytes.
    public let bytes: [UInt8]

    /// Wraps raw key bytes; nil unless there are exactly ``byteCount`` of them.
    public init?(bytes: [UInt8]) {
        guard bytes.count == Self.byteCount else { return nil }
        self.bytes = bytes
    }

    /// Reads the base64 form `ztpc keygen` writes to `KEY.pub` (surrounding whitespace ignored);
    /// nil for anything that is not the base64 of 32 bytes.
    public init?(base64: String) {
        let text = base64.trimmingCharacters(in: .whitespacesAndNewlines)
        guard text.utf8.count == 44, let data = Data(base64Encoded: text) else { return nil }
        self.init(bytes: [UInt8](data))
    }

    /// The key in base64 (44 characters), as `KEY.pub` holds it.
    public var base64: String { Data(bytes).base64EncodedString() }

    /// The same as ``base64``.
    public var description: String { base64 }

    /// Whether `signature` is this key's Ed25519 signature of exactly `message`.
    public func verifies(_ signature: [UInt8], of message: ArraySlice<UInt8>) -> Bool {
        guard signature.count == SigningKey.signatureByteCount else { return false }
        return message.withUnsafeBufferPointer { m in
            crypto_sign_verify_detached(signature, m.baseAddress, UInt64(m.count), bytes) == 0
        }
    }
}
