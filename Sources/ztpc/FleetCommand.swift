import ArgumentParser
import Fleet
import Foundation

/// `ztpc fleet`: the fleet of edges that follow etcd.
struct FleetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fleet",
        abstract: "Show the edges that follow the policy pointer in etcd.",
        subcommands: [FleetStatusCommand.self]
    )
}

/// `ztpc fleet status`: every live edge, the bundle it runs, and which lag or refused.
struct FleetStatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "List the edges with the bundle each runs; flag stragglers and refused bundles.",
        discussion: """
            An edge is listed while its lease lives (it renews it every few seconds; a dead edge goes \
            when the lease expires). Its state is `current` when it runs the bundle the pointer names \
            for it (the canary's or the previous one under a rollout), `refused` when it refused that \
            bundle and keeps its previous policy, `straggler` otherwise.

            Exit status: 0 every edge is current, 1 some edge straggles or refused, 2 usage error, \
            4 etcd unreachable.
            """)

    @OptionGroup var etcd: EtcdOptions

    @Flag(help: "Print the status as JSON (pointer, pointer_revision, edges).")
    var json = false

    func run() throws {
        let status = try etcd.withFleet { client, layout in
            do {
                return try await FleetStatus.read(client: client, layout: layout)
            } catch {
                throw fleetFailure(error)
            }
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            Console.out(String(decoding: try encoder.encode(status), as: UTF8.self) + "\n")
        } else {
            Console.out(Self.render(status))
        }
        if !status.converged { throw ExitCode(Status.findings) }
    }

    static func render(_ status: FleetStatus) -> String {
        var out = ""
        if let pointer = status.pointer {
            let rollout = pointer.rollout.map { ", rollout \($0.percent) %" } ?? ""
            out += "current: \(pointer.hash) (revision \(status.pointerRevision)\(rollout)), published by \(pointer.publisher) at \(pointer.time)\n"
            out += "previous: \(pointer.previous ?? "none")\n"
        } else {
            out += "current: nothing published under \(status.prefix)\n"
        }
        guard !status.edges.isEmpty else { return out + "no edges\n" }
        var rows = [["EDGE", "STATE", "BUNDLE", "GENERATION", "SESSIONS", "UPTIME", "VERSION", "LAST ERROR"]]
        for edge in status.edges {
            let report = edge.report
            rows.append([
                report.name, edge.state.rawValue, report.bundleHash.map { String($0.prefix(12)) } ?? "-", String(report.generation),
                String(report.sessions), "\(report.uptimeSeconds)s", report.version, report.lastError ?? "-",
            ])
        }
        let widths = (0..<rows[0].count - 1).map { column in rows.map { $0[column].count }.max() ?? 0 }
        for row in rows {
            let padded = zip(row, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }
            out += (padded + [row.last!]).joined(separator: "  ") + "\n"
        }
        let counts = Dictionary(grouping: status.edges, by: \.state).mapValues(\.count)
        out += "\(status.edges.count) edge\(status.edges.count == 1 ? "" : "s"): \(counts[.current] ?? 0) current, "
            + "\(counts[.straggler] ?? 0) straggling, \(counts[.refused] ?? 0) refused\n"
        return out
    }
}
