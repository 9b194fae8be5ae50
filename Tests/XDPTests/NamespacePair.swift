import Foundation
import XCTest

/// Two network namespaces made for one test and deleted after it: `client` and `edge`, joined
/// by a veth pair and nothing else, so no packet sent inside can reach the machine's uplink
/// and no address exists outside them.
///
///     client  vxC-<id>  10.203.0.1/24  10.203.0.77/24  fd00:203::1/64  fd00:203::bad/64
///     edge    vxE-<id>  10.203.0.2/24                  fd00:203::2/64
final class NamespacePair {
    static let client4 = "10.203.0.1"
    static let blocked4 = "10.203.0.77"
    static let edge4 = "10.203.0.2"
    static let client6 = "fd00:203::1"
    static let blocked6 = "fd00:203::bad"
    static let edge6 = "fd00:203::2"

    let client: String
    let edge: String
    let clientLink: String
    let edgeLink: String
    let ip: String
    let python: String
    private var created: [String] = []

    /// Throws XCTSkip, loudly, when the machine cannot host the test.
    init() throws {
        guard getuid() == 0 else {
            throw XCTSkip("XDP NAMESPACE TEST SKIPPED: not running as root (namespaces and XDP need CAP_NET_ADMIN, CAP_BPF)")
        }
        guard let ip = XDPTestSupport.which("ip") else {
            throw XCTSkip("XDP NAMESPACE TEST SKIPPED: `ip` is not installed (apt-get install iproute2)")
        }
        guard let python = ["/usr/bin/python3"].first(where: FileManager.default.isExecutableFile(atPath:))
            ?? XDPTestSupport.which("python3") else {
            throw XCTSkip("XDP NAMESPACE TEST SKIPPED: python3 is not installed (apt-get install python3)")
        }
        guard XDPTestSupport.which("ping") != nil else {
            throw XCTSkip("XDP NAMESPACE TEST SKIPPED: ping is not installed (apt-get install iputils-ping)")
        }
        self.ip = ip
        self.python = python
        let id = String(format: "%05x", UInt32.random(in: 0..<0xFFFFF))
        client = "ztpxC-\(id)"
        edge = "ztpxE-\(id)"
        clientLink = "vxC-\(id)"
        edgeLink = "vxE-\(id)"
        do {
            for ns in [client, edge] {
                try run(ip, ["netns", "add", ns])
                created.append(ns)
                try run(ip, ["-n", ns, "link", "set", "lo", "up"])
            }
            // Made inside `client`, the peer moved straight to `edge`: never in the root namespace.
            try run(ip, ["-n", client, "link", "add", clientLink, "type", "veth", "peer", "name", edgeLink, "netns", edge])
            for address in ["\(Self.client4)/24", "\(Self.blocked4)/24"] {
                try run(ip, ["-n", client, "addr", "add", address, "dev", clientLink])
            }
            for address in ["\(Self.client6)/64", "\(Self.blocked6)/64"] {
                try run(ip, ["-n", client, "addr", "add", address, "dev", clientLink, "nodad"])
            }
            try run(ip, ["-n", edge, "addr", "add", "\(Self.edge4)/24", "dev", edgeLink])
            try run(ip, ["-n", edge, "addr", "add", "\(Self.edge6)/64", "dev", edgeLink, "nodad"])
            try run(ip, ["-n", client, "link", "set", clientLink, "up"])
            try run(ip, ["-n", edge, "link", "set", edgeLink, "up"])
        } catch {
            tearDown()
            throw error
        }
    }

    /// Deletes both namespaces (and with them the veth pair and any program attached to it).
    func tearDown() {
        for ns in created.reversed() { _ = try? XDPTestSupport.run(ip, ["netns", "delete", ns]) }
        created = []
    }

    /// Runs `body` on this thread inside namespace `name` (setns), then returns to the
    /// thread's own namespace, even when `body` throws.
    func inside<T>(_ name: String, _ body: () throws -> T) throws -> T {
        let original = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)
        let target = open("/var/run/netns/\(name)", O_RDONLY | O_CLOEXEC)
        defer { close(original); close(target) }
        guard original >= 0, target >= 0, Self.setns(target, Self.newNetworkNamespace) == 0 else {
            throw XCTSkip("XDP NAMESPACE TEST SKIPPED: cannot enter namespace \(name): \(String(cString: strerror(errno)))")
        }
        defer { precondition(Self.setns(original, Self.newNetworkNamespace) == 0, "cannot return to the test's namespace") }
        return try body()
    }

    /// `CLONE_NEWNET` from <sched.h>, which Glibc's Swift module does not export.
    private static let newNetworkNamespace: Int32 = 0x4000_0000

    /// setns(2), looked up at run time: Glibc's Swift module does not export it.
    private static let setns: @convention(c) (Int32, Int32) -> Int32 = {
        guard let symbol = dlsym(nil, "setns") else { // nil is RTLD_DEFAULT on glibc
            preconditionFailure("libc has no setns")
        }
        return unsafeBitCast(symbol, to: (@convention(c) (Int32, Int32) -> Int32).self)
    }()

    /// Starts `arguments` inside namespace `name`; the caller waits for it.
    func start(in name: String, _ arguments: [String], output: Pipe) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: ip)
        process.arguments = ["netns", "exec", name] + arguments
        process.standardOutput = output
        process.standardError = output
        try process.run()
        return process
    }

    /// Runs `arguments` inside namespace `name` to completion; returns status and output.
    @discardableResult
    func exec(in name: String, _ arguments: [String]) throws -> (Int32, String) {
        try XDPTestSupport.run(ip, ["netns", "exec", name] + arguments)
    }

    private func run(_ executable: String, _ arguments: [String]) throws {
        let (status, output) = try XDPTestSupport.run(executable, arguments)
        guard status == 0 else { throw CommandFailure(command: ([executable] + arguments).joined(separator: " "), output: output) }
    }

    struct CommandFailure: Error, CustomStringConvertible {
        let command: String
        let output: String
        var description: String { "\(command) failed: \(output)" }
    }
}
