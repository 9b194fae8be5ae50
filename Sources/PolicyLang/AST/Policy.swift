/// The verdict a rule asks for, or a decision reaches.
public enum Verdict: String, Sendable, Hashable, Codable {
    case allow, deny
}

/// A name with the place it was written, so every later stage can point back at it.
public struct Located<Value: Hashable & Sendable>: Hashable, Sendable {
    /// The parsed value.
    public var value: Value
    /// Where its text is in the source, for diagnostics.
    package var span: SourceSpan

    /// `value` as written at `span`.
    public init(_ value: Value, _ span: SourceSpan) {
        self.value = value
        self.span = span
    }
}

/// One parsed policy file.
public struct PolicyFile: Sendable {
    /// The file's path as loaded; diagnostics and rule ids refer to it.
    public var path: String
    /// The `policy:` name, which prefixes the ids of the file's rules.
    public var name: Located<String>
    /// The optional `description:` text.
    public var description: String?
    /// The `defaults:` block, or the built-in defaults when there is none.
    public var defaults: Defaults
    /// The `identities:` entries, in file order.
    public var identities: [IdentityDecl]
    /// The `groups:` entries, in file order.
    public var groups: [GroupDecl]
    /// The `hosts:` aliases, in file order.
    public var hosts: [HostDecl]
    /// The `rules:`, in file order (order does not change decisions: a deny wins anywhere).
    public var rules: [Rule]
    /// The `tests:` lines, checked by `ztpc test` and before a directory is loaded.
    public var tests: [PolicyTest]
    /// Outer (underlay) source prefixes that may not reach the tunnel at all: ztpd's XDP program
    /// drops their packets before the kernel's stack sees them.
    package var blocks: [Located<IPPrefix>]

    /// An empty policy named `name` at `path`; the loader fills in the sections it reads.
    public init(path: String, name: Located<String>) {
        self.path = path
        self.name = name
        self.defaults = Defaults()
        self.identities = []
        self.groups = []
        self.hosts = []
        self.rules = []
        self.tests = []
        self.blocks = []
    }
}

/// The `defaults:` block: values for the rest of the file.
public struct Defaults: Sendable, Hashable {
    /// How long a decision may be cached when its rule sets no `ttl` (5 s unless set).
    package var cacheTTL: Duration = .seconds(5)
    /// Policy evaluations per client, and the flow rate of rules that set no `rate` (100/s unless set).
    package var rateLimit: Rate = Rate(count: 100, seconds: 1)

    /// The built-in defaults: 5 s cache TTL, 100/s rate.
    public init() {}
}

/// An entry of `identities:`: a WireGuard public key and who holds it.
public struct IdentityDecl: Sendable, Hashable {
    /// The identity's name, which rules and tests use to refer to it.
    public var name: Located<String>
    /// The base64 text as written; the resolver checks it decodes to 32 bytes.
    public var key: Located<String>
    /// The `user:` (an e-mail) the key belongs to; groups refer to users, not to keys.
    public var user: Located<String>?
    /// The `tags:` a rule's `tag:` subject or condition matches.
    public var tags: [Located<String>]
    /// The tunnel addresses the peer may use (its WireGuard allowed IPs), when ztpd adds peers
    /// from the policy.
    package var allowedIPs: [Located<IPPrefix>]

    /// An identity as the YAML front reads it; nothing is checked here (the resolver checks keys and names).
    public init(
        name: Located<String>, key: Located<String>, user: Located<String>?, tags: [Located<String>],
        allowedIPs: [Located<IPPrefix>] = []
    ) {
        self.name = name
        self.key = key
        self.user = user
        self.tags = tags
        self.allowedIPs = allowedIPs
    }
}

/// A member of a group: a user's e-mail, or another group.
public enum GroupMember: Hashable, Sendable {
    case user(String)
    case group(String)
}

/// An entry of `groups:`.
public struct GroupDecl: Sendable, Hashable {
    /// The group's name, referred to as `group:NAME`.
    public var name: Located<String>
    /// Users and nested groups; cycles are found by the resolver.
    package var members: [Located<GroupMember>]

    /// A group named `name` with `members` as written.
    public init(name: Located<String>, members: [Located<GroupMember>]) {
        self.name = name
        self.members = members
    }
}

/// An entry of `hosts:`: an alias for one or more prefixes.
public struct HostDecl: Sendable, Hashable {
    /// The alias, usable as a target's host.
    public var name: Located<String>
    /// The prefixes the alias stands for.
    public var prefixes: [Located<IPPrefix>]

    /// An alias `name` for `prefixes`.
    public init(name: Located<String>, prefixes: [Located<IPPrefix>]) {
        self.name = name
        self.prefixes = prefixes
    }
}

/// Who a rule applies to.
public enum Subject: Hashable, Sendable, CustomStringConvertible {
    case any
    case user(String)
    case group(String)
    case tag(String)
    case identity(String)

    /// The subject as the rule syntax writes it: `*`, `user:…`, `group:…`, `tag:…` or an identity name.
    public var description: String {
        switch self {
        case .any: "*"
        case .user(let u): "user:\(u)"
        case .group(let g): "group:\(g)"
        case .tag(let t): "tag:\(t)"
        case .identity(let i): i
        }
    }
}

/// The address part of a target.
public enum TargetHost: Hashable, Sendable, CustomStringConvertible {
    case any
    case alias(String)
    case prefix(IPPrefix)

