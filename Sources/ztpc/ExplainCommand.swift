import ArgumentParser
import Foundation
import PolicyCompiler
import PolicyLang

/// `ztpc explain`: one decision, and the rules behind it.
struct ExplainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "explain",
        abstract: "Show the decision for one request and which rules produced it.",
        discussion: "Example: ztpc explain policies/ bob-phone 10.20.1.5:22/tcp --at 2026-11-23T09:00:00Z")

    @Argument(help: "Policy directory or file.")
    var path: String

    @Argument(help: "An identity name, or a WireGuard public key (base64).")
    var subject: String

    @Argument(help: "Destination: ADDRESS:PORT/PROTO, [IPv6]:PORT/PROTO, or ADDRESS/icmp.")
    var destination: String

    @Option(help: "Decide at this ISO 8601 instant instead of now.")
    var at: String?

    func run() throws {
        var parser = RuleParser("\(subject) -> \(destination)", at: SourceLocation(file: "<command line>", line: 1, column: 1))
        let request: Request
        do {
            (_, request, _) = try parser.parseRequestLine()
        } catch {
            throw UsageFailure("invalid destination '\(destination)': \(error.diagnostic.message)")
        }
        var seconds = Int64(Date().timeIntervalSince1970)
        if let at {
            guard let s = RuleParser.parseInstant(at) else { throw UsageFailure("invalid --at time '\(at)'") }
            seconds = s
        }
        var options = PolicyCompiler.Options()
        options.lint = false
        options.runTests = false
        let compilation = PolicyCompiler.compile(paths: [path], options: options)
        guard let tables = compilation.tables, let resolved = compilation.resolved else {
            DiagnosticPrinter(format: .human).print(compilation.diagnostics, sources: compilation.sources)
            throw ExitCode(compilation.diagnostics.contains { $0.code == .io } ? Status.usage : Status.findings)
        }
        let index = tables.identity(named: subject) ?? (try? PublicKey(base64: subject)).flatMap { tables.identity(forKey: $0) }
        let decision = tables.decide(
            identity: index, address: request.address, port: request.port, ipProtocol: request.proto.ipProtocolNumber,
            at: seconds * 1000)
        Console.out("decision: \(decision.summary(tables))\n")
        Console.out("request:  \(subject) -> \(request) at \(iso8601(milliseconds: seconds * 1000))\n")
        guard let index else {
            let names = resolved.identities.map(\.name)
            let hint = Suggest.closest(to: subject, among: names).map { " (did you mean '\($0)'?)" } ?? ""
            Console.out("identity: '\(subject)' is not in the policy\(hint); unknown peers get nothing\n")
            return
        }
        let identity = resolved.identities[index]
        var who = [String]()
        if let u = identity.user { who.append("user \(u)") }
        if !identity.groups.isEmpty { who.append("groups \(identity.groups.sorted().joined(separator: ", "))") }
        if !identity.tags.isEmpty { who.append("tags \(identity.tags.sorted().joined(separator: ", "))") }
        Console.out("identity: \(identity.name) (\(who.joined(separator: "; ")))\n")
        if decision.verdict == .allow, let rate = decision.rate {
            Console.out("limits:   new flows \(rate) via \(tables.rules[Int(decision.rateRule)].id); cache \(Duration(ms: decision.ttlMilliseconds))\n")
        }
        Console.out("valid until: \(iso8601(milliseconds: decision.validUntilMilliseconds))\n")

        let traces = Explainer.trace(resolved, identity: identity, request: request, atSeconds: seconds)
        if traces.isEmpty {
            Console.out("no rule has a target that includes \(request): default deny\n")
            return
        }
        Console.out("rules whose targets include \(request):\n")
        let winners = Set(tables.rules(of: decision).map(Int.init))
        let overridden = Set(tables.overridden(of: decision).map(Int.init))
        for t in traces {
            let status: String
            if winners.contains(t.rule.index) {
                status = t.rule.action == .deny ? "DENIES (a deny beats every allow)" : "ALLOWS"
            } else if overridden.contains(t.rule.index) {
                status = "matched, but lost to the deny"
            } else if !t.subjectMatches {
                status = "does not apply: its subject does not include \(identity.name)"
            } else if t.conditionHolds == false {
                status = "does not apply: its condition is false"
            } else {
                status = "matched"
            }
            let loc = t.rule.rule.span.start
            let condition = t.rule.rule.condition.map { " if \($0)" } ?? ""
            Console.out("  \(t.rule.id) at \(loc): \(t.rule.action.rawValue)\(condition)\n    -> \(status)\n")
        }
    }
}
