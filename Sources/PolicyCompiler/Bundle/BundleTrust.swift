/// Whose bundles a daemon puts in force: what `trusted_publishers:` in its config decides.
package enum BundleTrust: Sendable, Equatable {
    /// No trusted publishers configured: any well-formed bundle is accepted and signatures are
    /// not checked (the bundle's checksum still is).
    case anyBundle
    /// Only bundles signed by one of these keys.
    case publishers([SigningPublicKey])

    /// A bundle this trust accepts, decoded; the verified signer, when signatures were checked.
    package struct Accepted: Sendable {
        package var tables: DecisionTables
        package var signer: SigningPublicKey?
    }

    /// Opens `bytes` under this trust (see ``SignedBundle/open(_:trusted:)``).
    package func open(_ bytes: [UInt8]) throws(SignedBundle.OpenError) -> Accepted {
        switch self {
        case .anyBundle:
            do {
                return Accepted(tables: try SignedBundle.decodeIgnoringSignatures(bytes), signer: nil)
            } catch {
                throw .corrupt(error)
            }
        case .publishers(let keys):
            let opened = try SignedBundle.open(bytes, trusted: keys)
            return Accepted(tables: opened.tables, signer: opened.signer)
        }
    }
}
