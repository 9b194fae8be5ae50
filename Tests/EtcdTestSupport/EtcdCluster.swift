import Foundation
import XCTest

/// A real etcd cluster of its own on loopback, for tests: each member is an `etcd` process with
/// its client and peer ports picked free, its data in a temporary directory that ``shutdown()``
/// removes. Members can be killed and restarted one at a time or all together.
///
/// Tests that need it throw XCTSkip, loudly, when `etcd` is not installed (scripts/setup installs
/// Debian's etcd-server).
public final class EtcdCluster: @unchecked Sendable {
    /// One member's name, ports and (while it runs) process.
    public struct Member: Sendable {
        public let name: String
        public let clientURL: String
        public let peerURL: String
    }

    public let members: [Member]
    /// The cluster's data, logs and configuration; removed by ``shutdown()``.
    public let directory: URL
    private let lock = NSLock()
    private var processes: [Int: Process] = [:]
    private let clusterToken: String
    /// The network namespace the members run in (their loopback is that namespace's), or nil for
    /// the test's own.
    public let namespace: String?

    /// Every member's client URL, in member order.
    public var clientURLs: [String] { members.map(\.clientURL) }

    /// Starts `size` members and waits until the cluster has a leader and answers.
    ///
    /// - Parameter namespace: a network namespace (made by the test) to run the members in, so that
    ///   a daemon inside it reaches them on its loopback; nil: the test's own namespace.
    /// - Throws: XCTSkip when `etcd` is missing; an error when the cluster does not come up in time.
    public static func start(size: Int = 3, namespace: String? = nil) throws -> EtcdCluster {
        guard let etcd = which("etcd") else {
            throw XCTSkip("ETCD TEST SKIPPED: `etcd` is not installed (scripts/setup installs Debian's etcd-server)")
        }
        let cluster = try EtcdCluster(size: size, executable: etcd, namespace: namespace)
        do {
            for index in cluster.members.indices { try cluster.launch(index) }
            try cluster.waitUntilHealthy(cluster.members.indices.map { $0 })
        } catch {
            cluster.shutdown()
            throw error
        }
        return cluster
    }

    private let executable: String

