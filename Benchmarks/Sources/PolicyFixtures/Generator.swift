import Foundation

// A deterministic generator of realistic policy sets for the benchmarks.
//
// Everything here depends only on the seed: the PRNG is our own (SplitMix64) and every draw goes
// through `uniform(_:)`, so the same seed gives byte-identical YAML on every platform and with
// every Swift version (the standard library's `Int.random(in:using:)` algorithm is not a stable
// contract).

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, and good enough for test data.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A value in 0..<n (Lemire's multiply-shift, without the rejection step: the bias is < 2^-32).
    public mutating func uniform(_ n: Int) -> Int {
        precondition(n > 0)
        return Int((UInt128(next()) &* UInt128(n)) >> 64)
    }

    public mutating func range(_ r: ClosedRange<Int>) -> Int { r.lowerBound + uniform(r.count) }

    /// True with probability `percent`/100.
    public mutating func chance(_ percent: Int) -> Bool { uniform(100) < percent }

    public mutating func pick<T>(_ a: [T]) -> T { a[uniform(a.count)] }

    /// Picks by integer weights.
    public mutating func weighted<T>(_ choices: [(Int, T)]) -> T {
        let total = choices.reduce(0) { $0 + $1.0 }
        var r = uniform(total)
        for (w, v) in choices {
            if r < w { return v }
            r -= w
        }
        return choices.last!.1
    }
}

// MARK: Model

public enum Family: Sendable { case v4, v6 }

/// A prefix of the generated inventory: network bits in `value` (low 32 bits for IPv4).
public struct Prefix: Sendable, Hashable {
    public var family: Family
    public var value: UInt128
    public var length: Int

    public var width: Int { family == .v4 ? 32 : 128 }
    var hostMask: UInt128 {
        let bits = width - length
        return bits == 0 ? 0 : (bits >= 128 ? .max : (UInt128(1) << bits) - 1)
    }
    public var lower: UInt128 { value & ~hostMask }
    public var upper: UInt128 { value | hostMask }

    public func contains(family f: Family, _ a: UInt128) -> Bool { f == family && a >= lower && a <= upper }

    public var text: String {
        switch family {
        case .v4:
            let v = UInt32(truncatingIfNeeded: value)
            return "\(v >> 24).\(v >> 16 & 0xff).\(v >> 8 & 0xff).\(v & 0xff)/\(length)"
        case .v6:
            let groups = (0..<8).map { String(UInt16(truncatingIfNeeded: value >> (112 - 16 * $0)), radix: 16) }
            return groups.joined(separator: ":") + "/\(length)"
        }
    }
}

public struct GIdentity: Sendable {
    public var name: String
    public var key: String
    public var user: String
    public var tags: [String]
}

public struct GGroup: Sendable {
    public var name: String
    public var users: [String]
    /// Only groups defined earlier, so there is never a cycle.
    public var nested: [String]
}

public struct GHost: Sendable {
    public var name: String
    public var prefixes: [Prefix]
}

public enum GSubject: Sendable {
    case any, user(String), group(String), tag(String), identity(String)

    var text: String {
        switch self {
        case .any: "*"
        case .user(let u): "user:\(u)"
        case .group(let g): "group:\(g)"
        case .tag(let t): "tag:\(t)"
        case .identity(let n): n
        }
    }
}

public struct GWindow: Sendable {
    public var daysText: String
    public var days: UInt8  // bit 0 = Monday
    public var start: Int  // minute of day
    public var end: Int  // minute of day; <= start runs past midnight
    public var zone: String

    var text: String {
        func hm(_ m: Int) -> String { String(format: "%02d:%02d", m / 60, m % 60) }
        return "time \(daysText) \(hm(start))-\(hm(end)) \(zone)"
    }
}

public indirect enum GCondition: Sendable {
    case tag(String), not(GCondition), and(GCondition, GCondition), time(GWindow)

    var text: String {
        switch self {
        case .tag(let t): "tag:\(t)"
        case .not(let c): "not \(c.text)"
        case .and(let a, let b): "\(a.text) and \(b.text)"
        case .time(let w): w.text
        }
    }
}

public enum GHostRef: Sendable {
    case any
    case alias(Int)  // index into hosts
    case prefix(Prefix)
}

