// The second core for the data path's crypto: a thread that seals or opens half of a batch
// while the I/O thread that owns the batch does the other half, so that one flow's packets are
// encrypted on both cores and still leave (or reach the TUN) in the order they came.

import Foundation

/// A helper thread for one I/O thread: ``forEach(_:_:)`` runs a body over a batch's indices,
/// the upper half on the helper and the lower half on the caller, and returns once both are
/// done. The batch is then handled in order as before, so per-peer order is kept without any
/// reordering queue (as wireguard-go's per-peer queues keep it, with one batch in flight).
///
/// Costs two semaphore handoffs per batch that is split, nothing per packet: the body is the
/// caller's closure, run in place, and every output goes to the caller's preallocated arrays.
/// Batches smaller than ``minimumToSplit`` are not worth the handoff and run on the caller alone.
final class CryptoWorker: @unchecked Sendable {
    /// Fewest items worth waking the helper for: below it the handoff costs more than it saves.
    static let minimumToSplit = 8

    private let startWork = DispatchSemaphore(value: 0)
    private let workDone = DispatchSemaphore(value: 0)
    private let exited = DispatchSemaphore(value: 0)
    /// The current batch's body and the helper's share; written before `startWork` is
    /// signalled and read after it is waited for, so the semaphores order every access.
    private var body: ((Int) -> Void)?
    private var share: Range<Int> = 0..<0
    private var stopping = false

    /// Starts the helper thread, named `name` for `top -H` and profiles.
    init(name: String) {
        let thread = Thread { [unowned self] in run() }
        thread.name = name
        thread.start()
    }

    /// Runs `body(i)` for every `i` in `0..<count`, on both threads when `count` is large
    /// enough; `body` must write only to outputs of its own index. Returns when all are done.
    func forEach(_ count: Int, _ body: (Int) -> Void) {
        guard count >= Self.minimumToSplit, !stopping else {
            for index in 0..<count { body(index) }
            return
        }
        let half = count / 2
        withoutActuallyEscaping(body) { body in
            self.body = body
            share = half..<count
            startWork.signal()
            for index in 0..<half { body(index) }
            workDone.wait()
            // The helper holds no reference to it any more: released before it signalled.
            self.body = nil
        }
    }

    /// Ends the helper thread and waits for it. Called once, by the owner, after its last
    /// ``forEach(_:_:)``.
    func stop() {
        stopping = true
        startWork.signal()
        exited.wait()
    }

    private func run() {
        while true {
            startWork.wait()
            if stopping { break }
            do {
                let body = self.body!
                for index in share { body(index) }
            }
            workDone.signal()
        }
        exited.signal()
    }
}
