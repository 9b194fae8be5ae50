#if canImport(Glibc)
import Glibc
#endif

/// inotify on one directory: files in it created, written, moved, removed or changed.
public final class DirectoryEvents: @unchecked Sendable {
    /// What a ``wait(timeout:)`` saw.
    public enum Outcome: Sendable, Equatable {
        /// One or more changes (all read, so the next wait waits for new ones).
        case changed
        /// Nothing within the timeout.
        case quiet
        /// ``interrupt()`` was called.
        case interrupted
    }

    private let descriptor: Int32
    private let wakeup: Wakeup
    private var buffer = [UInt8](repeating: 0, count: 16 * 1024)

    /// Starts watching `path`.
    /// - Throws: ``IOError/watchFailed(path:_:)`` (no such directory, inotify limits).
    public init(watching path: String) throws(IOError) {
        let fd = inotify_init1(Int32(IN_CLOEXEC | IN_NONBLOCK))
        guard fd >= 0 else { throw .watchFailed(path: path, .current) }
        let mask = UInt32(IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | IN_MODIFY | IN_ATTRIB)
        guard inotify_add_watch(fd, path, mask) >= 0 else {
            let e = Errno.current
            close(fd)
            throw .watchFailed(path: path, e)
        }
        do {
            wakeup = try Wakeup()
        } catch {
            close(fd)
            throw error
        }
        descriptor = fd
    }

    deinit { close(descriptor) }

    /// Waits up to `timeout` (nil: without limit) for changes; one thread at a time.
    /// - Throws: ``IOError/pollFailed(_:)``, ``IOError/readFailed(_:)``.
    public func wait(timeout: Duration?) throws(IOError) -> Outcome {
        let deadline = timeout.map { Deadline.after($0) } ?? .never
        do {
            guard case .ready = try Readiness.wait(for: descriptor, events: Int16(POLLIN), until: deadline, wakeup: wakeup)
            else { return .interrupted }
        } catch IOError.timedOut {
            return .quiet
        }
        while true {
            let n = buffer.withUnsafeMutableBytes { raw in retryingOnInterrupt { read(descriptor, raw.baseAddress, raw.count) } }
            switch n {
            case .success(let count) where count > 0: continue
            case .success, .failure(.wouldBlock): return .changed
            case .failure(let e): throw .readFailed(e)
            }
        }
    }

    /// Makes the current and every later ``wait(timeout:)`` return ``Outcome/interrupted``.
    public func interrupt() { wakeup.signal() }
}
