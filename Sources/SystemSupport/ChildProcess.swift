#if canImport(Glibc)
import Glibc
#endif

/// A process we started.
public struct ChildProcess: Sendable {
    /// Its process id.
    public let id: Int32

    /// Starts `executable` with `arguments` in a session of its own (no controlling terminal),
    /// standard input from /dev/null, standard output and error appended to `logFile` (created
    /// 0640), and none of our other descriptors.
    /// - Throws: ``IOError/openFailed(path:_:)`` for the log file, ``IOError/spawnFailed(executable:_:)``.
    public static func spawnDetached(executable: String, arguments: [String], logFile: String) throws(IOError) -> ChildProcess {
        let log = switch retryingOnInterrupt({ open(logFile, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640) }) {
        case .success(let fd): fd
        case .failure(let e): throw IOError.openFailed(path: logFile, e)
        }
        defer { close(log) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, log, 1)
        posix_spawn_file_actions_adddup2(&actions, log, 2)
        // Nothing else of ours goes along: a descriptor the caller left open (a supervisor's
        // pipe that tells it when we exit) must not be held by the child.
        for fd in openDescriptors() where fd > 2 {
            posix_spawn_file_actions_addclose(&actions, fd)
        }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // POSIX_SPAWN_SETSID (glibc 2.26+), behind _GNU_SOURCE, which the Glibc module does not define.
        posix_spawnattr_setflags(&attributes, 0x80)
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
        guard rc == 0 else { throw .spawnFailed(executable: executable, Errno(rawValue: rc)) }
        return ChildProcess(id: pid)
    }

    /// Whether it has exited (and is reaped by this call); does not wait.
    public func hasExited() -> Bool {
        var status: Int32 = 0
        return waitpid(id, &status, WNOHANG) == id
    }

    /// Asks it to stop (SIGTERM).
    public func terminate() {
        kill(id, SIGTERM)
    }

    /// The descriptors open in this process, from /proc/self/fd.
    private static func openDescriptors() -> [Int32] {
        guard let dir = opendir("/proc/self/fd") else { return [] }
        defer { closedir(dir) }
        let own = dirfd(dir)
        var fds: [Int32] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if let fd = Int32(name), fd != own { fds.append(fd) }
        }
        return fds
    }
}
