import PolicyLang

/// Lowers a resolved policy set to ``DecisionTables``.
///
/// 1. Each identity's view of each rule: does its subject match, and what is left of the rule's
///    condition once tags, user and groups are known (true, false, or a time expression).
///    Identities with the same view form one class.
/// 2. The address space of each family is cut at every prefix boundary of every target into
///    segments; each segment records the targets that cover it (leaf pushing, flattened).
/// 3. For each class and each distinct set of covering targets, the targets of that class's rules
///    are cut again by port per protocol into cells. Port tables and cells are shared when equal.
/// 4. Targets whose host is `*` stay out of the partition: each class gets one port table for
///    them, which `decide` reads beside the segment's table. Folding them into every segment would
///    repeat them in every port table and make compilation quadratic.
struct TableBuilder {
    private let set: ResolvedPolicySet
    private var zones: [ZoneTable] = []
    private var zoneIndex: [String: Int32] = [:]
    private var atoms: [TimeAtom] = []
    private var atomIndex: [TimeAtom: Int] = [:]
    private var expressions: [[Int32]] = []
    private var expressionIndex: [TimeExpression: Int32] = [:]
    private var cells: [Cell] = [Cell(candidates: [])]
    private var cellIndex: [[Candidate]: Int32] = [[]: 0]
    private var portTables: [PortTable] = []
    private var portTableIndex: [[Candidate2]: Int32] = [:]

    /// A target of a rule, flattened: the unit the address partition tracks.
    private struct Entry {
        var rule: Int32
        var ports: [PortRange]
        var proto: TransportProtocol?
    }

    /// An entry as seen by one class: with the residual condition of its rule for that class.
    private struct Candidate2: Hashable {
        var entry: Int32
        var expression: Int32
    }

    private var entries: [Entry] = []

    init(set: ResolvedPolicySet) {
        self.set = set
    }

    static func build(
        _ set: ResolvedPolicySet, sourceHash: [UInt8], limits: PolicyLimits = .default, budget: CompileBudget? = nil
    ) throws(CompileInterrupted) -> DecisionTables {
        var b = TableBuilder(set: set)
        return try b.run(sourceHash: sourceHash, limits: limits, budget: budget)
    }

