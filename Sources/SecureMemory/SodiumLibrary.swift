import CSodium

/// One-time libsodium initialisation for the zeroing storage (Tunnel keeps its own for its
/// primitives; `sodium_init` is idempotent, so two callers are harmless).
package enum SodiumLibrary {
    private static let initialised: Bool = sodium_init() >= 0

    /// Ensures libsodium is initialised; traps if the library cannot start, because nothing
    /// that handles secrets is safe without it.
    @inline(__always)
    package static func ensureInitialised() {
        precondition(initialised, "libsodium failed to initialise")
    }
}
