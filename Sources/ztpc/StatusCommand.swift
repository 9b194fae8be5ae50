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
        guard let doc = try? JSONSerialization.jsonObject(with: Data(answer.utf8)) as? [String: Any] else {
            throw UsageFailure("unexpected answer from \(path): \(answer.prefix(200))")
        }
        let policy = doc["policy"] as? [String: Any] ?? [:]
        let decisions = doc["decisions"] as? [String: Any] ?? [:]
        let tunnel = doc["tunnel"] as? [String: Any] ?? [:]
        let sessions = doc["sessions"] as? [[String: Any]] ?? []
        var out = """
            policy:     generation \(policy["generation"] ?? "?") from \(policy["origin"] ?? "?") (loaded \(policy["loaded_at"] ?? "?")), \(policy["rules"] ?? "?") rules, \(policy["identities"] ?? "?") identities
            reloads:    \(policy["reloads"] ?? 0) ok, \(policy["reload_failures"] ?? 0) refused, \(policy["reloads_superseded"] ?? 0) superseded
            """
        if let error = policy["last_reload_error"] as? String { out += "\nlast error: \(error)" }
        out += "\nsessions:   \(sessions.count)\n"
        for s in sessions {
            out += "  \(s["identity"] as? String ?? "(unknown)")  \(s["peer"] ?? "")\n"
        }
        out += "decisions:  \(decisions["allowed"] ?? 0) passed; cache \(decisions["cache_hits"] ?? 0) hits, \(decisions["cache_misses"] ?? 0) misses, \(decisions["cached_flows"] ?? 0)/\(decisions["cache_capacity"] ?? 0) flows\n"
        if let dropped = decisions["dropped"] as? [String: Any], !dropped.isEmpty {
            out += "dropped:    " + dropped.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ") + "\n"
        }
        if let byRule = decisions["by_rule"] as? [String: Any], !byRule.isEmpty {
            out += "by rule:    " + byRule.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ") + "\n"
        }
        if !tunnel.isEmpty {
            out += "tunnel:     \(tunnel["peers"] ?? 0) peers, \(tunnel["handshakes"] ?? 0) handshakes, rx \(tunnel["rx_bytes"] ?? 0) B, tx \(tunnel["tx_bytes"] ?? 0) B\n"
        }
        if let xdp = doc["xdp"] as? [String: Any] {
            let counters = (xdp["counters"] as? [String: Any] ?? [:]).filter { "\($0.value)" != "0" }
            out += "xdp:        on \(xdp["interface"] ?? "?") (\(xdp["mode"] ?? "?") mode): "
                + counters.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ") + "\n"
        }
        Console.out(out)
    }
}