    private mutating func run(
        sourceHash: [UInt8], limits: PolicyLimits, budget: CompileBudget?
    ) throws(CompileInterrupted) -> DecisionTables {
        let rules = set.rules.map { r in
            RuleInfo(
                id: r.id, action: r.action, rate: r.rule.effectiveRate, ttlMilliseconds: r.rule.effectiveTTL.milliseconds,
                file: r.rule.span.start.file, line: Int32(r.rule.span.start.line), column: Int32(r.rule.span.start.column))
        }

        // 1. Classes.
        var classes: [[Int32: Int32]] = []  // rule → expression (-1 none), per class
        var classIndex: [[Int32]: Int32] = [:]
        /// The flattened (rule, expression) pairs of the rules `rules` whose residual condition
        /// for `identity` is not false: the key that identities of one class share.
        func view(_ identity: ResolvedIdentity, _ rules: some Sequence<ResolvedRule>) -> [Int32] {
            var v: [Int32] = []
            for rule in rules {
                switch rule.rule.condition.map({ partial($0, identity) }) ?? .constant(true) {
                case .constant(false): continue
                case .constant(true): v += [Int32(rule.index), -1]
                case .time(let e): v += [Int32(rule.index), intern(e)]
                }
            }
            return v
        }
        func classOf(_ v: [Int32]) -> Int32 {
            if let existing = classIndex[v] { return existing }
            let cls = Int32(classes.count)
            classIndex[v] = cls
            var map: [Int32: Int32] = [:]
            for i in stride(from: 0, to: v.count, by: 2) { map[v[i]] = v[i + 1] }
            classes.append(map)
            return cls
        }
        var identities: [IdentityEntry] = []
        for identity in set.identities {
            try budget?.check()
            let cls = classOf(view(identity, set.rules.filter { set.rule($0, appliesTo: identity) }))
            identities.append(
                IdentityEntry(
                    name: identity.name, key: identity.key, classIndex: cls, evaluationRate: identity.evaluationRate,
                    allowedIPs: identity.decl.allowedIPs.map(\.value)))
        }
        // "Anyone": the rules whose subjects include `*`, for someone with no user, group or tag.
        // It decides traffic toward a client that no flow of the client explains (a host of the
        // origin network opening a connection to a client), which only such rules can allow.
        let nobody = ResolvedIdentity(
            name: "", key: try! PublicKey(rawBytes: [UInt8](repeating: 0, count: 32)), user: nil, tags: [], groups: [],
            evaluationRate: set.defaultRate,
            decl: IdentityDecl(name: Located("", SourceSpan(SourceLocation(file: "", line: 1, column: 1))),
                               key: Located("", SourceSpan(SourceLocation(file: "", line: 1, column: 1))), user: nil, tags: []))
        let anyoneView = view(nobody, set.rules.filter { $0.rule.subjects.contains { $0.value == .any } })
        let anyoneClass: Int32 = anyoneView.isEmpty ? -1 : classOf(anyoneView)

        // 2. Entries and address partitions.
        var v4Ranges: [(Int32, UInt128, UInt128)] = []
        var v6Ranges: [(Int32, UInt128, UInt128)] = []
        var wide: [Int32] = []
        for rule in set.rules {
            for t in rule.targets {
                let e = Int32(entries.count)
                entries.append(Entry(rule: Int32(rule.index), ports: t.ports, proto: t.proto))
                // `*` targets cover every segment; kept out of the partition, they get one port
                // table per class instead of a share of every segment's table.
                if t.source.host.value == .any {
                    wide.append(e)
                    continue
                }
                for r in t.ranges {
                    if r.family == .v4 { v4Ranges.append((e, r.lower, r.upper)) } else { v6Ranges.append((e, r.lower, r.upper)) }
                }
            }
        }
        var size = TableSize(limits: limits, budget: budget)
        let (v4Starts128, v4Active) = try Self.partition(v4Ranges, max: UInt128(UInt32.max), &size)
        let (v6Starts, v6Active) = try Self.partition(v6Ranges, max: .max, &size)
        try size.check(classes: classes.count, segments: v4Starts128.count + v6Starts.count)

        // 3. Port tables per class and distinct active set.
        var v4Segments = [Int32](repeating: -1, count: classes.count * v4Starts128.count)
        var v6Segments = [Int32](repeating: -1, count: classes.count * v6Starts.count)
        for (c, ruleMap) in classes.enumerated() {
            var memo: [Int: Int32] = [:]
            for (segments, starts, active) in [(0, v4Starts128.count, v4Active), (1, v6Starts.count, v6Active)] {
                for seg in 0..<starts {
                    let (setId, members) = active.segments[seg]
                    let table: Int32
                    if let known = memo[setId * 2 + segments] {
                        table = known
                    } else {
                        try budget?.check()
                        var filtered: [Candidate2] = []
                        for e in members {
                            if let expr = ruleMap[entries[Int(e)].rule] { filtered.append(Candidate2(entry: e, expression: expr)) }
                        }
                        table = filtered.isEmpty ? -1 : portTable(filtered)
                        memo[setId * 2 + segments] = table
                    }
                    if segments == 0 { v4Segments[c * starts + seg] = table } else { v6Segments[c * starts + seg] = table }
                }
            }
        }

        var classWide = [Int32](repeating: -1, count: classes.count)
        for (c, ruleMap) in classes.enumerated() {
            let filtered = wide.compactMap { e in ruleMap[entries[Int(e)].rule].map { Candidate2(entry: e, expression: $0) } }
            if !filtered.isEmpty { classWide[c] = portTable(filtered) }
        }

        var tables = DecisionTables(
            sourceHash: sourceHash, policyNames: set.parsed.files.map(\.name.value), rules: rules, identities: identities,
            classCount: classes.count, defaultTTLMilliseconds: set.defaultTTL.milliseconds, defaultRate: set.defaultRate,
            zones: zones, atoms: atoms, expressions: expressions, cells: cells, portTables: portTables,
            v4Starts: v4Starts128.map { UInt32(truncatingIfNeeded: $0) }, v6Starts: v6Starts, v4Segments: v4Segments,
            v6Segments: v6Segments, classWide: classWide)
        tables.anyoneClass = anyoneClass
        tables.blockedSources = Array(Set(set.parsed.files.flatMap { $0.blocks.map(\.value) }))
            .sorted { ($0.address, $0.length) < ($1.address, $1.length) }
        return tables
    }

