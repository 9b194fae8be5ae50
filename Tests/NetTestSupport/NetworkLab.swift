import Foundation

/// A set of network namespaces joined by veth pairs, for tests that need real hosts.
///
/// Every host of the lab lives in a namespace the lab creates (`ztp-ROLE-SUFFIX`); the only
/// links are the veth pairs made with ``link(_:_:_:_:)``, created inside one lab namespace with
/// their peer end moved straight into another, so nothing in the lab has a route to the
/// machine's uplink. ``tearDown()`` stops every process started in the lab (and anything else
/// left running in its namespaces), deletes the namespaces and the lab's directory; call it from
/// `tearDown`/`defer` so that it also runs after a failure. A lab whose test process died
/// without tearing down (a crash, SIGKILL) is reaped by the next lab created on the machine.
public final class NetworkLab: @unchecked Sendable {
    /// Random, so that labs of concurrent test runs never collide.
    public let suffix: String
    /// Logs, keys, configuration files: removed by ``tearDown()``.
    public let directory: URL
    private let roles: [String: String]
    private let lock = NSLock()
    private var processes: [Process] = []
    private var created: [String] = []
    private static let directoryPrefix = "ztp-netlab-"
    private static let ownerFile = "owner"

    /// Creates one namespace per role, each with its loopback up. Roles are short words
    /// (at most 12 characters: they name the veth ends `to-ROLE`).
    public init(roles names: [String]) throws {
        precondition(Set(names).count == names.count, "roles must be distinct")
        for role in names {
            precondition(!role.isEmpty && role.utf8.count <= 12 && !role.contains("/"), "role '\(role)' must have 1 to 12 characters")
        }
        Self.reapAbandonedLabs()
        let suffix = String(format: "%05x", UInt32.random(in: 0..<0xFFFFF))
        self.suffix = suffix
        roles = Dictionary(uniqueKeysWithValues: names.map { ($0, "ztp-\($0)-\(suffix)") })
        directory = FileManager.default.temporaryDirectory.appendingPathComponent(Self.directoryPrefix + suffix)
        try FileManager.default.createDirectory(
            at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        do {
            for role in names {
                let ns = roles[role]!
                // Recorded before it exists: a crash between the two still leaves it to reap.
                created.append(ns)
                try recordOwnership()
                try ip(["netns", "add", ns])
                try ip(["-n", ns, "link", "set", "lo", "up"])
            }
        } catch {
            tearDown()
            throw error
        }
    }

    /// The namespace of `role`.
    public func namespace(_ role: String) -> String {
        guard let ns = roles[role] else { preconditionFailure("no role '\(role)' in this lab") }
        return ns
    }

    // MARK: Links and routes

    /// Joins `a` and `b` with a veth pair named `to-B` in `a` and `to-A` in `b` (or `names`),
    /// gives each end its addresses (CIDRs; IPv6 ones without duplicate address detection, so
    /// they are usable at once) and brings both up. The pair is created inside `a` with its peer
    /// end moved straight into `b`: it never exists in the machine's own namespace.
    public func link(_ a: String, _ aAddresses: [String], _ b: String, _ bAddresses: [String],
                     names: (a: String, b: String)? = nil) throws {
        let nsA = namespace(a), nsB = namespace(b)
        let devA = names?.a ?? "to-\(b)", devB = names?.b ?? "to-\(a)"
        try ip(["-n", nsA, "link", "add", devA, "type", "veth", "peer", "name", devB, "netns", nsB])
        for (ns, dev, addresses) in [(nsA, devA, aAddresses), (nsB, devB, bAddresses)] {
            for address in addresses {
                try ip(["-n", ns, "addr", "add", address, "dev", dev] + (address.contains(":") ? ["nodad"] : []))
            }
        }
        try ip(["-n", nsA, "link", "set", devA, "up"])
        try ip(["-n", nsB, "link", "set", devB, "up"])
    }

    /// ``link(_:_:_:_:names:)`` with one address at each end.
    public func link(_ a: String, _ aAddress: String, _ b: String, _ bAddress: String) throws {
        try link(a, [aAddress], b, [bAddress])
    }

    /// `ip -n NS route add ARGUMENTS...` in the namespace of `role`.
    public func route(_ role: String, _ arguments: [String]) throws {
        try ip(["-n", namespace(role), "route", "add"] + arguments)
    }

    /// Sets a sysctl inside the namespace of `role` (for example net.ipv4.ip_forward=1).
    public func sysctl(_ role: String, _ key: String, _ value: String) throws {
        let r = try exec(role, ["sysctl", "-q", "-w", "\(key)=\(value)"])
        guard r.succeeded else { throw NetLabError("sysctl \(key)=\(value) in \(namespace(role)) failed: \(r)") }
    }

    /// Runs `ip ARGUMENTS...`, throwing with its output when it fails.
    public func ip(_ arguments: [String]) throws {
        let r = try Command.run("ip", arguments)
        guard r.succeeded else { throw NetLabError("ip \(arguments.joined(separator: " ")) failed (\(r.status)): \(r.output)") }
    }

    // MARK: Processes

    /// The role whose namespace is `namespace`, for helpers that are handed namespace names.
    public func role(ofNamespace namespace: String) -> String? {
        roles.first { $0.value == namespace }?.key
    }

    /// Runs `body` on this thread inside the namespace of `role` (setns), then returns the thread
    /// to its own namespace, even when `body` throws. For in-process work that must happen in a
    /// namespace, such as attaching an XDP program to a veth end there.
    public func inside<T>(_ role: String, _ body: () throws -> T) throws -> T {
        let original = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)
        let target = open("/var/run/netns/\(namespace(role))", O_RDONLY | O_CLOEXEC)
        defer {
            if original >= 0 { close(original) }
            if target >= 0 { close(target) }
        }
        guard original >= 0, target >= 0, Self.setns(target, Self.newNetworkNamespace) == 0 else {
            throw NetLabError("cannot enter namespace \(namespace(role)): \(String(cString: strerror(errno)))")
        }
        defer { precondition(Self.setns(original, Self.newNetworkNamespace) == 0, "cannot return to the test's namespace") }
        return try body()
    }