public struct GTarget: Sendable {
    public var host: GHostRef
    /// Inclusive port ranges; nil is `*`.
    public var ports: [ClosedRange<Int>]?
    /// "tcp", "udp", "icmp" or nil (any protocol).
    public var proto: String?
}

public struct GRule: Sendable {
    public var name: String?
    public var allow: Bool
    public var subjects: [GSubject]
    public var targets: [GTarget]
    public var condition: GCondition?
    public var rate: String?
    public var ttl: String?
}

/// One request for `decide`.
public struct Query: Sendable {
    public var identity: Int  // index into PolicySetSpec.identities
    public var family: Family
    public var address: UInt128
    public var port: UInt16
    public var ipProtocol: UInt8
    public var milliseconds: Int64
}

// MARK: Generator

/// A generated policy set: the model, its YAML files, and a reference evaluator over the model.
public struct PolicySetSpec: Sendable {
    public var ruleCount: Int
    public var seed: UInt64
    public var identities: [GIdentity] = []
    public var groups: [GGroup] = []
    public var hosts: [GHost] = []
    /// Rules in the order the compiler numbers them (file order, then order within the file).
    public var rules: [GRule] = []
    /// Policy name and rules of each rule file, in path order.
    public var ruleFiles: [(name: String, range: Range<Int>)] = []
    /// Percentage of targets whose host is `*` (every address); 1 by default. Only for experiments.
    public var anyHostPercent: Int

    static let regions = ["eu", "us", "apac"]
    static let zones = ["Europe/Berlin", "America/New_York", "UTC", "Asia/Tokyo", "Australia/Sydney"]
    static let tcpPorts = [22, 80, 443, 5432, 3306, 6379, 8080, 8443, 9090, 9200, 27017, 5672, 2379, 389, 636, 3389, 5900, 25, 9092, 11211]
    static let udpPorts = [53, 123, 161, 500, 514, 4500, 51820, 5353]

    public init(rules ruleCount: Int, seed: UInt64 = 0x5EED_2026, anyHostPercent: Int = 1) {
        self.ruleCount = ruleCount
        self.seed = seed
        self.anyHostPercent = anyHostPercent
        var rng = SplitMix64(seed: seed ^ UInt64(ruleCount) &* 0x1000_0000_01B3)
        generatePeople(&rng)
        generateHosts(&rng, count: max(20, ruleCount / 4))
        generateRules(&rng)
    }

    // ~50 identities over ~38 users (some people have a laptop and a phone), tags for management,
    // region and role; 20 groups of 3-8 users, some nested.
    private mutating func generatePeople(_ rng: inout SplitMix64) {
        let firstNames = [
            "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory", "niaj",
            "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter", "xena", "yusuf", "zoe", "amir", "bea",
            "chen", "dmitri", "elif", "femi", "gita", "hiro", "ines", "jonas", "kofi", "lena", "mei", "nils",
        ]
        var users = firstNames.map { "\($0)@example.com" }
        users += ["ci-bot@example.com", "backup-bot@example.com"]
        let devices = ["laptop", "phone", "desktop", "tablet"]
        var seen = Set<String>()
        while identities.count < 50 {
            let i = identities.count
            let user = i < users.count ? users[i] : rng.pick(users)
            let isBot = user.hasSuffix("-bot@example.com")
            let device = isBot ? "runner" : rng.pick(devices)
            var name = "\(user.split(separator: "@")[0])-\(device)"
            while !seen.insert(name).inserted { name += "2" }
            var bytes = [UInt8](repeating: 0, count: 32)
            for j in 0..<32 { bytes[j] = UInt8(truncatingIfNeeded: rng.next()) }
            var tags: [String] = []
            let managed = isBot || (device != "phone" && device != "tablet") ? rng.chance(90) : rng.chance(20)
            tags.append(managed ? "managed" : "unmanaged")
            tags.append(rng.pick(Self.regions))
            if isBot { tags.append("server") }
            if rng.chance(15) { tags.append("contractor") }
            identities.append(GIdentity(name: name, key: Data(bytes).base64EncodedString(), user: user, tags: tags))
        }
        let groupNames = [
            "eng", "sre", "dba", "oncall", "finance", "auditors", "support", "security", "data", "ml", "mobile", "web",
            "qa", "release", "platform", "contractors", "execs", "legal", "hr", "bots",
        ]
        for (i, g) in groupNames.enumerated() {
            var members = Set<String>()
            if g == "bots" {
                members = ["ci-bot@example.com", "backup-bot@example.com"]
            } else {
                let n = rng.range(3...8)
                while members.count < n { members.insert(rng.pick(Array(users.prefix(firstNames.count)))) }
            }
            var nested: [String] = []
            if i >= 3 && rng.chance(30) { nested.append(groupNames[rng.uniform(i)]) }
            groups.append(GGroup(name: g, users: members.sorted(), nested: nested))
        }
    }