    /// The segments of one family's address space and, for each, the entries that cover it
    /// (as an id of the distinct set, and its members).
    private struct Active {
        var segments: [(Int, [Int32])]
    }

    private static func partition(
        _ ranges: [(Int32, UInt128, UInt128)], max: UInt128, _ size: inout TableSize
    ) throws(CompileInterrupted) -> ([UInt128], Active) {
        var points: Set<UInt128> = [0]
        for (_, lo, hi) in ranges {
            points.insert(lo)
            if hi < max { points.insert(hi + 1) }
        }
        let starts = points.sorted()
        var position: [UInt128: Int] = [:]
        position.reserveCapacity(starts.count)
        for (i, s) in starts.enumerated() { position[s] = i }
        var adds = [[Int32]](repeating: [], count: starts.count + 1)
        var removes = [[Int32]](repeating: [], count: starts.count + 1)
        for (e, lo, hi) in ranges {
            adds[position[lo]!].append(e)
            removes[hi < max ? position[hi + 1]! : starts.count].append(e)
        }
        var counts: [Int32: Int] = [:]
        var setIds: [[Int32]: Int] = [:]
        var segments: [(Int, [Int32])] = []
        segments.reserveCapacity(starts.count)
        for i in 0..<starts.count {
            for e in removes[i] {
                counts[e]! -= 1
                if counts[e] == 0 { counts[e] = nil }
            }
            for e in adds[i] { counts[e, default: 0] += 1 }
            try size.add(members: counts.count)
            let members = counts.keys.sorted()
            let id: Int
            if let known = setIds[members] { id = known } else {
                id = setIds.count
                setIds[members] = id
            }
            segments.append((id, members))
        }
        return (starts, Active(segments: segments))
    }

    private mutating func portTable(_ candidates: [Candidate2]) -> Int32 {
        if let known = portTableIndex[candidates] { return known }
        let (tcpStarts, tcpCells) = portCells(candidates) { $0 == nil || $0 == .tcp }
        let (udpStarts, udpCells) = portCells(candidates) { $0 == nil || $0 == .udp }
        // Protocols without ports (ICMP, and any other than TCP and UDP) only match targets
        // whose ports are `*`: `host:443` means port 443, which an ICMP packet does not have.
        let portless = candidates.filter { entries[Int($0.entry)].ports == [.all] }
        let icmp = cell(portless.filter { entries[Int($0.entry)].proto == nil || entries[Int($0.entry)].proto == .icmp })
        let other = cell(portless.filter { entries[Int($0.entry)].proto == nil })
        let index = Int32(portTables.count)
        portTables.append(
            PortTable(
                tcpStarts: tcpStarts, tcpCells: tcpCells, udpStarts: udpStarts, udpCells: udpCells, icmpCell: icmp,
                otherCell: other))
        portTableIndex[candidates] = index
        return index
    }

