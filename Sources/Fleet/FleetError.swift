/// What went wrong publishing, following or reading the fleet's state.
public enum FleetError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Another publisher moved the pointer after this one read it; this one changed nothing.
    case publishedMeanwhile(revision: Int64, hash: String?)
    /// The bundle exceeds what the layout stores (``BundleStore/maximumChunks`` chunks).
    case bundleTooLarge(size: Int, limit: Int)
    /// No bundle with this hash is stored.
    case unknownBundle(String)
    /// The pointer has no previous bundle to roll back to.
    case noPrevious
    /// Nothing was ever published under this prefix.
    case nothingPublished(prefix: String)
    /// The bytes read from etcd do not hash to the name they are stored under.
    case corruptBundle(hash: String, reason: String)
    /// `PREFIX/current` holds something that is not a pointer.
    case invalidPointer(String)
    /// An etcd key prefix must start with `/`.
    case invalidPrefix(String)
    /// An edge name must be non-empty, without `/`.
    case invalidEdgeName(String)
    /// A rollout percentage must be within 1...100.
    case invalidRollout(Int)
    /// The bundle's keys were deleted (by a garbage collection) between the read and the move.
    case bundleRemoved(String)
    /// A garbage collection found the fleet changed (a publish, a rollback) after each of its reads.
    case collectionRaced(attempts: Int)

    /// The message for the terminal or a log line.
    public var description: String {
        switch self {
        case .publishedMeanwhile(let revision, let hash):
            "someone published meanwhile (revision \(revision), hash \(hash ?? "none")); nothing was changed"
        case .bundleTooLarge(let size, let limit):
            "the bundle is \(size) bytes, more than the \(limit) bytes a fleet bundle may have"
        case .unknownBundle(let hash):
            "no bundle \(hash) is stored in etcd"
        case .noPrevious:
            "the current pointer has no previous bundle to roll back to"
        case .nothingPublished(let prefix):
            "nothing was published under \(prefix) yet"
        case .corruptBundle(let hash, let reason):
            "bundle \(hash) read from etcd is corrupt: \(reason)"
        case .invalidPointer(let reason):
            "the current pointer is not valid: \(reason)"
        case .invalidPrefix(let prefix):
            "'\(prefix)' is not an etcd prefix (expected /NAME)"
        case .invalidEdgeName(let name):
            "'\(name)' is not an edge name (non-empty, no '/')"
        case .invalidRollout(let percent):
            "a rollout percentage must be 1 to 100, not \(percent)"
        case .bundleRemoved(let hash):
            "bundle \(hash) was deleted by a garbage collection meanwhile; nothing was changed"
        case .collectionRaced(let attempts):
            "the fleet changed during each of \(attempts) garbage collection attempts; nothing more was deleted, run it again"
        }
    }
}