    /// The host as the rule syntax writes it, IPv6 in brackets and a single address without `/128` or `/32`.
    public var description: String {
        switch self {
        case .any: "*"
        case .alias(let a): a
        case .prefix(let c):
            c.length == c.address.bitWidth
                ? (c.address.family == .v6 ? "[\(c.address)]" : "\(c.address)")
                : (c.address.family == .v6 ? "[\(c)]" : "\(c)")
        }
    }
}

/// Where a rule lets traffic go: addresses, ports, and optionally one protocol.
public struct Target: Hashable, Sendable, CustomStringConvertible {
    /// The addresses: `*`, a host alias or a prefix.
    public var host: Located<TargetHost>
    /// Port ranges; `[.all]` for `*`.
    public var ports: [PortRange]
    /// nil means any protocol.
    public var proto: TransportProtocol?

    /// A target as the rule parser reads it.
    public init(host: Located<TargetHost>, ports: [PortRange], proto: TransportProtocol?) {
        self.host = host
        self.ports = ports
        self.proto = proto
    }

    /// The target as the rule syntax writes it: `HOST:PORTS[/PROTO]`.
    public var description: String {
        let p = ports.map(\.description).joined(separator: ",")
        return "\(host.value):\(p)" + (proto.map { "/\($0.rawValue)" } ?? "")
    }
}

/// A rule's `if` condition.
public indirect enum Condition: Hashable, Sendable, CustomStringConvertible {
    case tag(Located<String>)
    case user(Located<String>)
    case group(Located<String>)
    case time(TimeWindow)
    case not(Condition)
    case and(Condition, Condition)
    case or(Condition, Condition)

    /// The condition in the rule syntax, with parentheses only where `and`/`or` nest.
    public var description: String {
        switch self {
        case .tag(let t): "tag:\(t.value)"
        case .user(let u): "user:\(u.value)"
        case .group(let g): "group:\(g.value)"
        case .time(let w): w.description
        case .not(let c): "not \(c.parenthesized)"
        case .and(let a, let b): "\(a.parenthesized) and \(b.parenthesized)"
        case .or(let a, let b): "\(a.parenthesized) or \(b.parenthesized)"
        }
    }

    private var parenthesized: String {
        switch self {
        case .and, .or: "(\(description))"
        default: description
        }
    }
}

/// One rule of `rules:`.
public struct Rule: Sendable, Hashable {
    /// The id decisions name: `POLICY/NAME` when named, else `POLICY/N` with N counted from 1.
    public var id: String
    /// Whether matching traffic is allowed or denied; a deny wins over any allow.
    package var action: Verdict
    /// Who the rule applies to (any of them).
    public var subjects: [Located<Subject>]
    /// Where the traffic may go (any of them).
    public var targets: [Target]
    /// The `if` condition, or nil when the rule always applies to its subjects.
    public var condition: Condition?
    /// `rate` as written; the compiler falls back to the file's default.
    public var rate: Rate?
    /// `ttl` as written (how long a decision may be cached); the compiler falls back to the file's default.
    public var ttl: Duration?
    /// The whole rule text's location.
    package var span: SourceSpan
    /// The file's defaults, which apply where the rule sets no rate or ttl.
    public var defaults: Defaults

    /// A rule as the rule parser reads it; `id` is assigned by the YAML front.
    public init(
        id: String, action: Verdict, subjects: [Located<Subject>], targets: [Target], condition: Condition?,
        rate: Rate?, ttl: Duration?, span: SourceSpan, defaults: Defaults
    ) {
        self.id = id
        self.action = action
        self.subjects = subjects
        self.targets = targets
        self.condition = condition
        self.rate = rate
        self.ttl = ttl
        self.span = span
        self.defaults = defaults
    }

    /// The rule's `rate`, or its file's default.
    package var effectiveRate: Rate { rate ?? defaults.rateLimit }
    /// The rule's `ttl`, or its file's default cache TTL.
    package var effectiveTTL: Duration { ttl ?? defaults.cacheTTL }
}

/// A concrete request: a destination address, port and protocol (as in tests and `ztpc eval`).
public struct Request: Sendable, Hashable, CustomStringConvertible {
    /// The destination address.
    public var address: IPAddress
    /// 0 for protocols without ports.
    public var port: UInt16
    /// The transport protocol.
    public var proto: TransportProtocol

    /// A request to `address`, `port` (0 for ICMP) and `proto`.
    public init(address: IPAddress, port: UInt16, proto: TransportProtocol) {
        self.address = address
        self.port = port
        self.proto = proto
    }

    /// `ADDRESS:PORT/PROTO` (IPv6 in brackets), or `ADDRESS/icmp`.
    public var description: String {
        let a = address.family == .v6 ? "[\(address)]" : "\(address)"
        return proto == .icmp ? "\(a)/icmp" : "\(a):\(port)/\(proto.rawValue)"
    }
}

/// One line of `tests:`: `allow alice-laptop -> 10.10.0.7:5432/tcp [at 2026-11-23T09:00:00Z]`.
public struct PolicyTest: Sendable, Hashable {
    /// The verdict the test expects.
    package var expect: Verdict
    /// The identity or user the test asks for.
    public var subject: Located<String>
    /// The destination the test asks about.
    public var request: Request
    /// Seconds since 1970 (UTC); nil means "now".
    public var at: Int64?
    /// The test line's location, for failures.
    package var span: SourceSpan

    /// A test expecting `expect` for `subject` sending `request` at `at` (nil: now).
    public init(expect: Verdict, subject: Located<String>, request: Request, at: Int64?, span: SourceSpan) {
        self.expect = expect
        self.subject = subject
        self.request = request
        self.at = at
        self.span = span
    }
}
