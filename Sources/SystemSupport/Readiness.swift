#if canImport(Glibc)
import Glibc
#endif

/// Waits with poll() for a descriptor to become ready, or a ``Wakeup`` to be signalled.
enum Readiness {
    enum Outcome { case ready, woken }

    /// Waits until `descriptor` has `events` (or an error or hang-up, which the next call then
    /// reports), until `wakeup` is signalled, or throws ``IOError/timedOut`` at the deadline.
    /// An interrupted poll() starts again with what is left of the time.
    static func wait(
        for descriptor: Int32, events: Int16, until deadline: Deadline, wakeup: Wakeup? = nil
    ) throws(IOError) -> Outcome {
        var fds = [pollfd(fd: descriptor, events: events, revents: 0)]
        if let wakeup { fds.append(pollfd(fd: wakeup.descriptor, events: Int16(POLLIN), revents: 0)) }
        let count = nfds_t(fds.count)
        switch retryingOnInterrupt({ poll(&fds, count, deadline.pollTimeout) }) {
        case .failure(let e): throw .pollFailed(e)
        case .success(0): throw .timedOut
        case .success:
            if fds.count > 1 && fds[1].revents != 0 { return .woken }
            return .ready
        }
    }
}