    private mutating func generateHosts(_ rng: inout SplitMix64, count: Int) {
        let kinds = ["db", "web", "api", "cache", "queue", "ci", "git", "vault", "metrics", "logs", "k8s", "vpn", "ldap", "smtp", "files"]
        for i in 0..<count {
            var prefixes: [Prefix] = []
            let n = rng.weighted([(70, 1), (22, 2), (8, 3)])
            for _ in 0..<n { prefixes.append(Self.randomPrefix(&rng, v6: rng.chance(25))) }
            hosts.append(GHost(name: "\(kinds[i % kinds.count])-\(i)", prefixes: prefixes))
        }
    }

    /// A v4 prefix of length 16-32 inside 10/8, 172.16/12 or 192.168/16, or a v6 prefix of
    /// length 48-128 inside fd00::/8.
    static func randomPrefix(_ rng: inout SplitMix64, v6: Bool) -> Prefix {
        if v6 {
            let length = rng.weighted([(20, 48), (10, 56), (45, 64), (5, 96), (5, 112), (15, 128)])
            let value = (UInt128(0xfd) << 120) | (UInt128(rng.next() & 0x00ff_ffff_ffff_ffff) << 64) | UInt128(rng.next())
            return Prefix(family: .v6, value: value & ~Prefix(family: .v6, value: 0, length: length).hostMask, length: length)
        }
        let length = rng.weighted([(4, 16), (4, 20), (6, 22), (35, 24), (6, 26), (10, 28), (35, 32)])
        let base: UInt32 = rng.weighted([(80, 0x0A00_0000), (12, 0xAC10_0000), (8, 0xC0A8_0000)])
        let space: UInt32 = base == 0x0A00_0000 ? 0x00ff_ffff : (base == 0xAC10_0000 ? 0x000f_ffff : 0x0000_ffff)
        let length2 = max(length, 32 - space.nonzeroBitCount)  // keep /16s inside 192.168/16
        let v = base | (UInt32(truncatingIfNeeded: rng.next()) & space)
        let p = Prefix(family: .v4, value: UInt128(v), length: length2)
        return Prefix(family: .v4, value: p.lower, length: length2)
    }

    private mutating func generateRules(_ rng: inout SplitMix64) {
        let fileCount = ruleCount >= 1000 ? 3 : 2
        var start = 0
        for f in 0..<fileCount {
            let end = f == fileCount - 1 ? ruleCount : start + ruleCount / fileCount
            ruleFiles.append((name: "team-\(f + 1)", range: start..<end))
            for k in start..<end { rules.append(randomRule(&rng, number: k - start + 1)) }
            start = end
        }
    }

    private func randomRule(_ rng: inout SplitMix64, number: Int) -> GRule {
        let allow = !rng.chance(12)
        var subjects: [GSubject] = []
        let subjectCount = rng.chance(6) ? 2 : 1
        for _ in 0..<subjectCount {
            let s: GSubject = rng.weighted([
                (55, .group(rng.pick(groups).name)), (15, .user(rng.pick(identities).user)),
                (10, .tag(rng.pick(["server", "contractor", "eu", "us", "apac", "unmanaged"]))),
                (14, .identity(rng.pick(identities).name)), (6, .any),
            ])
            subjects.append(s)
        }
        var targets: [GTarget] = []
        for _ in 0..<rng.weighted([(80, 1), (15, 2), (5, 3)]) { targets.append(randomTarget(&rng)) }
        var condition: GCondition? = nil
        let c = rng.uniform(100)
        if c < 5 {
            let w = Self.randomWindow(&rng)
            condition = rng.chance(50) ? .and(.tag("managed"), .time(w)) : .time(w)
        } else if c < 25 {
            condition = .tag("managed")
        } else if c < 30 {
            condition = .not(.tag("unmanaged"))
        } else if c < 33 {
            condition = .and(.tag("managed"), .not(.tag("contractor")))
        }
        return GRule(
            name: rng.chance(10) ? "r\(number)" : nil, allow: allow, subjects: subjects, targets: targets,
            condition: condition, rate: rng.chance(5) ? "\(rng.pick([10, 50, 200, 1000]))/s" : nil,
            ttl: rng.chance(5) ? rng.pick(["2s", "30s", "1m"]) : nil)
    }

