import PolicyCompiler

extension FuzzTargets {
    /// The publisher the signed-bundle path trusts: a fixed key (from the deterministic random
    /// stream), so that the signed seeds in `Fuzz/corpus/bundle` verify in every process.
    static let trustedPublisher: SigningKey = DeterministicRandom.withInstalled(from: 1 << 20) { SigningKey() }

    /// The `bundle` target's signed path (mode bit 1). `repaired`: the bytes are header and body,
    /// repaired as in ``bundle(_:)`` and then signed by ``trustedPublisher``; otherwise they are a
    /// whole file, signature records and all.
    ///
    /// Invariants: `open` accepts only what a trusted key signed and decodes to exactly the tables
    /// that decoding without the signatures gives; nothing is accepted with no trusted key; a
    /// split accounts for every byte (the bundle plus whole records); signing what splits adds one
    /// record (or none, for a key that already signed) and still splits.
    static func signedBundle(_ body: [UInt8], repaired: Bool) {
        let key = trustedPublisher
        var candidate = repaired ? withRepairedChecksum(body) : body
        if repaired, let signed = try? SignedBundle.sign(candidate, with: key) { candidate = signed }

        precondition((try? SignedBundle.open(candidate, trusted: [])) == nil, "a bundle was accepted with no trusted key")
        guard let parts = try? SignedBundle.split(candidate) else {
            precondition((try? SignedBundle.open(candidate, trusted: [key.publicKey])) == nil, "open accepted what split refused")
            return
        }
        precondition(
            parts.bundle.count + parts.signatures.count * SignedBundle.recordSize == candidate.count, "split lost bytes")
        if let resigned = try? SignedBundle.sign(candidate, with: key) {
            let added = parts.signatures.contains { $0.signer == key.publicKey } ? 0 : 1
            precondition(resigned.count == candidate.count + added * SignedBundle.recordSize, "signing added the wrong bytes")
            precondition((try? SignedBundle.split(resigned))?.bundle == parts.bundle, "signing changed the bundle")
        } else {
            preconditionFailure("a bundle that splits could not be signed")
        }
        do {
            let opened = try SignedBundle.open(candidate, trusted: [key.publicKey])
            precondition(opened.signer == key.publicKey, "open named a signer it was not given")
            precondition(
                parts.signatures.contains { $0.signer == key.publicKey && key.publicKey.verifies($0.bytes, of: parts.bundle) },
                "open accepted a bundle without a verifying trusted signature")
            precondition((try? SignedBundle.decodeIgnoringSignatures(candidate)) == opened.tables, "signed and unsigned decodes differ")
            query(opened.tables)
        } catch {
            return
        }
    }
}
