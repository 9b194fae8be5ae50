import PolicyLang

/// What the enforcer needs to know about a rule: its id for logs, its limits, where it was written.
public struct RuleInfo: Sendable, Equatable {
    /// `POLICY/NAME` or `POLICY/N`, as decisions and the decision log name the rule.
    public var id: String
    /// What the rule asks for.
    package var action: Verdict
    /// New flows per client through this rule.
    public var rate: Rate
    /// How long a decision this rule made may be cached, in milliseconds.
    public var ttlMilliseconds: Int64
    /// The policy file the rule was written in, for `ztpc explain` and logs.
    package var file: String
    /// 1-based line of the rule in ``file``.
    package var line: Int32
    /// 1-based column of the rule in ``file``.
    package var column: Int32
}

/// A known peer: its key, its name, and the identity class its decisions come from.
public struct IdentityEntry: Sendable, Equatable {
    /// The identity's name in the policy.
    public var name: String
    /// The WireGuard public key that authenticates as this identity.
    public var key: PublicKey
    /// The identity class whose decisions this peer gets; an index of the segment maps' rows.
    package var classIndex: Int32
    /// Policy evaluations per second this client may cause.
    public var evaluationRate: Rate
    /// The peer's tunnel addresses (WireGuard allowed IPs), as the policy lists them.
    package var allowedIPs: [IPPrefix] = []
}

/// A rule that matches a cell of the tables, with the time condition that must hold for it (-1: none).
public struct Candidate: Sendable, Equatable, Hashable {
    /// Index into ``DecisionTables/rules``.
    public var rule: Int32
    var expression: Int32
}

/// The set of rules that match one (class, address range, protocol, port range) cell.
public struct Cell: Sendable, Equatable {
    /// The matching rules with their conditions; empty for a cell no rule reaches.
    package var candidates: [Candidate]

    /// A cell matched by `candidates`.
    public init(candidates: [Candidate]) {
        self.candidates = candidates
    }
}

/// For one class and one address segment: port ranges to cells, per protocol.
public struct PortTable: Sendable, Equatable {
    /// Sorted first ports of consecutive ranges (the first is 0), and the cell of each range.
    var tcpStarts: [UInt16]
    var tcpCells: [Int32]
    var udpStarts: [UInt16]
    var udpCells: [Int32]
    var icmpCell: Int32
    /// The cell for every other IP protocol, which only protocol-less targets reach.
    var otherCell: Int32
}

/// The compiled form of a policy set: what `decide` reads, with no rule interpretation left.
///
/// Lookup is: identity → class (hash); destination → segment (binary search over the address
/// partition, which is a longest-prefix-match trie with its leaves pushed and flattened into
/// ranges); (class, segment) → port table (array index); protocol and port → cell (binary
/// search); cell → precomputed decision, or a few time conditions to evaluate. No step scans
/// the rules, so the cost grows with the logarithm of the number of distinct prefixes and ports.
public struct DecisionTables: Sendable, Equatable {
    /// SHA-256 of the sources this was compiled from (path and text of each file, in order).
    package var sourceHash: [UInt8]
    /// The `policy:` names of the compiled files, for status output.
    package var policyNames: [String]
    /// Every rule of the set, in load order; decisions refer to rules by index into this array.
    public var rules: [RuleInfo]
    /// Every known peer; the enforcer looks keys up through the tables' index over these.
    public var identities: [IdentityEntry]
    /// The number of identity classes: identities that the same rules match under the same
    /// conditions share one, and the segment maps have a row per class.
    public var classCount: Int
    /// How long a default deny may be cached: the shortest `cache_ttl` of the set's files.
    package var defaultTTLMilliseconds: Int64
    /// The evaluation rate for a peer the policy does not know and for "anyone": the first
    /// file's `rate_limit` default (100/s unless set).
    package var defaultRate: Rate
    /// The time zones the rules' windows use, with their UTC offset transitions.
    public var zones: [ZoneTable]
    /// The time windows the rules' conditions use, referred to by ``expressions``.
    package var atoms: [TimeAtom]
    /// Postfix code of each time expression; see ``TimeExpression/code``.
    public var expressions: [[Int32]]
    /// The cells port tables point into.
    public var cells: [Cell]
    /// The port tables (class, segment) pairs point into.
    public var portTables: [PortTable]
    /// First address of each IPv4 segment; the first is 0.
    public var v4Starts: [UInt32]
    /// First address of each IPv6 segment; the first is 0.
    public var v6Starts: [UInt128]
    /// `class * v4Starts.count + segment` → port table, or -1 when nothing matches there.
    var v4Segments: [Int32]
    var v6Segments: [Int32]
    /// Per class: the port table of its rules' `*` targets, read for every destination; -1 if none.
    var classWide: [Int32]
    /// Outer source prefixes blocked from the tunnel port (`block:`), sorted and without duplicates.
    package var blockedSources: [IPPrefix] = []
    /// The class of "anyone" (the `*` rules, for someone with no user, group or tag), or -1 when
    /// no such rule exists: what decides traffic toward a client that no flow of its explains.
    package var anyoneClass: Int32 = -1

