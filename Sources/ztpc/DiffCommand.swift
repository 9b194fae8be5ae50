import ArgumentParser
import Foundation
import PolicyCompiler
import PolicyLang

/// `ztpc diff`: what a policy change grants and revokes, exactly.
struct DiffCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: "Show every request whose decision changes between two policy sets.",
        discussion: """
            OLD and NEW are each a policy directory or file, a compiled bundle, or git:REV[:PATH] \
            (PATH as it is in revision REV, read with git show; without PATH, NEW's path). The \
            answer is computed from the two compiled decision tables, not sampled: each region \
            lists who (the identities, and the group, tag or user they are exactly), the \
            destination prefixes, protocol and ports, when (the time windows in which it \
            differs), and the verdict before -> after with the rules that made it on each side. \
            Example, in CI: ztpc diff git:origin/main policies/ --format markdown --fail-on revoke
            """)

    @Argument(help: "The policies before the change.")
    var old: String

    @Argument(help: "The policies after the change.")
    var new: String

    @Option(help: "Output: human, json or markdown (for a pull-request comment).")
    var format: DiffFormat = .human

    @Option(help: "Exit 1 when the change grants (grant), revokes (revoke) or changes (any) a decision.")
    var failOn: FailOn?

    enum DiffFormat: String, ExpressibleByArgument, CaseIterable { case human, json, markdown }
    enum FailOn: String, ExpressibleByArgument, CaseIterable { case grant, revoke, any }

    func run() throws {
        let gitDefault = { (other: String) in other.hasPrefix("git:") ? "policies" : other }
        let (before, after) = try PolicyInput.loadPair(
            (old, gitDefault(new)), (new, gitDefault(old)))
        let diff = PolicyDiff.compare(old: before.tables, new: after.tables, oldSet: before.resolved, newSet: after.resolved)
        let hosts = HostNames([after.resolved, before.resolved])
        let report = DiffReport(diff: diff, hosts: hosts, old: before.label, new: after.label)
        switch format {
        case .human: Console.out(report.human())
        case .json: Console.out(report.json())
        case .markdown: Console.out(report.markdown())
        }
        let failing: Bool
        switch failOn {
        case nil: failing = false
        case .grant: failing = !diff.grants.isEmpty
        case .revoke: failing = !diff.revokes.isEmpty
        case .any: failing = !diff.isEmpty
        }
        if failing { throw ExitCode(Status.findings) }
    }
}

/// Renders a ``PolicyDiff`` for people, for programs and for pull requests.
struct DiffReport {
    var diff: PolicyDiff
    var hosts: HostNames
    var old: String
    var new: String

    static let noChange = "no change in any decision"

    private func change(_ r: DecisionRegion) -> String {
        r.before.verdict == .deny ? "grant" : "revoke"
    }

    /// `3 grants, 1 revoke (13 regions)`: changes as shown, one per block.
    private var headline: String {
        let b = blocks
        let g = b.filter { change($0.first) == "grant" }.count, v = b.count - g
        let n = diff.regions.count
        return "\(g) grant\(g == 1 ? "" : "s"), \(v) revoke\(v == 1 ? "" : "s") (\(n) region\(n == 1 ? "" : "s"))"
    }

    var blocks: [RegionBlock] { RegionBlock.group(diff.regions) }

    private func place(_ span: AddressSpan) -> String {
        span.description + hosts.annotation(span)
    }

    func human() -> String {
        if diff.isEmpty { return "\(old) -> \(new): \(Self.noChange)\n" }
        var out = "\(old) -> \(new): \(headline)\n"
        for b in blocks {
            let r = b.first
            out += "\n\(change(r))  \(r.who)\n"
            out += "  was   \(r.before.summary)\n  now   \(r.after.summary)\n  when  \(r.time)\n"
            for (i, (span, services)) in b.destinations.enumerated() {
                out += (i == 0 ? "  to    " : "        ") + "\(place(span)): \(services)\n"
            }
        }
        return out
    }

    func markdown() -> String {
        if diff.isEmpty { return "**ztpc diff** `\(old)` → `\(new)`: \(Self.noChange).\n" }
        func cell(_ s: String) -> String { s.replacingOccurrences(of: "|", with: "\\|") }
        var out = "**ztpc diff** `\(old)` → `\(new)`: \(headline).\n\n"
        out += "| change | who | destination | when | before | after |\n|---|---|---|---|---|---|\n"
        for b in blocks {
            let r = b.first
            let places = b.destinations.map { "`\(cell(place($0.0)))` \(cell($0.1))" }.joined(separator: "<br>")
            out += "| **\(change(r))** | \(cell(r.who)) | \(places) | \(cell(r.time.description)) | \(cell(r.before.summary)) | \(cell(r.after.summary)) |\n"
        }
        return out
    }

    func json() -> String {
        func side(_ v: RegionVerdict) -> [String: Any] {
            ["verdict": v.verdict.rawValue, "reason": v.reason.rawValue, "rules": v.rules]
        }
        let regions: [[String: Any]] = diff.regions.map { r in
            var o: [String: Any] = [
                "change": change(r), "identities": r.identities, "anyone": r.anyone,
                "addresses": [
                    "family": r.addresses.family == .v4 ? "ipv4" : "ipv6",
                    "prefixes": r.addresses.prefixes.map(\.description),
                ],
                "protocol": r.proto.rawValue, "when": r.time.description, "before": side(r.before), "after": side(r.after),
            ]
            if r.proto.hasPorts { o["ports"] = ["first": Int(r.ports.lower), "last": Int(r.ports.upper)] }
            if let l = r.label { o["label"] = l }
            return o
        }
        let doc: [String: Any] = [
            "old": old, "new": new, "changed": !diff.isEmpty, "grants": diff.grants.count, "revokes": diff.revokes.count,
            "regions": regions,
        ]
        let data = (try? JSONSerialization.data(withJSONObject: doc, options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes])) ?? Data()
        return String(decoding: data, as: UTF8.self) + "\n"
    }
}
