import Foundation
import XCTest

/// Test hosts for interop tests: two network namespaces, `left` and `right`, joined by a
/// veth pair (10.201.0.1/24, fd00:201::1/64 and 10.201.0.2/24, fd00:201::2/64), with no other links, so nothing sent
/// inside can reach the machine's uplink. Deleted (with every process started in them)
/// by ``tearDown()``, which tests call from `defer` / `tearDown` even after failures.
final class NetTestbed {
    static let leftUnderlay = "10.201.0.1"
    static let rightUnderlay = "10.201.0.2"
    static let leftUnderlay6 = "fd00:201::1"
    static let rightUnderlay6 = "fd00:201::2"

    let suffix: String
    let left: String
    let right: String
    let directory: URL
    private var processes: [(Process, String)] = []
    private var created: [String] = []

    /// Throws XCTSkip, loudly, when the machine cannot host the test.
    static func requireEnvironment(tools: [String]) throws -> [String: String] {
        guard getuid() == 0 else {
            throw XCTSkip("INTEROP TEST SKIPPED: not running as root (network namespaces and TUN need root / CAP_NET_ADMIN)")
        }
        guard FileManager.default.fileExists(atPath: "/dev/net/tun") else {
            throw XCTSkip("INTEROP TEST SKIPPED: /dev/net/tun does not exist on this machine")
        }
        var found: [String: String] = [:]
        for tool in tools {
            guard let path = which(tool) else {
                throw XCTSkip("INTEROP TEST SKIPPED: `\(tool)` is not installed (apt-get install iproute2 wireguard-go wireguard-tools)")
            }
            found[tool] = path
        }
        return found
    }

    static func which(_ tool: String) -> String? {
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "") + ":/usr/sbin:/usr/bin:/sbin:/bin"
        for dir in path.split(separator: ":") {
            let candidate = "\(dir)/\(tool)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    init() throws {
        suffix = String(format: "%05x", UInt32.random(in: 0..<0xFFFFF))
        left = "ztpL-\(suffix)"
        right = "ztpR-\(suffix)"
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("ztp-interop-\(suffix)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        do {
            for ns in [left, right] {
                try ip(["netns", "add", ns])
                created.append(ns)
                try ip(["-n", ns, "link", "set", "lo", "up"])
            }
            // Created inside `left`, the peer end moved to `right`: never in the root namespace.
            try ip(["-n", left, "link", "add", "vzL-\(suffix)", "type", "veth", "peer", "name", "vzR-\(suffix)",
                    "netns", right])
            try ip(["-n", left, "addr", "add", "\(Self.leftUnderlay)/24", "dev", "vzL-\(suffix)"])
            try ip(["-n", right, "addr", "add", "\(Self.rightUnderlay)/24", "dev", "vzR-\(suffix)"])
            try ip(["-n", left, "addr", "add", "\(Self.leftUnderlay6)/64", "dev", "vzL-\(suffix)", "nodad"])
            try ip(["-n", right, "addr", "add", "\(Self.rightUnderlay6)/64", "dev", "vzR-\(suffix)", "nodad"])
            try ip(["-n", left, "link", "set", "vzL-\(suffix)", "up"])
            try ip(["-n", right, "link", "set", "vzR-\(suffix)", "up"])
        } catch {
            tearDown()
            throw error
        }
    }

    /// Stops every process (SIGTERM, then SIGKILL after 3 s) and deletes the namespaces.
    func tearDown() {
        for (process, _) in processes.reversed() where process.isRunning {
            process.terminate()
            _ = Self.wait(process, seconds: 3)
            if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
        }
        for ns in created.reversed() { _ = try? Self.run("/usr/sbin/ip", ["netns", "del", ns]) }
        created.removeAll()
        try? FileManager.default.removeItem(at: directory)
    }

    /// Waits for `process` to exit; true if it did.
    @discardableResult
    static func wait(_ process: Process, seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        return !process.isRunning
    }

    func ip(_ arguments: [String]) throws {
        let result = try Self.run(NetTestbed.which("ip") ?? "/usr/sbin/ip", arguments)
        guard result.status == 0 else {
            throw TestbedError("ip \(arguments.joined(separator: " ")) failed (\(result.status)): \(result.output)")
        }
    }

    /// Runs a command inside namespace `ns` to completion (bounded by `timeout` seconds).
    func exec(_ ns: String, _ command: [String], timeout: Double = 30, environment: [String: String]? = nil) throws
        -> (status: Int32, output: String) {
        try Self.run(NetTestbed.which("ip") ?? "/usr/sbin/ip", ["netns", "exec", ns] + command, timeout: timeout,
                     environment: environment)
    }

    /// Starts a long-running command inside `ns`, output to a log file; stopped by tearDown.
    func spawn(_ ns: String, _ command: [String], log name: String, environment: [String: String]? = nil) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: NetTestbed.which("ip") ?? "/usr/sbin/ip")
        process.arguments = ["netns", "exec", ns] + command
        if let environment { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        let logURL = directory.appendingPathComponent(name)
        _ = FileManager.default.createFile(atPath: logURL.path, contents: nil)
        let handle = try FileHandle(forWritingTo: logURL)
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        try process.run()
        processes.append((process, logURL.path))
        return process
    }

    func log(_ name: String) -> String {
        (try? String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8)) ?? "(no log)"
    }

    /// Writes a file readable by root only.
    func writeSecret(_ name: String, _ text: String) throws -> String {
        let url = directory.appendingPathComponent(name)
        _ = FileManager.default.createFile(atPath: url.path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600])
        return url.path
    }

    /// Polls `condition` every 50 ms for up to `seconds`.
    static func eventually(_ seconds: Double, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            usleep(50_000)
        }
        return condition()
    }

    /// One request on a WireGuard UAPI socket (the socket lives in the file system, not
    /// in a namespace); returns the whole reply. Bounded by a 5 s receive timeout.
    static func uapiRequest(_ path: String, _ request: String) throws -> String {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestbedError("socket(AF_UNIX): errno \(errno)") }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, byte) in path.utf8.prefix(raw.count - 1).enumerated() { raw[i] = byte }
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else { throw TestbedError("connect(\(path)): errno \(errno)") }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let bytes = Array(request.utf8)
        guard bytes.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) == bytes.count else {
            throw TestbedError("write(\(path)): errno \(errno)")
        }
        var reply: [UInt8] = [], chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            reply += chunk[..<n]
        }
        return String(decoding: reply, as: UTF8.self)
    }

    static func run(_ tool: String, _ arguments: [String], timeout: Double = 30, input: String? = nil,
                    environment: [String: String]? = nil) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        if let environment { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        // Output through a file, not a pipe: no deadlock however much is printed.
        let outURL = FileManager.default.temporaryDirectory.appendingPathComponent("ztp-run-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
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
        if !wait(process, seconds: timeout) {
            process.terminate()
            if !wait(process, seconds: 2) { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
            let output = (try? String(contentsOf: outURL, encoding: .utf8)) ?? ""
            return (-1, "timed out after \(timeout) s: " + output)
        }
        process.waitUntilExit()
        let output = (try? String(contentsOf: outURL, encoding: .utf8)) ?? ""
        return (process.terminationStatus, output)
    }
}

struct TestbedError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
