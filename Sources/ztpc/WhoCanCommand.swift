import ArgumentParser
import Foundation
import PolicyCompiler
import PolicyLang

/// `ztpc who-can`: every identity that may reach a destination.
struct WhoCanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "who-can",
        abstract: "List every identity that may reach a destination, and the rules that allow it.",
        discussion: """
            DEST is one request (10.20.1.5:22/tcp, 10.0.0.1/icmp), a host alias (ci), a prefix \
            (10.10.0.0/24) or a target as rules write it (prod-db:5432/tcp). Without --at, access that \
            depends on a time window is listed with its window. Read from the compiled tables. \
            Example: ztpc who-can policies/ 10.20.1.5:22/tcp
            """)

    @Argument(help: "A policy directory or file, or a compiled bundle.")
    var source: String

    @Argument(help: "The destination.")
    var destination: String

    @Option(help: "Only what is allowed at this ISO 8601 instant.")
    var at: String?

    func run() throws {
        let (tables, compilation) = try TableSource.load(source, printer: DiagnosticPrinter(format: .human))
        let dest = try DestinationArgument.parse(destination, hosts: compilation?.resolved?.hosts)
        let seconds = try at.map { text in
            guard let s = RuleParser.parseInstant(text) else { throw UsageFailure("invalid --at time '\(text)'") }
            return s
        }
        let regions = Reachability.whoCan(tables, set: compilation?.resolved, reach: dest, atSeconds: seconds)
        let when = at.map { " at \($0)" } ?? ""
        if regions.isEmpty {
            Console.out("nobody may reach \(destination)\(when)\n")
            return
        }
        Console.out("who may reach \(destination)\(when):\n")
        Console.out(ReachReport(regions: regions, resolved: compilation?.resolved).render(showWho: true))
    }
}

/// `ztpc can`: everything one identity may reach.
struct CanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "can",
        abstract: "List everything one identity may reach, as address, protocol and port regions.",
        discussion: "IDENTITY is a name or a base64 public key. Example: ztpc can policies/ alice-laptop")

    @Argument(help: "A policy directory or file, or a compiled bundle.")
    var source: String

    @Argument(help: "An identity name, or a WireGuard public key (base64).")
    var identity: String

    @Option(help: "Only what is allowed at this ISO 8601 instant.")
    var at: String?

    func run() throws {
        let (tables, compilation) = try TableSource.load(source, printer: DiagnosticPrinter(format: .human))
        guard let index = tables.identity(named: identity) ?? (try? PublicKey(base64: identity)).flatMap({ tables.identity(forKey: $0) }) else {
            let hint = Suggest.closest(to: identity, among: tables.identities.map(\.name)).map { " (did you mean '\($0)'?)" } ?? ""
            throw UsageFailure("'\(identity)' is not an identity of the policy\(hint)")
        }
        let seconds = try at.map { text in
            guard let s = RuleParser.parseInstant(text) else { throw UsageFailure("invalid --at time '\(text)'") }
            return s
        }
        let regions = Reachability.reachable(tables, set: compilation?.resolved, identity: index, atSeconds: seconds)
        let name = tables.identities[index].name
        let when = at.map { " at \($0)" } ?? ""
        if regions.isEmpty {
            Console.out("\(name) may reach nothing\(when)\n")
            return
        }
        Console.out("\(name) may reach\(when):\n")
        Console.out(ReachReport(regions: regions, resolved: compilation?.resolved).render(showWho: false))
    }
}

/// Allowed regions, grouped by who, when and the allowing rules, with each rule's condition.
struct ReachReport {
    var regions: [DecisionRegion]
    var resolved: ResolvedPolicySet?

    func render(showWho: Bool) -> String {
        let hosts = HostNames([resolved])
        var conditions: [String: String] = [:]
        for r in resolved?.rules ?? [] {
            if let c = r.rule.condition { conditions[r.id] = "\(c)" }
        }
        var out = ""
        for b in RegionBlock.group(regions) {
            let r = b.first
            let rules = r.after.rules.map { id in conditions[id].map { "\(id) (if \($0))" } ?? id }.joined(separator: ", ")
            out += "\n"
            if showWho { out += "  \(r.who)\n" }
            out += "    via   \(rules)\n"
            if !r.time.isAlways { out += "    when  \(r.time)\n" }
            for (i, (span, services)) in b.destinations.enumerated() {
                out += (i == 0 ? "    to    " : "          ") + "\(span)\(hosts.annotation(span)): \(services)\n"
            }
        }
        return out
    }
}