    private init(size: Int, executable: String, namespace: String?) throws {
        self.executable = executable
        self.namespace = namespace
        let suffix = String(UUID().uuidString.prefix(8)).lowercased()
        clusterToken = "ztp-test-\(suffix)"
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("ztp-etcd-\(suffix)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let ports = try Self.freePorts(2 * size)
        members = (0..<size).map { index in
            Member(
                name: "m\(index)",
                clientURL: "http://127.0.0.1:\(ports[2 * index])",
                peerURL: "http://127.0.0.1:\(ports[2 * index + 1])"
            )
        }
    }

    deinit { shutdown() }

    /// Kills member `index` at once (SIGKILL: no goodbye to its peers, as when a machine dies).
    public func kill(_ index: Int) {
        let process = lock.withLock { processes.removeValue(forKey: index) }
        guard let process, process.isRunning else { return }
        Glibc.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// Freezes member `index` (SIGSTOP): its connections stay open and say nothing, as with a
    /// member whose disk stalls or whose network drops packets without resetting connections.
    public func freeze(_ index: Int) {
        guard let process = lock.withLock({ processes[index] }), process.isRunning else { return }
        Glibc.kill(process.processIdentifier, SIGSTOP)
    }

    /// Lets a frozen member run again (SIGCONT).
    public func thaw(_ index: Int) {
        guard let process = lock.withLock({ processes[index] }), process.isRunning else { return }
        Glibc.kill(process.processIdentifier, SIGCONT)
    }

    /// Kills every member.
    public func killAll() {
        for index in members.indices { kill(index) }
    }

    /// Starts member `index` again on its data and waits until it answers.
    public func restart(_ index: Int) throws {
        try launch(index)
        try waitUntilHealthy([index])
    }

    /// Starts every stopped member again and waits until the cluster has a leader.
    public func restartAll() throws {
        let stopped = members.indices.filter { index in lock.withLock { processes[index] == nil } }
        for index in stopped { try launch(index) }
        try waitUntilHealthy(members.indices.map { $0 })
    }

    /// Kills every member and removes the cluster's directory.
    public func shutdown() {
        killAll()
        try? FileManager.default.removeItem(at: directory)
    }

    /// The member's log (etcd writes it to standard error), for a failing test's message.
    public func log(of index: Int) -> String {
        (try? String(contentsOf: directory.appendingPathComponent("\(members[index].name).log"), encoding: .utf8)) ?? ""
    }

    private func launch(_ index: Int) throws {
        let member = members[index]
        let initialCluster = members.map { "\($0.name)=\($0.peerURL)" }.joined(separator: ",")
        let process = Process()
        let arguments = [
            "--name", member.name,
            "--data-dir", directory.appendingPathComponent(member.name).path,
            "--listen-client-urls", member.clientURL, "--advertise-client-urls", member.clientURL,
            "--listen-peer-urls", member.peerURL, "--initial-advertise-peer-urls", member.peerURL,
            "--initial-cluster", initialCluster, "--initial-cluster-token", clusterToken,
            "--initial-cluster-state", "new",
            // Short election timings: a killed leader is replaced within about a second.
            "--heartbeat-interval", "50", "--election-timeout", "500",
            "--log-level", "warn", "--logger", "zap",
        ]
        try Self.prepare(process, executable, arguments, in: namespace)
        let logURL = directory.appendingPathComponent("\(member.name).log")
        if !FileManager.default.fileExists(atPath: logURL.path) {
            FileManager.default.createFile(atPath: logURL.path, contents: nil)
        }
        let log = try FileHandle(forWritingTo: logURL)
        log.seekToEndOfFile()
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
        try? log.close()
        lock.withLock { processes[index] = process }
    }

    /// Waits until each of `indices` is healthy (at most 20 s).
    private func waitUntilHealthy(_ indices: [Int]) throws {
        let deadline = Date().addingTimeInterval(20)
        var pending = Set(indices)
        while !pending.isEmpty {
            for index in pending where Self.isHealthy(members[index].clientURL, in: namespace) { pending.remove(index) }
            if pending.isEmpty { return }
            guard Date() < deadline else {
                let logs = pending.map { "\(members[$0].name): \(log(of: $0).suffix(2000))" }.joined(separator: "\n")
                throw EtcdClusterError("etcd members \(pending.sorted()) did not become healthy in 20 s:\n\(logs)")
            }
            Thread.sleep(forTimeInterval: 0.1)
        }
    }

    /// Whether `etcdctl endpoint health` succeeds on the member, which it does only once the member
    /// serves a linearizable read (it knows a leader). etcdctl comes with Debian's etcd-client.
    private static func isHealthy(_ clientURL: String, in namespace: String?) -> Bool {
        guard let etcdctl = which("etcdctl") else { return namespace == nil && isListening(clientURL) }
        let process = Process()
        guard (try? prepare(process, etcdctl, ["--endpoints", clientURL, "--command-timeout", "1s", "endpoint", "health"],
                            in: namespace)) != nil else { return false }
        process.environment = ["ETCDCTL_API": "3", "PATH": "/usr/bin:/bin"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return false }
        process.waitUntilExit()
        return process.terminationStatus == 0
    }

    /// Sets `process` to run `executable` with `arguments`, inside `namespace` when one is given
    /// (`ip netns exec` execs the command, so the process is the command itself).
    private static func prepare(_ process: Process, _ executable: String, _ arguments: [String], in namespace: String?) throws {
        guard let namespace else {
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = arguments
            return
        }
        guard let ip = which("ip") else {
            throw EtcdClusterError("ip: not found (iproute2), needed to start etcd in namespace \(namespace)")
        }
        process.executableURL = URL(fileURLWithPath: ip)
        process.arguments = ["netns", "exec", namespace, executable] + arguments
    }

    /// Whether something accepts TCP connections on the URL's port (the fallback without etcdctl).
    private static func isListening(_ clientURL: String) -> Bool {
        guard let port = URL(string: clientURL)?.port else { return false }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }

    /// `count` distinct loopback ports that were free a moment ago (bound to port 0, then closed).
    static func freePorts(_ count: Int) throws -> [Int] {
        var ports: [Int] = []
        var sockets: [Int32] = []
        defer { sockets.forEach { close($0) } }
        while ports.count < count {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { throw EtcdClusterError("socket: errno \(errno)") }
            sockets.append(fd)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = 0
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let bound = withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            guard bound == 0 else { throw EtcdClusterError("bind: errno \(errno)") }
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            _ = withUnsafeMutablePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
            }
            ports.append(Int(UInt16(bigEndian: address.sin_port)))
        }
        return ports
    }

    static func which(_ tool: String) -> String? {
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "") + ":/usr/bin:/bin:/usr/local/bin:/usr/sbin:/sbin"
        return path.split(separator: ":").map { "\($0)/\(tool)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}

/// A cluster that could not be started or reached.
public struct EtcdClusterError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