    /// Cuts the port space at every boundary of the matching entries' port ranges, sweeping
    /// once over the boundaries so that many rules on one prefix stay cheap to compile.
    private mutating func portCells(
        _ candidates: [Candidate2], _ matches: (TransportProtocol?) -> Bool
    ) -> ([UInt16], [Int32]) {
        let relevant = candidates.filter { matches(entries[Int($0.entry)].proto) }
        var points: Set<UInt32> = [0]
        for c in relevant {
            for p in entries[Int(c.entry)].ports {
                points.insert(UInt32(p.lower))
                if p.upper < 65535 { points.insert(UInt32(p.upper) + 1) }
            }
        }
        let starts = points.sorted()
        var position: [UInt32: Int] = [:]
        for (i, s) in starts.enumerated() { position[s] = i }
        var adds = [[Int]](repeating: [], count: starts.count + 1)
        var removes = [[Int]](repeating: [], count: starts.count + 1)
        for (i, c) in relevant.enumerated() {
            for p in entries[Int(c.entry)].ports {
                adds[position[UInt32(p.lower)]!].append(i)
                removes[p.upper < 65535 ? position[UInt32(p.upper) + 1]! : starts.count].append(i)
            }
        }
        var counts: [Int: Int] = [:]
        var mergedStarts: [UInt16] = []
        var mergedCells: [Int32] = []
        for i in 0..<starts.count {
            for c in removes[i] {
                counts[c]! -= 1
                if counts[c] == 0 { counts[c] = nil }
            }
            for c in adds[i] { counts[c, default: 0] += 1 }
            let id = cell(counts.keys.map { relevant[$0] })
            // Neighbouring ranges that land in the same cell are merged.
            if mergedCells.last != id {
                mergedStarts.append(UInt16(starts[i]))
                mergedCells.append(id)
            }
        }
        return (mergedStarts, mergedCells)
    }

    private mutating func cell(_ candidates: [Candidate2]) -> Int32 {
        let key = Array(Set(candidates.map { Candidate(rule: entries[Int($0.entry)].rule, expression: $0.expression) }))
            .sorted { ($0.rule, $0.expression) < ($1.rule, $1.expression) }
        if let known = cellIndex[key] { return known }
        let index = Int32(cells.count)
        cells.append(Cell(candidates: key))
        cellIndex[key] = index
        return index
    }

    // MARK: Conditions

    private mutating func partial(_ c: Condition, _ identity: ResolvedIdentity) -> Residual {
        switch c {
        case .tag(let t): .constant(identity.tags.contains(t.value))
        case .user(let u): .constant(identity.user == u.value)
        case .group(let g): .constant(identity.groups.contains(g.value))
        case .time(let w): .time(.atom(atom(w)))
        case .not(let inner): .not(partial(inner, identity))
        case .and(let a, let b): .and(partial(a, identity), partial(b, identity))
        case .or(let a, let b): .or(partial(a, identity), partial(b, identity))
        }
    }

    private mutating func atom(_ w: TimeWindow) -> Int {
        let zone: Int32
        if let z = zoneIndex[w.zone] { zone = z } else {
            // The parser has checked the zone; an unknown one here would mean the bundle's
            // machine lacks zone data, and UTC is the only honest fallback.
            zone = Int32(zones.count)
            zones.append(ZoneTable(zone: w.zone) ?? ZoneTable(name: w.zone, transitions: [], offsets: [0]))
            zoneIndex[w.zone] = zone
        }
        let a = TimeAtom(days: w.days, startMinute: Int16(w.startMinute), endMinute: Int16(w.endMinute), zone: zone)
        if let known = atomIndex[a] { return known }
        atoms.append(a)
        atomIndex[a] = atoms.count - 1
        return atoms.count - 1
    }

    private mutating func intern(_ e: TimeExpression) -> Int32 {
        if let known = expressionIndex[e] { return known }
        let index = Int32(expressions.count)
        expressions.append(e.code)
        expressionIndex[e] = index
        return index
    }
}
