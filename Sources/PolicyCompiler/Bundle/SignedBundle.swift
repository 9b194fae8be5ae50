/// A bundle with detached Ed25519 signatures appended: what `ztpc compile --sign` writes and
/// what an edge with `trusted_publishers:` accepts.
///
/// Layout: the bundle's bytes exactly as ``PolicyBundle/encode(_:)`` wrote them, then one record
/// per signature: magic `ZTPSIG1\0` (8 bytes), the signer's public key (32), the signature of
/// the bundle's bytes (64). The bundle's header gives its own length, so the records are found
/// without a count, and an unsigned bundle is a signed bundle with no records: older files load
/// unchanged. Signatures cover the bundle only, never one another, so that a second publisher can
/// countersign without invalidating the first.
package enum SignedBundle {
    /// The first 8 bytes of each signature record.
    package static let signatureMagic: [UInt8] = Array("ZTPSIG1".utf8) + [0]
    /// One record: magic, public key, signature.
    package static let recordSize = 8 + SigningPublicKey.byteCount + SigningKey.signatureByteCount

    /// One signature record.
    package struct Signature: Sendable, Equatable {
        /// The key that claims to have signed.
        package var signer: SigningPublicKey
        package var bytes: [UInt8]
    }

    /// A file split into its bundle and its signature records, checksum checked, nothing verified.
    package struct Parts: Sendable {
        /// The bundle's own bytes, which every signature covers.
        package var bundle: ArraySlice<UInt8>
        package var signatures: [Signature]
    }

    /// A bundle that a trusted key signed, decoded.
    package struct Opened: Sendable {
        package var tables: DecisionTables
        /// The trusted key whose signature verified.
        package var signer: SigningPublicKey
        /// Every key that signed (trusted or not), in file order.
        package var signers: [SigningPublicKey]
    }

    /// Why a bundle was refused.
    package enum OpenError: Error, Equatable, CustomStringConvertible {
        /// It carries no signature, and signatures are required.
        case unsigned
        /// No key that signed it is trusted; these are the keys that did.
        case untrusted(signers: [SigningPublicKey])
        /// It claims a trusted signer but the signature does not verify: the bundle was changed
        /// after signing, or the record was forged.
        case badSignature(signer: SigningPublicKey)
        /// Not a well-formed bundle (or signature trailer) at all.
        case corrupt(PolicyBundle.LoadError)

        /// The refusal as one sentence for `ztpc` and the daemon's log.
        package var description: String {
            switch self {
            case .unsigned: "bundle is not signed, and trusted publishers are required (sign it with ztpc compile --sign KEY)"
            case .untrusted(let signers):
                "bundle is signed only by untrusted keys: \(signers.map(\.base64).joined(separator: ", ")) (add the publisher's KEY.pub to the trusted keys if it is yours)"
            case .badSignature(let signer): "bundle signature by \(signer) does not verify: the bundle was altered after signing"
            case .corrupt(let e): "\(e)"
            }
        }
    }

    /// Splits `bytes` into the bundle and its signature records. Checks the bundle's header and
    /// checksum and the records' framing; verifies no signature and decodes no table.
    package static func split(_ bytes: [UInt8]) throws(OpenError) -> Parts {
        guard bytes.count >= 8, bytes[0..<8].elementsEqual(PolicyBundle.magic) else { throw .corrupt(.notABundle) }
        guard bytes.count >= PolicyBundle.headerSize else { throw .corrupt(.truncated) }
        let version = UInt16(bytes[8]) | UInt16(bytes[9]) << 8
        guard version == PolicyBundle.formatVersion else { throw .corrupt(.unsupportedVersion(version)) }
        let bodyLength = (12..<16).reduce(0) { $0 | Int(bytes[$1]) << (8 * ($1 - 12)) }
        let checked = PolicyBundle.headerSize + bodyLength
        let end = checked + 32
        guard bytes.count >= end else { throw .corrupt(.truncated) }
        guard SHA256.hash(bytes[0..<checked]).elementsEqual(bytes[checked..<end]) else { throw .corrupt(.checksumMismatch) }
        let trailer = bytes.count - end
        guard trailer % recordSize == 0 else {
            throw .corrupt(.inconsistent("\(trailer) bytes after the bundle are not whole signature records"))
        }
        var signatures: [Signature] = []
        var at = end
        while at < bytes.count {
            guard bytes[at..<(at + 8)].elementsEqual(signatureMagic) else {
                throw .corrupt(.inconsistent("bytes after the bundle are not a signature record"))
            }
            let key = at + 8, signature = key + SigningPublicKey.byteCount
            signatures.append(Signature(
                signer: SigningPublicKey(bytes: Array(bytes[key..<signature]))!,
                bytes: Array(bytes[signature..<(signature + SigningKey.signatureByteCount)])))
            at += recordSize
        }
        return Parts(bundle: bytes[0..<end], signatures: signatures)
    }

    /// `bytes` (a bundle, signed or not) with `key`'s signature added. A key that already
    /// signed is not added twice. Throws ``OpenError/corrupt(_:)`` for anything but a
    /// well-formed bundle: a damaged bundle is never signed.
    package static func sign(_ bytes: [UInt8], with key: SigningKey) throws(OpenError) -> [UInt8] {
        let parts = try split(bytes)
        if parts.signatures.contains(where: { $0.signer == key.publicKey }) { return bytes }
        return bytes + signatureMagic + key.publicKey.bytes + key.signature(of: parts.bundle)
    }

    /// Decodes `bytes` if one of the `trusted` keys signed them. The signature is verified
    /// before any table is decoded, so an unsigned or forged file reaches no parser beyond the
    /// header and checksum. Throws, in this order of checks: ``OpenError/corrupt(_:)``,
    /// ``OpenError/unsigned``, ``OpenError/untrusted(signers:)``, ``OpenError/badSignature(signer:)``,
    /// then ``OpenError/corrupt(_:)`` again for tables that do not decode.
    package static func open(_ bytes: [UInt8], trusted: [SigningPublicKey]) throws(OpenError) -> Opened {
        let parts = try split(bytes)
        guard !parts.signatures.isEmpty else { throw .unsigned }
        let claimed = parts.signatures.filter { trusted.contains($0.signer) }
        guard let first = claimed.first else { throw .untrusted(signers: parts.signatures.map(\.signer)) }
        guard let good = claimed.first(where: { $0.signer.verifies($0.bytes, of: parts.bundle) }) else {
            throw .badSignature(signer: first.signer)
        }
        do {
            let tables = try PolicyBundle.decode(Array(parts.bundle), checksumChecked: true)
            return Opened(tables: tables, signer: good.signer, signers: parts.signatures.map(\.signer))
        } catch {
            throw .corrupt(error)
        }
    }

    /// Decodes `bytes`, signed or not, without verifying any signature: for an edge with no
    /// trusted publishers configured, and for `ztpc inspect`.
    package static func decodeIgnoringSignatures(_ bytes: [UInt8]) throws(PolicyBundle.LoadError) -> DecisionTables {
        let parts: Parts
        do {
            parts = try split(bytes)
        } catch {
            // split throws only corrupt.
            guard case .corrupt(let e) = error else { throw .inconsistent("\(error)") }
            throw e
        }
        return try PolicyBundle.decode(Array(parts.bundle), checksumChecked: true)
    }
}
