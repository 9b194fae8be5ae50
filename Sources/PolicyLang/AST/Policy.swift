/// The verdict a rule asks for, or a decision reaches.
public enum Verdict: String, Sendable, Hashable, Codable {
    case allow, deny
}

/// A name with the place it was written, so every later stage can point back at it.
public struct Located<Value: Hashable & Sendable>: Hashable, Sendable {
    public var value: Value
    public var span: SourceSpan

    public init(_ value: Value, _ span: SourceSpan) {
        self.value = value
        self.span = span
    }
}

/// One parsed policy file.
public struct PolicyFile: Sendable {
    public var path: String
    public var name: Located<String>
    public var description: String?
    public var defaults: Defaults
    public var identities: [IdentityDecl]
    public var groups: [GroupDecl]
    public var hosts: [HostDecl]
    public var rules: [Rule]
    public var tests: [PolicyTest]
    /// Outer (underlay) source prefixes that may not reach the tunnel at all: ztpd's XDP program
    /// drops their packets before the kernel's stack sees them.
    package var blocks: [Located<IPPrefix>]

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

    public init() {}
}

/// An entry of `identities:`: a WireGuard public key and who holds it.
public struct IdentityDecl: Sendable, Hashable {
    public var name: Located<String>
    /// The base64 text as written; the resolver checks it decodes to 32 bytes.
    public var key: Located<String>
    public var user: Located<String>?
    public var tags: [Located<String>]
    /// The tunnel addresses the peer may use (its WireGuard allowed IPs), when ztpd adds peers
    /// from the policy.
    public var allowedIPs: [Located<IPPrefix>]

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
    public var name: Located<String>
    public var members: [Located<GroupMember>]

    public init(name: Located<String>, members: [Located<GroupMember>]) {
        self.name = name
        self.members = members
    }
}

/// An entry of `hosts:`: an alias for one or more prefixes.
public struct HostDecl: Sendable, Hashable {
    public var name: Located<String>
    public var prefixes: [Located<IPPrefix>]

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
    public var host: Located<TargetHost>
    /// Port ranges; `[.all]` for `*`.
    public var ports: [PortRange]
    /// nil means any protocol.
    public var proto: TransportProtocol?

    public init(host: Located<TargetHost>, ports: [PortRange], proto: TransportProtocol?) {
        self.host = host
        self.ports = ports
        self.proto = proto
    }

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
    public var action: Verdict
    public var subjects: [Located<Subject>]
    public var targets: [Target]
    public var condition: Condition?
    /// `rate` as written; the compiler falls back to the file's default.
    public var rate: Rate?
    public var ttl: Duration?
    /// The whole rule text's location.
    public var span: SourceSpan
    /// The file's defaults, which apply where the rule sets no rate or ttl.
    public var defaults: Defaults

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

    package var effectiveRate: Rate { rate ?? defaults.rateLimit }
    package var effectiveTTL: Duration { ttl ?? defaults.cacheTTL }
}

/// A concrete request: a destination address, port and protocol (as in tests and `ztpc eval`).
public struct Request: Sendable, Hashable, CustomStringConvertible {
    public var address: IPAddress
    /// 0 for protocols without ports.
    public var port: UInt16
    public var proto: TransportProtocol

    public init(address: IPAddress, port: UInt16, proto: TransportProtocol) {
        self.address = address
        self.port = port
        self.proto = proto
    }

    public var description: String {
        let a = address.family == .v6 ? "[\(address)]" : "\(address)"
        return proto == .icmp ? "\(a)/icmp" : "\(a):\(port)/\(proto.rawValue)"
    }
}

/// One line of `tests:`: `allow alice-laptop -> 10.10.0.7:5432/tcp [at 2026-11-23T09:00:00Z]`.
public struct PolicyTest: Sendable, Hashable {
    package var expect: Verdict
    public var subject: Located<String>
    public var request: Request
    /// Seconds since 1970 (UTC); nil means "now".
    public var at: Int64?
    public var span: SourceSpan

    public init(expect: Verdict, subject: Located<String>, request: Request, at: Int64?, span: SourceSpan) {
        self.expect = expect
        self.subject = subject
        self.request = request
        self.at = at
        self.span = span
    }
}
