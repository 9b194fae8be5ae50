import Foundation
import SystemSupport

/// Watches a directory with inotify and calls back, once per burst of changes, on its own thread.
package final class DirectoryWatcher: Sendable {
    private let events: DirectoryEvents
    private let onChange: @Sendable () -> Void
    /// Changes closer together than this are one reload (editors write files in several steps).
    package let debounce: TimeInterval

    /// - Throws: ``IOError/watchFailed(path:_:)`` (no such directory, inotify limits reached).
    package init(path: String, debounce: TimeInterval = 0.15, onChange: @escaping @Sendable () -> Void) throws(IOError) {
        events = try DirectoryEvents(watching: path)
        self.debounce = debounce
        self.onChange = onChange
    }

    /// Starts watching on a thread of its own.
    package func start() {
        let t = Thread { [self] in run() }
        t.name = "ztp-policy-watch"
        t.start()
    }

    /// Ends the watching thread (at once, also in the middle of a burst).
    package func stop() {
        events.interrupt()
    }

    private func run() {
        let quiet = Duration.milliseconds(Int64(debounce * 1000))
        do {
            while try events.wait(timeout: nil) == .changed {
                // Drain this burst: wait until the directory has been quiet for `debounce`.
                var outcome = DirectoryEvents.Outcome.changed
                while outcome == .changed { outcome = try events.wait(timeout: quiet) }
                guard outcome == .quiet else { return }
                onChange()
            }
        } catch {
            // poll/read on inotify fail only for a broken descriptor: nothing left to watch.
        }
    }
}
