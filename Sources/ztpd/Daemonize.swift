import Foundation
import SystemSupport

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
    static func start(arguments: [String], interface: String, logFile: String, pidFile: String) throws -> Int32 {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let child: ChildProcess
        do {
            child = try ChildProcess.spawnDetached(executable: executable, arguments: arguments, logFile: logFile)
        } catch {
            throw Failure(description: "cannot start the background ztpd: \(error)")
        }

        let socket = "\(UAPIServer.directory)/\(interface).sock"
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline {
            if child.hasExited() {
                let log = (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? ""
                throw Failure(description: "ztpd exited while starting; its log (\(logFile)) ends:\n" + log.split(separator: "\n").suffix(10).joined(separator: "\n"))
            }
            if FileManager.default.fileExists(atPath: socket) {
                try? FileManager.default.createDirectory(atPath: (pidFile as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                _ = FileManager.default.createFile(atPath: pidFile, contents: Data("\(child.id)\n".utf8), attributes: [.posixPermissions: 0o644])
                return child.id
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        child.terminate()
        throw Failure(description: "ztpd did not bring \(interface) up within 15 s (see \(logFile))")
    }
}
