import Foundation

/// Rule lists of decisions that no precomputed outcome holds: those of the tables' own
/// `combine` (what the outcomes are built from) and of cells with more time conditions than the
/// ``DecisionIndex`` precomputes. Each distinct list is stored once, so that such a decision, too,
/// is a plain value that says where its rules lie instead of holding them; the lists a policy
/// can produce this way are bounded by its cells and their time conditions.
///
/// Shared by every copy of the tables; appends and reads take a lock. Off the precomputed path,
/// which never touches it.
final class SidePool: @unchecked Sendable {
    private let lock = NSLock()
    private var pool: [Int32] = []
    private var known: [[Int32]: UInt32] = [:]

    /// The offset of `list` (stored if new).
    func intern(_ list: UnsafeBufferPointer<Int32>) -> UInt32 {
        let key = Array(list)
        lock.lock()
        defer { lock.unlock() }
        if let offset = known[key] { return offset }
        let offset = UInt32(pool.count)
        pool += key
        known[key] = offset
        return offset
    }

    /// Calls `body` with the pool, under the lock.
    func withPool<R>(_ body: (UnsafeBufferPointer<Int32>) -> R) -> R {
        lock.lock()
        defer { lock.unlock() }
        return pool.withUnsafeBufferPointer(body)
    }
}