    private func randomTarget(_ rng: inout SplitMix64) -> GTarget {
        let host: GHostRef = rng.weighted([
            (83, .alias(rng.uniform(hosts.count))), (16, .prefix(Self.randomPrefix(&rng, v6: rng.chance(20)))),
            (anyHostPercent, .any),
        ])
        let proto: String? = rng.weighted([(60, "tcp"), (15, "udp"), (20, nil), (5, "icmp")])
        if proto == "icmp" { return GTarget(host: host, ports: nil, proto: proto) }
        let wellKnown = proto == "udp" ? Self.udpPorts : Self.tcpPorts
        func single(_ rng: inout SplitMix64) -> ClosedRange<Int> {
            let p = rng.chance(80) ? rng.pick(wellKnown) : rng.range(1024...65535)
            return p...p
        }
        func range(_ rng: inout SplitMix64) -> ClosedRange<Int> {
            if rng.chance(30) { return rng.pick([8000...8100, 30000...32767, 6000...6010, 9000...9100]) }
            let lo = rng.range(1024...60000)
            return lo...(lo + rng.range(1...1000))
        }
        let ports: [ClosedRange<Int>]?
        switch rng.uniform(100) {
        case 0..<45: ports = [single(&rng)]
        case 45..<60: ports = (0..<rng.range(2...4)).map { _ in single(&rng) }
        case 60..<75: ports = [range(&rng)]
        case 75..<85: ports = [single(&rng), single(&rng), range(&rng)]
        default: ports = nil
        }
        return GTarget(host: host, ports: ports, proto: proto)
    }

    static func randomWindow(_ rng: inout SplitMix64) -> GWindow {
        let (daysText, days): (String, UInt8) = rng.pick([
            ("mon-fri", 0b001_1111), ("sat,sun", 0b110_0000), ("daily", 0x7f), ("mon-thu", 0b000_1111),
            ("fri-mon", 0b111_0001),
        ])
        let (start, end) = rng.pick([(480, 1080), (420, 1140), (570, 1050), (1320, 360), (1080, 1380)])
        return GWindow(daysText: daysText, days: days, start: start, end: end, zone: rng.pick(zones))
    }

    // MARK: YAML

