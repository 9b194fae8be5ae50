import Foundation

/// Runs programs to completion with a time bound, and finds them on the machine.
public enum Command {
    /// What a finished command left behind.
    public struct Result: Sendable, CustomStringConvertible {
        /// The exit status; -1 when the command was stopped at its time bound.
        public var status: Int32
        /// Standard output and standard error, interleaved.
        public var output: String
        /// Whether it exited with status 0.
        public var succeeded: Bool { status == 0 }
        public var description: String { "status \(status): \(output)" }
    }

    /// The full path of `tool` on PATH or in the usual system directories, or nil.
    public static func which(_ tool: String) -> String? {
        if tool.hasPrefix("/") { return FileManager.default.isExecutableFile(atPath: tool) ? tool : nil }
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "") + ":/usr/sbin:/usr/bin:/sbin:/bin"
        for dir in path.split(separator: ":") {
            let candidate = "\(dir)/\(tool)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// Runs `tool` (a path, or a name looked up with ``which(_:)``) with `arguments`, feeding it
    /// `input`, and waits at most `timeout` seconds: then SIGTERM, and SIGKILL 2 s later.
    /// Output goes through a file rather than a pipe, so that no amount of it can deadlock.
    public static func run(
        _ tool: String, _ arguments: [String], timeout: Double = 30, input: String? = nil,
        environment: [String: String]? = nil
    ) throws -> Result {
        guard let executable = which(tool) else { throw NetLabError("\(tool): not found on PATH") }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        let outURL = FileManager.default.temporaryDirectory.appendingPathComponent("ztp-run-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: outURL.path, contents: nil, attributes: [.posixPermissions: 0o600])
        defer { try? FileManager.default.removeItem(at: outURL) }
        let handle = try FileHandle(forWritingTo: outURL)
        defer { try? handle.close() }
        process.standardOutput = handle
        process.standardError = handle
        let stdin = Pipe()
        process.standardInput = stdin
        try process.run()
        if let input { stdin.fileHandleForWriting.write(Data(input.utf8)) }
        try? stdin.fileHandleForWriting.close()
        let finished = wait(process, seconds: timeout)
        if !finished {
            process.terminate()
            if !wait(process, seconds: 2) { kill(process.processIdentifier, SIGKILL) }
        }
        process.waitUntilExit()
        let output = (try? String(contentsOf: outURL, encoding: .utf8)) ?? ""
        return finished ? Result(status: process.terminationStatus, output: output)
            : Result(status: -1, output: "timed out after \(timeout) s: " + output)
    }

    /// Waits up to `seconds` for `process` to exit; true if it did.
    @discardableResult
    public static func wait(_ process: Process, seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        return !process.isRunning
    }
}

/// Polls `condition` every 50 ms for up to `seconds`; true as soon as it holds.
public func eventually(_ seconds: Double, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try condition() { return true }
        usleep(50_000)
    }
    return try condition()
}

/// A failure of the test machinery itself (a command that could not run, a lab that could not
/// be built), as opposed to an assertion about the system under test.
public struct NetLabError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
