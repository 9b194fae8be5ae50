import Foundation

/// Runs async work (the etcd commands) to completion from a synchronous command's `run()`.
///
/// ztpc's root command is synchronous, so that its own `main` can map errors to exit statuses;
/// the few commands that talk to etcd block the main thread here while the work runs on the
/// global executor.
func runAsync<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
    let done = DispatchSemaphore(value: 0)
    let box = ResultBox<T>()
    Task {
        do { box.result = .success(try await body()) } catch { box.result = .failure(error) }
        done.signal()
    }
    done.wait()
    return try box.result!.get()
}

/// The result handed from the task to the waiting thread; the semaphore orders the two accesses.
private final class ResultBox<T>: @unchecked Sendable {
    var result: Result<T, Error>?
}