    // Derived on construction and on load; not part of the bundle.
    var keyIndex: [PublicKey: Int32] = [:]
    var nameIndex: [String: Int32] = [:]
    /// What `decide` reads; see ``DecisionIndex``.
    var index = DecisionIndex()
    var classAllows: [Bool] = []
    /// The port tables laid end to end in one array, so that a lookup reads one region instead
    /// of a struct and four separately allocated arrays. Per table, at `flatPortOffsets[t]`:
    /// tcp count, udp count, icmp cell, other cell, then tcp starts, tcp cells, udp starts, udp
    /// cells (starts widened to 32 bits, cells as their bit patterns).
    var flatPorts: [UInt32] = []
    var flatPortOffsets: [Int32] = []

    /// Tables from their parts, as the table builder and the bundle reader make them. Derives the
    /// key and name indexes, the flattened port tables and the ``DecisionIndex``:
    /// a pass over identities, cells and port tables, so not free for large sets.
    public init(
        sourceHash: [UInt8], policyNames: [String], rules: [RuleInfo], identities: [IdentityEntry], classCount: Int,
        defaultTTLMilliseconds: Int64, defaultRate: Rate, zones: [ZoneTable], atoms: [TimeAtom],
        expressions: [[Int32]], cells: [Cell], portTables: [PortTable], v4Starts: [UInt32], v6Starts: [UInt128],
        v4Segments: [Int32], v6Segments: [Int32], classWide: [Int32]
    ) {
        self.init(
            unindexed: sourceHash, policyNames: policyNames, rules: rules, identities: identities, classCount: classCount,
            defaultTTLMilliseconds: defaultTTLMilliseconds, defaultRate: defaultRate, zones: zones, atoms: atoms,
            expressions: expressions, cells: cells, portTables: portTables, v4Starts: v4Starts, v6Starts: v6Starts,
            v4Segments: v4Segments, v6Segments: v6Segments, classWide: classWide)
        deriveIndexes()
    }

    /// The tables without their derived indexes, which trust every index in the tables: the bundle
    /// decoder builds these, validates them, and only then calls ``deriveIndexes()`` (a bundle whose
    /// cells or class maps point out of range used to trap here, found by fuzzing).
    init(
        unindexed sourceHash: [UInt8], policyNames: [String], rules: [RuleInfo], identities: [IdentityEntry], classCount: Int,
        defaultTTLMilliseconds: Int64, defaultRate: Rate, zones: [ZoneTable], atoms: [TimeAtom],
        expressions: [[Int32]], cells: [Cell], portTables: [PortTable], v4Starts: [UInt32], v6Starts: [UInt128],
        v4Segments: [Int32], v6Segments: [Int32], classWide: [Int32]
    ) {
        self.sourceHash = sourceHash
        self.policyNames = policyNames
        self.rules = rules
        self.identities = identities
        self.classCount = classCount
        self.defaultTTLMilliseconds = defaultTTLMilliseconds
        self.defaultRate = defaultRate
        self.zones = zones
        self.atoms = atoms
        self.expressions = expressions
        self.cells = cells
        self.portTables = portTables
        self.v4Starts = v4Starts
        self.v6Starts = v6Starts
        self.v4Segments = v4Segments
        self.v6Segments = v6Segments
        self.classWide = classWide
    }

