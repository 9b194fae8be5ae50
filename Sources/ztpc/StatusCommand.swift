import ArgumentParser
import Edge
import Foundation

/// `ztpc status`: what a running ztpd is doing, through its control socket.
struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show a running ztpd's policy generation, sessions and counters.",
        discussion: """
            Reads ztpd's control socket (root only): /var/run/ztp/INTERFACE.sock unless --socket names another. \
            Exits 2 when ztpd cannot be reached or does not answer within --timeout.
            """)

    @Option(help: "The interface ztpd runs.")
    var interface = "ztp0"

    @Option(help: "The control socket path (overrides --interface).")
    var socket: String?

    @Flag(help: "Print the raw JSON document.")
    var json = false

    @Option(help: "Seconds to wait for ztpd's answer (a stopped or hung ztpd never gives one).")
    var timeout: Double = 5

    func validate() throws {
        guard timeout > 0, timeout <= 3600 else { throw ValidationError("--timeout takes seconds between 0 and 3600") }
    }

    func run() throws {
        let path = socket ?? "/var/run/ztp/\(interface).sock"
        let answer: String
        do {
            answer = try ControlClient.send("status", to: path, timeout: .milliseconds(Int64(timeout * 1000)))
        } catch {
            throw UsageFailure("\(error)")
        }
        if json {
            Console.out(answer)
            return
        }
        let status: EdgeStatus
        do {
            status = try EdgeStatus.decode(answer)
        } catch {
            throw UsageFailure("unexpected answer from \(path): \(ControlServer.quoted(answer, limit: 200))")
        }
        Console.out(Self.render(status))
    }

    /// The status as a person reads it.
    static func render(_ status: EdgeStatus) -> String {
        let policy = status.policy, decisions = status.decisions
        var out = """
            policy:     generation \(policy.generation) from \(policy.origin) (loaded \(policy.loadedAt)), \(policy.rules) rules, \(policy.identities) identities
            reloads:    \(policy.reloads) ok, \(policy.reloadFailures) refused, \(policy.reloadsSuperseded) superseded
            """
        if let hash = policy.bundleHash {
            out += "\nbundle:     sha256:\(hash)\(policy.signer.map { ", signed by \($0)" } ?? "")"
        }
        if let error = policy.lastReloadError { out += "\nlast error: \(error)\(policy.lastReloadErrorAt.map { " (at \($0))" } ?? "")" }
        out += "\nsessions:   \(status.sessions.count)\n"
        for s in status.sessions {
            out += "  \(s.identity ?? "(unknown)")  \(s.peer)\n"
        }
        out += "decisions:  \(decisions.allowed) passed; cache \(decisions.cacheHits) hits, \(decisions.cacheMisses) misses, \(decisions.cachedFlows)/\(decisions.cacheCapacity) flows\n"
        func list(_ counts: [String: UInt64]) -> String {
            counts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        }
        if !decisions.dropped.isEmpty { out += "dropped:    \(list(decisions.dropped))\n" }
        if !decisions.byRule.isEmpty { out += "by rule:    \(list(decisions.byRule))\n" }
        if let tunnel = status.tunnel {
            out += "tunnel:     \(tunnel.peers) peers, \(tunnel.handshakes) handshakes, rx \(tunnel.receivedBytes) B, tx \(tunnel.sentBytes) B\n"
        }
        if let xdp = status.xdp {
            out += "xdp:        on \(xdp.interface) (\(xdp.mode) mode): \(list(xdp.counters.filter { $0.value != 0 }))\n"
        }
        return out
    }
}
