import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Watches a directory with inotify and calls back, once per burst of changes, on its own thread.
public final class DirectoryWatcher: @unchecked Sendable {
    private let fd: Int32
    private let watch: Int32
    private var thread: Thread?
    private let onChange: @Sendable () -> Void
    private let pipe: (read: Int32, write: Int32)
    /// Changes closer together than this are one reload (editors write files in several steps).
    public let debounce: TimeInterval

    public struct WatchError: Error, CustomStringConvertible {
        public var description: String
    }

    public init(path: String, debounce: TimeInterval = 0.15, onChange: @escaping @Sendable () -> Void) throws {
        fd = inotify_init1(Int32(IN_CLOEXEC | IN_NONBLOCK))
        guard fd >= 0 else { throw WatchError(description: "inotify_init1: \(String(cString: strerror(errno)))") }
        let mask = UInt32(IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | IN_MODIFY | IN_ATTRIB)
        watch = inotify_add_watch(fd, path, mask)
        guard watch >= 0 else {
            let e = String(cString: strerror(errno))
            close(fd)
            throw WatchError(description: "cannot watch \(path): \(e)")
        }
        var p: [Int32] = [0, 0]
        guard Glibc.pipe(&p) == 0 else {
            close(fd)
            throw WatchError(description: "pipe: \(String(cString: strerror(errno)))")
        }
        pipe = (p[0], p[1])
        self.debounce = debounce
        self.onChange = onChange
    }

    public func start() {
        let t = Thread { [self] in run() }
        t.name = "ztp-policy-watch"
        thread = t
        t.start()
    }

    public func stop() {
        var b: UInt8 = 1
        _ = Glibc.write(pipe.write, &b, 1)
    }

    private func run() {
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        var fds = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0), pollfd(fd: pipe.read, events: Int16(POLLIN), revents: 0)]
        while true {
            guard poll(&fds, 2, -1) >= 0 || errno == EINTR else { return }
            if fds[1].revents != 0 { break }
            guard fds[0].revents != 0 else { continue }
            // Drain this burst: keep reading until the directory has been quiet for `debounce`.
            repeat {
                while read(fd, &buffer, buffer.count) > 0 {}
            } while poll(&fds, 1, Int32(debounce * 1000)) > 0 && fds[0].revents != 0
            onChange()
        }
        close(fd)
        close(pipe.read)
        close(pipe.write)
    }
}