    mutating func deriveIndexes() {
        keyIndex = [:]
        nameIndex = [:]
        for (i, e) in identities.enumerated() {
            keyIndex[e.key] = Int32(i)
            nameIndex[e.name] = Int32(i)
        }
        flatPorts = []
        flatPortOffsets = []
        for p in portTables {
            flatPortOffsets.append(Int32(flatPorts.count))
            flatPorts += [UInt32(p.tcpStarts.count), UInt32(p.udpStarts.count), UInt32(bitPattern: p.icmpCell), UInt32(bitPattern: p.otherCell)]
            flatPorts += p.tcpStarts.map(UInt32.init) + p.tcpCells.map { UInt32(bitPattern: $0) }
            flatPorts += p.udpStarts.map(UInt32.init) + p.udpCells.map { UInt32(bitPattern: $0) }
        }
        classAllows = (0..<classCount).map { classAllowsSomething($0) }
        index = DecisionIndex(self)
    }

    /// Whether any allow rule applies to the class anywhere: an identity allowed nothing gets no session.
    private func classAllowsSomething(_ cls: Int) -> Bool {
        var tables = Set<Int32>([classWide[cls]])
        tables.formUnion(v4Segments[(cls * v4Starts.count)..<((cls + 1) * v4Starts.count)])
        tables.formUnion(v6Segments[(cls * v6Starts.count)..<((cls + 1) * v6Starts.count)])
        tables = tables.filter { $0 >= 0 && Int($0) < portTables.count }
        return tables.contains { t in
            let p = portTables[Int(t)]
            return (p.tcpCells + p.udpCells + [p.icmpCell, p.otherCell]).contains { c in
                Int(c) < cells.count && cells[Int(c)].candidates.contains { Int($0.rule) < rules.count && rules[Int($0.rule)].action == .allow }
            }
        }
    }

    /// Whether the identity at `index` is allowed anything at all, at some time.
    package func allowsAnything(identity index: Int) -> Bool {
        index >= 0 && index < identities.count && classAllows[Int(identities[index].classIndex)]
    }

    /// Tables compare by their bundle content; the derived indexes follow from it.
    public static func == (a: DecisionTables, b: DecisionTables) -> Bool {
        a.sourceHash == b.sourceHash && a.policyNames == b.policyNames && a.rules == b.rules
            && a.identities == b.identities && a.classCount == b.classCount
            && a.defaultTTLMilliseconds == b.defaultTTLMilliseconds && a.defaultRate == b.defaultRate
            && a.zones == b.zones && a.atoms == b.atoms && a.expressions == b.expressions && a.cells == b.cells
            && a.portTables == b.portTables && a.v4Starts == b.v4Starts && a.v6Starts == b.v6Starts
            && a.v4Segments == b.v4Segments && a.v6Segments == b.v6Segments && a.classWide == b.classWide
            && a.blockedSources == b.blockedSources && a.anyoneClass == b.anyoneClass
    }

    /// Index of the identity with this key, if the policy knows it.
    public func identity(forKey key: PublicKey) -> Int? { keyIndex[key].map(Int.init) }

    /// Index of the identity with this name, if the policy knows it.
    public func identity(named name: String) -> Int? { nameIndex[name].map(Int.init) }

