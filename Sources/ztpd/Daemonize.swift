import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Runs ztpd in the background: the foreground process starts a copy of itself in a new
/// session (no controlling terminal, output to a log file), waits until that copy's UAPI socket
/// exists, writes its pid file and exits. A re-exec rather than fork(), because fork() in a
/// process that may already have threads (the Swift runtime, Dispatch) is not safe.
enum Daemonize {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Starts the background copy with `arguments` (without `--daemon`) and returns its pid once
    /// the interface is up, or throws with the tail of its log.
    static func start(arguments: [String], interface: String, logFile: String, pidFile: String) throws -> pid_t {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let logFD = open(logFile, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640)
        guard logFD >= 0 else { throw Failure(description: "cannot open log file \(logFile): \(String(cString: strerror(errno)))") }
        defer { close(logFD) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, logFD, 1)
        posix_spawn_file_actions_adddup2(&actions, logFD, 2)
        // Nothing else of ours goes along: a descriptor the caller left open (a supervisor's
        // pipe or socket that tells it when we exit) must not be held by the daemon.
        let open = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd"))?.compactMap { Int32($0) } ?? []
        for fd in open where fd > 2 {
            posix_spawn_file_actions_addclose(&actions, fd)
        }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // POSIX_SPAWN_SETSID (glibc 2.26+): the child leaves our session and terminal. The
        // constant sits behind _GNU_SOURCE, which the Glibc module does not define.
        posix_spawnattr_setflags(&attributes, 0x80)
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
        guard rc == 0 else { throw Failure(description: "cannot start the background ztpd: \(String(cString: strerror(rc)))") }

        let socket = "/var/run/wireguard/\(interface).sock"
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline {
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid {
                let log = (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? ""
                throw Failure(description: "ztpd exited while starting; its log (\(logFile)) ends:\n" + log.split(separator: "\n").suffix(10).joined(separator: "\n"))
            }
            if FileManager.default.fileExists(atPath: socket) {
                try? FileManager.default.createDirectory(atPath: (pidFile as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                FileManager.default.createFile(atPath: pidFile, contents: Data("\(pid)\n".utf8), attributes: [.posixPermissions: 0o644])
                return pid
            }
            usleep(50_000)
        }
        kill(pid, SIGTERM)
        throw Failure(description: "ztpd did not bring \(interface) up within 15 s (see \(logFile))")
    }
}
