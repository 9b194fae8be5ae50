import PolicyCompiler
import PolicyLang

/// A destination on the command line: one request (`10.20.1.5:22/tcp`, `10.0.0.1/icmp`), or a
/// target as rules write it (`ci`, `prod-db:5432/tcp`, `10.10.0.0/24`, `[fd00:30::/64]:*/tcp`).
enum DestinationArgument {
    static func parse(_ text: String, hosts: [String: HostDecl]?) throws -> Reachability.Destination {
        let origin = SourceLocation(file: "<command line>", line: 1, column: 1)
        var request = RuleParser("x -> \(text)", at: origin)
        if let (_, r, _) = try? request.parseRequestLine() {
            let span = AddressSpan(family: r.address.family, lower: r.address.value, upper: r.address.value)
            if r.proto == .icmp { return .init(addresses: [span], protocols: [.icmp]) }
            return .init(addresses: [span], ports: PortRange(r.port, r.port), protocols: [r.proto == .tcp ? .tcp : .udp])
        }
        // A target needs ports; a bare host or prefix means all of them.
        var target: Target?
        for candidate in [text, text + ":*"] {
            var parser = RuleParser("allow * -> \(candidate)", at: origin)
            if let rule = try? parser.parseRule(id: "command-line", defaults: Defaults()), rule.targets.count == 1 {
                target = rule.targets[0]
                break
            }
        }
        guard let target else {
            throw UsageFailure("invalid destination '\(text)': write ADDRESS:PORT/PROTO, a host alias, or a prefix")
        }
        guard target.ports.count == 1 else {
            throw UsageFailure("invalid destination '\(text)': name one port or one range")
        }
        let spans: [AddressSpan]
        switch target.host.value {
        case .any:
            spans = [AddressSpan(family: .v4, lower: 0, upper: UInt128(UInt32.max)), AddressSpan(family: .v6, lower: 0, upper: .max)]
        case .prefix(let c):
            spans = [AddressSpan(family: c.address.family, lower: c.first.value, upper: c.last.value)]
        case .alias(let name):
            guard let hosts else { throw UsageFailure("'\(name)': a bundle has no host aliases; name an address or prefix") }
            guard let host = hosts[name] else {
                let hint = Suggest.closest(to: name, among: Array(hosts.keys)).map { " (did you mean '\($0)'?)" } ?? ""
                throw UsageFailure("'\(name)' is no host alias of the policy\(hint)")
            }
            spans = host.prefixes.map { AddressSpan(family: $0.value.address.family, lower: $0.value.first.value, upper: $0.value.last.value) }
        }
        let protocols: Set<RegionProtocol>
        switch target.proto {
        case .tcp: protocols = [.tcp]
        case .udp: protocols = [.udp]
        case .icmp: protocols = [.icmp]
        case nil: protocols = target.ports == [.all] ? Set(RegionProtocol.allCases) : [.tcp, .udp]
        }
        return .init(addresses: spans, ports: target.ports[0], protocols: protocols)
    }
}