    /// What a set of matching rules decides, before any instant: deny beats allow; the rules
    /// that won, and the allows a deny overrode; the shortest lifetime of the winning side; for an
    /// allow, the rule a new flow is charged to.
    struct Combination {
        /// The matching denies, then the matching allows, each in ascending order.
        var ordered: [Int32]
        var denyCount: Int
        var ttlMilliseconds: Int64
        var rate: Rate?
        /// The most permissive matching allow, or -1 for a deny.
        var rateRule: Int32
    }

    func combination(_ matching: [Int32]) -> Combination {
        matching.withUnsafeBufferPointer { combination($0) }
    }

    /// The ``Combination`` of sorted, distinct matching rule indices.
    func combination(_ matching: UnsafeBufferPointer<Int32>) -> Combination {
        var denyCount = 0
        var denyTTL = Int64.max, allowTTL = Int64.max
        var widest: Int32 = -1
        for r in matching {
            let rule = rules[Int(r)]
            if rule.action == .deny {
                denyCount += 1
                denyTTL = min(denyTTL, rule.ttlMilliseconds)
            } else {
                allowTTL = min(allowTTL, rule.ttlMilliseconds)
                // The flow goes through the most permissive matching rule, and is counted against
                // it; between equal rates the smallest rule id, so that file order never matters.
                if widest < 0 {
                    widest = r
                } else {
                    let rw = rules[Int(widest)].rate.perSecond, rr = rule.rate.perSecond
                    if rr > rw || (rr == rw && rule.id < rules[Int(widest)].id) { widest = r }
                }
            }
        }
        let ordered = [Int32](unsafeUninitializedCapacity: matching.count) { out, count in
            var d = 0, a = denyCount
            for r in matching {
                if rules[Int(r)].action == .deny { out[d] = r; d += 1 } else { out[a] = r; a += 1 }
            }
            count = matching.count
        }
        if matching.isEmpty {
            return Combination(ordered: [], denyCount: 0, ttlMilliseconds: defaultTTLMilliseconds, rate: nil, rateRule: -1)
        }
        if denyCount > 0 {
            return Combination(ordered: ordered, denyCount: denyCount, ttlMilliseconds: denyTTL, rate: nil, rateRule: -1)
        }
        return Combination(ordered: ordered, denyCount: 0, ttlMilliseconds: allowTTL, rate: rules[Int(widest)].rate, rateRule: widest)
    }

    /// The decision of sorted, distinct matching rules at `now`, valid until `validUntil` at the
    /// latest: the way of cells with more time conditions than the index precomputes. Its rule
    /// lists go to the side pool (``SidePool``), once per distinct list.
    func combine(_ matching: UnsafeBufferPointer<Int32>, at now: Int64, validUntil: Int64) -> Decision {
        let c = combination(matching)
        let until = min(validUntil, now &+ c.ttlMilliseconds)
        guard !c.ordered.isEmpty else {
            return Decision(
                verdict: .deny, reason: .noRuleMatched, ttlMilliseconds: c.ttlMilliseconds, rate: nil, rateRule: -1,
                validUntilMilliseconds: until, lists: .none)
        }
        let start = c.ordered.withUnsafeBufferPointer { index.sidePool.intern($0) }
        let split = start + UInt32(c.denyCount), end = start + UInt32(c.ordered.count)
        if c.denyCount > 0 {
            return Decision(
                verdict: .deny, reason: .denied, ttlMilliseconds: c.ttlMilliseconds, rate: nil, rateRule: -1,
                validUntilMilliseconds: until,
                lists: RuleLists(rules: .init(start: start, end: split), overridden: .init(start: split, end: end), side: true))
        }
        return Decision(
            verdict: .allow, reason: .allowed, ttlMilliseconds: c.ttlMilliseconds, rate: c.rate, rateRule: c.rateRule,
            validUntilMilliseconds: until, lists: RuleLists(rules: .init(start: start, end: end), overridden: .empty, side: true))
    }
}