    /// `CLONE_NEWNET` from <sched.h>, which Glibc's Swift module does not export.
    private static let newNetworkNamespace: Int32 = 0x4000_0000

    /// setns(2), looked up at run time: Glibc's Swift module does not export it.
    nonisolated(unsafe) private static let setns: @convention(c) (Int32, Int32) -> Int32 = {
        guard let symbol = dlsym(nil, "setns") else {  // nil is RTLD_DEFAULT on glibc
            preconditionFailure("libc has no setns")
        }
        return unsafeBitCast(symbol, to: (@convention(c) (Int32, Int32) -> Int32).self)
    }()

    /// Runs a command inside the namespace of `role` to completion, bounded by `timeout`.
    public func exec(_ role: String, _ command: [String], timeout: Double = 30, input: String? = nil,
                     environment: [String: String]? = nil) throws -> Command.Result {
        try Command.run("ip", ["netns", "exec", namespace(role)] + command, timeout: timeout, input: input,
                        environment: environment)
    }

    /// Starts a long-running command inside the namespace of `role`, its output in the log file
    /// `log` (read it with ``log(_:)``), or in `output` when given (a pipe whose reader the test
    /// controls); ``tearDown()`` stops it.
    @discardableResult
    public func spawn(_ role: String, _ command: [String], log: String, output: Pipe? = nil,
                      environment: [String: String]? = nil) throws -> Process
    {
        let process = Process()
        guard let ip = Command.which("ip") else { throw NetLabError("ip: not found") }
        process.executableURL = URL(fileURLWithPath: ip)
        // `ip netns exec` execs the command: the process is the command itself.
        process.arguments = ["netns", "exec", namespace(role)] + command
        if let environment { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        if let output {
            process.standardOutput = output
            process.standardError = output
        } else {
            let url = path(log)
            _ = FileManager.default.createFile(atPath: url, contents: nil, attributes: [.posixPermissions: 0o600])
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: url))
            handle.seekToEndOfFile()
            process.standardOutput = handle
            process.standardError = handle
        }
        process.standardInput = FileHandle.nullDevice
        try process.run()
        lock.lock()
        processes.append(process)
        lock.unlock()
        return process
    }

    /// Stops a process started with ``spawn(_:_:log:environment:)``: SIGTERM, then SIGKILL
    /// after `grace` seconds. Returns whether it stopped on SIGTERM.
    @discardableResult
    public func stop(_ process: Process, grace: Double = 3) -> Bool {
        guard process.isRunning else { return true }
        process.terminate()
        if Command.wait(process, seconds: grace) { return true }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        return false
    }

    // MARK: Files

    /// The path of file `name` in the lab's directory.
    public func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    /// The contents of a log or any file of the lab's directory ("(no log)" if absent).
    public func log(_ name: String) -> String {
        (try? String(contentsOfFile: path(name), encoding: .utf8)) ?? "(no log)"
    }

    /// Writes `text` to `name` in the lab's directory (mode 0600: fit for keys) and returns its path.
    @discardableResult
    public func write(_ name: String, _ text: String, mode: Int = 0o600) throws -> String {
        let p = path(name)
        let parent = (p as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        guard FileManager.default.createFile(atPath: p, contents: Data(text.utf8), attributes: [.posixPermissions: mode]) else {
            throw NetLabError("cannot write \(p)")
        }
        return p
    }

    // MARK: Teardown

    /// Stops every process the lab started (SIGTERM, SIGKILL after 3 s), kills whatever else
    /// still runs in the lab's namespaces, deletes them and the lab's directory. Idempotent.
    public func tearDown() {
        lock.lock()
        let running = processes.reversed()
        processes.removeAll()
        let namespaces = created
        created.removeAll()
        lock.unlock()
        for process in running { stop(process) }
        Self.destroy(namespaces: namespaces)
        try? FileManager.default.removeItem(at: directory)
    }

    private func recordOwnership() throws {
        let text = "\(getpid())\n" + created.joined(separator: "\n") + "\n"
        try Data(text.utf8).write(to: directory.appendingPathComponent(Self.ownerFile), options: .atomic)
    }

    private static func destroy(namespaces: [String]) {
        for ns in namespaces.reversed() {
            // Only processes started by a lab run in its namespaces.
            if let pids = try? Command.run("ip", ["netns", "pids", ns], timeout: 10), pids.succeeded {
                for pid in pids.output.split(whereSeparator: \.isWhitespace).compactMap({ Int32($0) }) { kill(pid, SIGKILL) }
            }
            _ = try? Command.run("ip", ["netns", "del", ns], timeout: 10)
        }
    }

    /// Deletes the namespaces and directories of labs whose test process is gone.
    private static func reapAbandonedLabs() {
        let tmp = FileManager.default.temporaryDirectory
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: tmp.path) else { return }
        for entry in entries where entry.hasPrefix(directoryPrefix) {
            let dir = tmp.appendingPathComponent(entry)
            guard let text = try? String(contentsOf: dir.appendingPathComponent(ownerFile), encoding: .utf8) else { continue }
            let lines = text.split(separator: "\n").map(String.init)
            guard let pid = lines.first.flatMap({ Int32($0) }) else { continue }
            if kill(pid, 0) == 0 || errno == EPERM { continue }
            destroy(namespaces: lines.dropFirst().filter { $0.hasPrefix("ztp-") })
            try? FileManager.default.removeItem(at: dir)
        }
    }
}
