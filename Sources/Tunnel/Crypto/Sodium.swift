import CSodium

/// One-time libsodium initialisation.
///
/// `sodium_init` is idempotent and thread-safe, but calling it on every operation is
/// wasteful; a lazily initialised global runs it exactly once (Swift guarantees
/// `static let` initialisation happens once, atomically).
enum Sodium {
    private static let initialised: Bool = sodium_init() >= 0

    /// Ensures libsodium is initialised; traps if the library cannot start, because
    /// no primitive in this module is safe to use without it.
    @inline(__always)
    static func ensureInitialised() {
        precondition(initialised, "libsodium failed to initialise")
    }
}
