/// What ``EdgeService/installBundle(_:origin:)`` did with a bundle from a remote source. Every
/// case names the bundle by its content hash (the SHA-256 of the bytes given, in hex), so that a
/// follower can report which bundle it is about.
package enum BundleInstallOutcome: Sendable, Equatable {
    /// Verified and put in force as this generation; sessions were kept.
    case installed(generation: UInt64, hash: String)
    /// The bundle in force already has this hash: nothing changed.
    case unchanged(generation: UInt64, hash: String)
    /// Refused (corrupt, unsigned, untrusted, bad signature): the policy in force stays.
    /// `reason` is the one sentence that was logged and that `ztpc status` shows.
    case refused(hash: String, reason: String)
    /// A newer request (another bundle, or a local reload) arrived before this one was looked
    /// at and was loaded instead.
    case superseded(hash: String)

    /// The content hash of the bundle this is about.
    package var hash: String {
        switch self {
        case .installed(_, let h), .unchanged(_, let h), .refused(let h, _), .superseded(let h): h
        }
    }

    /// Whether this bundle is the one in force afterwards.
    package var isInForce: Bool {
        switch self {
        case .installed, .unchanged: true
        case .refused, .superseded: false
        }
    }
}
