import Etcd
import EtcdTestSupport
import Fleet
import Foundation
import NetTestSupport
import XCTest

/// A fleet for tests: a real 3-member etcd cluster, a trusted and an untrusted signing key, and
/// ztpd edges as processes (`--test-no-tunnel`: policy, control socket and fleet, no TUN), each
/// with its own state directory and control socket.
final class FleetLab: @unchecked Sendable {
    let cluster: EtcdCluster
    let client: EtcdClient
    let layout = try! FleetLayout()
    let directory: URL
    let ztpd: String
    let ztpc: String
    /// The key the edges trust, and one they do not.
    let trustedKey: String
    let untrustedKey: String
    private let suffix = String(UUID().uuidString.prefix(6)).lowercased()
    private let lock = NSLock()
    private var edges: [Int: Process] = [:]
    let edgeCount: Int

    init(edges: Int) throws {
        cluster = try EtcdCluster.start()
        do {
            client = try EtcdClient(endpoints: cluster.clientURLs)
            ztpd = try NetEnvironment.builtProduct("ztpd")
            ztpc = try NetEnvironment.builtProduct("ztpc")
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("ztp-fleet-\(suffix)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            trustedKey = directory.appendingPathComponent("trusted.key").path
            untrustedKey = directory.appendingPathComponent("untrusted.key").path
            edgeCount = edges
        } catch {
            cluster.shutdown()
            throw error
        }
        for key in [trustedKey, untrustedKey] {
            let made = try run(ztpc, ["keygen", "--out", key])
            guard made.succeeded else { throw NetLabError("ztpc keygen: \(made)") }
        }
    }

    /// Stops every edge and the cluster; removes the directory.
    func shutdown() async {
        for index in 0..<edgeCount { stopEdge(index) }
        try? await client.shutdown()
        cluster.shutdown()
        try? FileManager.default.removeItem(at: directory)
    }

    var etcdArgument: String { cluster.clientURLs.joined(separator: ",") }

    func edgeName(_ index: Int) -> String { "edge-\(index)" }
    func controlSocket(_ index: Int) -> String { directory.appendingPathComponent("edge-\(index).sock").path }
    func edgeLog(_ index: Int) -> String {
        (try? String(contentsOf: directory.appendingPathComponent("edge-\(index).log"), encoding: .utf8)) ?? ""
    }

    /// Starts edge `index` (a ztpd process) and waits until its control socket answers.
    func startEdge(_ index: Int) throws {
        let state = directory.appendingPathComponent("state-\(index)")
        try FileManager.default.createDirectory(at: state, withIntermediateDirectories: true)
        let config = """
            interface: zf\(suffix)\(index)
            trusted_publishers: [\(trustedKey).pub]
            state_dir: \(state.path)
            control_socket: \(controlSocket(index))
            metrics: "off"
            decision_log: "off"
            etcd:
              endpoints: [\(cluster.clientURLs.joined(separator: ", "))]
              name: \(edgeName(index))
            """
        let configPath = directory.appendingPathComponent("edge-\(index).yaml")
        try config.write(to: configPath, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: ztpd)
        process.arguments = ["--daemon-config", configPath.path, "--test-no-tunnel", "--foreground"]
        let logURL = directory.appendingPathComponent("edge-\(index).log")
        if !FileManager.default.fileExists(atPath: logURL.path) { FileManager.default.createFile(atPath: logURL.path, contents: nil) }
        let log = try FileHandle(forWritingTo: logURL)
        log.seekToEndOfFile()
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
        try? log.close()
        lock.withLock { edges[index] = process }
        let deadline = Date().addingTimeInterval(20)
        while bundleHash(index) == nil {
            guard process.isRunning, Date() < deadline else {
                throw NetLabError("edge \(index) did not answer on its control socket:\n\(edgeLog(index).suffix(3000))")
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
    }

    func startEdges() throws {
        for index in 0..<edgeCount { try startEdge(index) }
    }

    /// Stops edge `index` with SIGTERM (it leaves the fleet) and waits for it.
    func stopEdge(_ index: Int) {
        guard let process = lock.withLock({ edges.removeValue(forKey: index) }), process.isRunning else { return }
        process.terminate()
        if !Command.wait(process, seconds: 10) { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    /// The hash of the bundle edge `index` enforces, from its control socket (`ztpc status`):
    /// what the edge itself says, whatever etcd holds.
    func bundleHash(_ index: Int) -> String? {
        guard let status = try? run(ztpc, ["status", "--socket", controlSocket(index), "--json", "--timeout", "2"]), status.succeeded,
            let object = try? JSONSerialization.jsonObject(with: Data(status.output.utf8)) as? [String: Any],
            let policy = object["policy"] as? [String: Any]
        else { return nil }
        return policy["bundle_hash"] as? String
    }

    /// Every edge's enforced bundle hash, by index.
    func bundleHashes() -> [String?] { (0..<edgeCount).map(bundleHash) }

    /// `ztpc ARGS...` to completion.
    func ztpcRun(_ arguments: [String]) throws -> Command.Result { try run(ztpc, arguments) }

    /// `ztpc publish DIR --etcd ... --sign KEY`; returns the result and the hash it printed.
    func publish(_ policy: String, signedWith key: String? = nil, extra: [String] = []) throws -> (Command.Result, String?) {
        let result = try ztpcRun(["publish", policy, "--etcd", etcdArgument, "--sign", key ?? trustedKey] + extra)
        let hash = result.output.split(separator: "\n").first { $0.hasPrefix("published ") }?
            .split(separator: " ").dropFirst().first.map(String.init)
        return (result, hash)
    }

    /// The fleet as etcd shows it.
    func status() async throws -> FleetStatus { try await FleetStatus.read(client: client, layout: layout) }

    /// A policy directory of `rules` rules (each allows one port; its test checks the first),
    /// distinct by `label`; `failingTest` makes its test fail.
    func policy(_ label: String, rules: Int = 10, failingTest: Bool = false) throws -> String {
        let dir = directory.appendingPathComponent("policy-\(label)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let ruleLines = (0..<rules).map { "  - allow bob -> 10.20.1.\($0 % 250 + 1):\(1000 + $0)/tcp" }.joined(separator: "\n")
        let text = """
            policy: fleet
            description: \(label)
            identities:
              bob: { key: "vdi2GU6KcYDBSO1SuIqwWn7EyEpVjuyl3m35R8IqPkw=", user: bob@example.com, tags: [managed] }
            rules:
            \(ruleLines)
            tests:
              - \(failingTest ? "deny" : "allow") bob -> 10.20.1.1:1000/tcp
            """
        try text.write(to: dir.appendingPathComponent("fleet.yaml"), atomically: true, encoding: .utf8)
        return dir.path
    }

    private func run(_ tool: String, _ arguments: [String]) throws -> Command.Result {
        try Command.run(tool, arguments, timeout: 60)
    }
}

/// Waits until `condition` holds, at most `seconds`; returns the time it took, or nil.
func timeUntil(_ seconds: Double, _ condition: () async throws -> Bool) async rethrows -> Double? {
    let start = Date()
    while Date().timeIntervalSince(start) < seconds {
        if try await condition() { return Date().timeIntervalSince(start) }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return try await condition() ? Date().timeIntervalSince(start) : nil
}
