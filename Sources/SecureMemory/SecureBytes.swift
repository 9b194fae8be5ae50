import CSodium

/// Fixed-size heap storage for secret bytes, wiped with `sodium_memzero` when the last
/// reference disappears.
///
/// A class is used (rather than an array inside a struct) because only a class has a
/// `deinit` that runs exactly once when the value is dropped, and because its buffer
/// never moves, so no stray copy of the secret is left behind by a reallocation.
/// The bytes are written only by the initialiser, before the object can be shared,
/// which is why `@unchecked Sendable` is sound here.
package final class SecureBytes: @unchecked Sendable {
    /// The number of secret bytes.
    package let count: Int
    private let pointer: UnsafeMutableRawPointer

    /// Allocates `count` bytes and lets `initialise` fill them; they start zeroed.
    package convenience init(count: Int, initialise: (UnsafeMutableRawBufferPointer) throws -> Void) rethrows {
        SodiumLibrary.ensureInitialised()
        let pointer = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1), alignment: 16)
        pointer.initializeMemory(as: UInt8.self, repeating: 0, count: max(count, 1))
        do {
            try initialise(UnsafeMutableRawBufferPointer(start: pointer, count: count))
        } catch {
            // The object does not exist yet, so its deinit cannot clean up: wipe here.
            sodium_memzero(pointer, count)
            pointer.deallocate()
            throw error
        }
        self.init(adopting: pointer, count: count)
    }

    /// Takes ownership of an initialised allocation.
    private init(adopting pointer: UnsafeMutableRawPointer, count: Int) {
        self.pointer = pointer
        self.count = count
    }

    /// Copies `bytes` into new secure storage.
    package convenience init(copying bytes: UnsafeRawBufferPointer) {
        self.init(count: bytes.count) { $0.copyMemory(from: bytes) }
    }

    deinit {
        sodium_memzero(pointer, count)
        pointer.deallocate()
    }

    /// Read-only access to the secret; do not let the pointer escape.
    package func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: pointer, count: count))
    }

    /// Constant-time equality, so comparing secrets leaks no prefix length through timing.
    package func constantTimeEquals(_ other: SecureBytes) -> Bool {
        guard count == other.count else { return false }
        return sodium_memcmp(pointer, other.pointer, count) == 0
    }
}

/// Overwrites an array's contents with zeros in a way the optimiser may not elide.
/// Used for short-lived secret scratch arrays; best effort, since an array may have
/// been copied before.
@inline(never)
package func wipe(_ bytes: inout [UInt8]) {
    bytes.withUnsafeMutableBytes { sodium_memzero($0.baseAddress, $0.count) }
}