    /// The files of the set: (file name, text), in the order the loader reads them.
    public func files() -> [(String, String)] {
        var out: [(String, String)] = []
        var people = "policy: people\ndescription: generated identities and groups (\(ruleCount) rules, seed \(seed))\n"
        people += "defaults:\n  cache_ttl: 5s\n  rate_limit: 100/s\nidentities:\n"
        for i in identities {
            people += "  \(i.name): { key: \"\(i.key)\", user: \(i.user), tags: [\(i.tags.joined(separator: ", "))] }\n"
        }
        people += "groups:\n"
        for g in groups {
            let members = g.users.map { "\"\($0)\"" } + g.nested.map { "\"group:\($0)\"" }
            people += "  \(g.name): [\(members.joined(separator: ", "))]\n"
        }
        out.append(("00-people.yaml", people))

        var inventory = "policy: inventory\ndescription: generated hosts\nhosts:\n"
        for h in hosts {
            if h.prefixes.count == 1 {
                inventory += "  \(h.name): \"\(h.prefixes[0].text)\"\n"
            } else {
                inventory += "  \(h.name): [\(h.prefixes.map { "\"\($0.text)\"" }.joined(separator: ", "))]\n"
            }
        }
        out.append(("01-inventory.yaml", inventory))

        for (n, file) in ruleFiles.enumerated() {
            var text = "policy: \(file.name)\ndescription: generated rules\ndefaults:\n  cache_ttl: 10s\nrules:\n"
            for r in rules[file.range] {
                let line = ruleText(r)
                if let name = r.name {
                    text += "  - name: \(name)\n    rule: \"\(line)\"\n"
                } else {
                    text += "  - \"\(line)\"\n"
                }
            }
            out.append(("\(10 + n)-\(file.name).yaml", text))
        }
        return out
    }

    func ruleText(_ r: GRule) -> String {
        var s = "\(r.allow ? "allow" : "deny") \(r.subjects.map(\.text).joined(separator: ",")) ->"
        for t in r.targets {
            let host: String
            switch t.host {
            case .any: host = "*"
            case .alias(let i): host = hosts[i].name
            case .prefix(let p): host = p.family == .v4 ? p.text : "[\(p.text)]"
            }
            let ports = t.ports.map { $0.map { $0.count == 1 ? "\($0.lowerBound)" : "\($0.lowerBound)-\($0.upperBound)" }.joined(separator: ",") } ?? "*"
            s += " \(host):\(ports)" + (t.proto.map { "/\($0)" } ?? "")
        }
        if let rate = r.rate { s += " rate \(rate)" }
        if let ttl = r.ttl { s += " ttl \(ttl)" }
        if let c = r.condition { s += " if \(c.text)" }
        return s
    }

    /// Writes the files into `directory` (created if needed; stale YAML files there are removed).
    public func write(to directory: String) throws {
        let fm = FileManager.default
        try fm.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for f in try fm.contentsOfDirectory(atPath: directory) where f.hasSuffix(".yaml") {
            try fm.removeItem(atPath: "\(directory)/\(f)")
        }
        for (name, text) in files() {
            try text.write(toFile: "\(directory)/\(name)", atomically: true, encoding: .utf8)
        }
    }

    // MARK: Queries

    /// `count` requests: identities uniformly; 80% of addresses inside a prefix the policy names
    /// (so that rules match), the rest anywhere in the private ranges; common and random ports;
    /// TCP, UDP, ICMP and GRE; instants spread over one week so that time windows both hold and not.
    public func queries(count: Int, seed: UInt64 = 0xDEC1DE) -> [Query] {
        var rng = SplitMix64(seed: seed ^ UInt64(ruleCount))
        var prefixes: [Prefix] = hosts.flatMap(\.prefixes)
        for r in rules {
            for t in r.targets { if case .prefix(let p) = t.host { prefixes.append(p) } }
        }
        let week0: Int64 = 1_795_392_000_000  // 2026-11-23T00:00:00Z, a Monday
        return (0..<count).map { _ in
            let family: Family
            let address: UInt128
            if rng.chance(80) {
                let p = rng.pick(prefixes)
                family = p.family
                address = p.lower | (UInt128(rng.next()) << 64 | UInt128(rng.next())) & p.hostMask
            } else {
                let p = Self.randomPrefix(&rng, v6: rng.chance(20))
                family = p.family
                address = p.lower | (UInt128(rng.next()) << 64 | UInt128(rng.next())) & p.hostMask
            }
            let proto: UInt8 = rng.weighted([(70, 6), (20, 17), (5, 1), (5, 47)])
            let port: UInt16 =
                proto == 6 || proto == 17
                ? UInt16(rng.chance(60) ? rng.pick(proto == 6 ? Self.tcpPorts : Self.udpPorts) : rng.range(1...65535)) : 0
            return Query(
                identity: rng.uniform(identities.count), family: family, address: address, port: port, ipProtocol: proto,
                milliseconds: week0 + Int64(rng.uniform(7 * 86_400)) * 1000 + Int64(rng.uniform(1000)))
        }
    }
}

// MARK: Fixture directories

/// Generates and writes each set once per process, under the system's temporary directory.
public final class FixtureStore: @unchecked Sendable {
    public static let shared = FixtureStore()
    private let lock = NSLock()
    private var written: [Int: (PolicySetSpec, String)] = [:]

    /// The generated set of `rules` rules and the directory it was written to.
    public func set(rules: Int) -> (spec: PolicySetSpec, directory: String) {
        lock.lock()
        defer { lock.unlock() }
        if let done = written[rules] { return done }
        let spec = PolicySetSpec(rules: rules)
        let dir = NSTemporaryDirectory() + "ztp-benchmarks/rules-\(rules)-seed-\(String(spec.seed, radix: 16))"
        do { try spec.write(to: dir) } catch { fatalError("cannot write the policy set to \(dir): \(error)") }
        written[rules] = (spec, dir)
        return (spec, dir)
    }
}
