import PolicyLang

/// Compares two sets of decision tables cell by cell and returns the regions of requests whose
/// verdict differs, named and merged.
///
/// The tables already partition the request space: identities into classes, each family's
/// addresses into segments, ports into ranges per protocol, and time into the windows the
/// cells' conditions name. Overlaying the two partitions (merging the segment starts of both
/// sides, then the port starts of the four port tables in play) gives cells in which both sides
/// are constant; comparing them is exact, with no sampling. Equal inputs are computed once:
/// (port tables) and (cells) pairs are memoised, so the cost follows the number of distinct
/// pairs rather than identities × segments × ports.
struct RegionComparer {
    /// One side: its tables, and its atoms as windows.
    struct Side {
        var tables: DecisionTables
        var windows: [TimeWindow]
        /// The IPv4 segment starts widened, so that both families share one walk.
        var v4Starts: [UInt128]
        /// What each cell decides when it needs no clock.
        var kinds: [CellKind]

        init(_ tables: DecisionTables) {
            self.tables = tables
            v4Starts = tables.v4Starts.map { UInt128($0) }
            kinds = tables.cells.map { cell in
                if cell.candidates.contains(where: { $0.expression >= 0 }) { return .timed }
                if cell.candidates.contains(where: { tables.rules[Int($0.rule)].action == .deny }) { return .deny }
                return cell.candidates.isEmpty ? .none : .allow
            }
            windows = tables.atoms.map { a in
                TimeWindow(days: a.days, startMinute: Int(a.startMinute), endMinute: Int(a.endMinute), zone: tables.zones[Int(a.zone)].name)
            }
        }
    }

    /// A cell's decision without a clock, ordered so that two cells combine by `max`: a deny
    /// beats an allow, which beats nothing; a time condition needs the full evaluation.
    enum CellKind: UInt8, Comparable {
        case none, allow, deny, timed
        static func < (a: CellKind, b: CellKind) -> Bool { a.rawValue < b.rawValue }
    }

    /// What part of the request space to look at.
    struct Scope {
        /// Address ranges to restrict to; nil for every address.
        var addresses: [AddressSpan]?
        var ports: PortRange = .all
        var protocols: Set<RegionProtocol> = Set(RegionProtocol.allCases)
    }

    /// A row of the identity axis: one identity, or "anyone".
    struct Row {
        var name: String?
        var oldClass: Int32
        var newClass: Int32
        /// The identity is missing on that side (so every request of it is refused there).
        var oldUnknown: Bool
        var newUnknown: Bool
    }

    /// A differing outcome of one cell pair.
    struct Outcome: Hashable {
        var time: TimeCondition
        var before: RegionVerdict
        var after: RegionVerdict
    }

    /// The part of a region that does not depend on the identity row or addresses.
    struct PortOutcome: Hashable {
        var proto: RegionProtocol
        var ports: PortRange
        /// Index into `outcomes`: outcomes are interned, so that comparing and hashing them is cheap.
        var outcome: Int32
    }

    private struct CellKey: Hashable {
        var oldA, oldB, newA, newB: Int32
        var unknown: UInt8
    }

    private struct TableKey: Hashable {
        var oldA, oldB, newA, newB: Int32
        var unknown: UInt8
    }

    let old: Side
    let new: Side
    let scope: Scope
    private var space: WindowSpace
    private var cellMemo: [CellKey: [Int32]] = [:]
    private var outcomes: [Outcome] = []
    private var outcomeIndex: [Outcome: Int32] = [:]
    /// Per side and cell: the ids of its distinct (verdict, condition) pairs, with windows named
    /// the same on both sides; and per pair of cells, an id of the union of those sets. Equal
    /// signatures decide alike at every instant, whatever the rules are called.
    private var oldPairs: [[Int32]] = []
    private var newPairs: [[Int32]] = []
    private var signatureIDs: [[Int32]: Int32] = [:]
    private var oldSignatures: [UInt64: Int32] = [:]
    private var newSignatures: [UInt64: Int32] = [:]
    private var tableMemo: [TableKey: Int] = [:]
    private var tableOutcomes: [[PortOutcome]] = []

    init(old: DecisionTables, new: DecisionTables, scope: Scope = Scope()) {
        self.old = Side(old)
        self.new = Side(new)
        self.scope = scope
        space = WindowSpace(zones: old.zones + new.zones)
        var windowIDs: [TimeWindow: Int32] = [:]
        var pairIDs: [[Int32]: Int32] = [:]
        func pairs(_ side: Side) -> [[Int32]] {
            side.tables.cells.map { cell in
                var ids = Set<Int32>()
                for c in cell.candidates {
                    var pair: [Int32] = [side.tables.rules[Int(c.rule)].action == .deny ? 1 : 0]
                    if c.expression >= 0 {
                        for op in side.tables.expressions[Int(c.expression)] {
                            if op < 0 { pair.append(op) } else {
                                let w = side.windows[Int(op)]
                                if windowIDs[w] == nil { windowIDs[w] = Int32(windowIDs.count) }
                                pair.append(windowIDs[w]!)
                            }
                        }
                    }
                    if pairIDs[pair] == nil { pairIDs[pair] = Int32(pairIDs.count) }
                    ids.insert(pairIDs[pair]!)
                }
                return ids.sorted()
            }
        }
        oldPairs = pairs(self.old)
        newPairs = pairs(self.new)
    }

    /// The signature of the union of cells `a` and `b` of one side (0 is the empty cell).
    private mutating func signature(old isOld: Bool, _ a: Int32, _ b: Int32) -> Int32 {
        let key = UInt64(UInt32(bitPattern: a)) << 32 | UInt64(UInt32(bitPattern: b))
        if let known = isOld ? oldSignatures[key] : newSignatures[key] { return known }
        let table = isOld ? oldPairs : newPairs
        let merged = b == 0 ? table[Int(a)] : a == 0 ? table[Int(b)] : Array(Set(table[Int(a)] + table[Int(b)])).sorted()
        let id: Int32
        if let known = signatureIDs[merged] { id = known } else {
            id = Int32(signatureIDs.count)
            signatureIDs[merged] = id
        }
        if isOld { oldSignatures[key] = id } else { newSignatures[key] = id }
        return id
    }

    /// Every identity of either side by key, then "anyone".
    func rows() -> [Row] {
        var rows: [Row] = []
        var seen = Set<PublicKey>()
        for e in new.tables.identities {
            seen.insert(e.key)
            let o = old.tables.identity(forKey: e.key)
            rows.append(
                Row(name: e.name, oldClass: o.map { old.tables.identities[$0].classIndex } ?? -1, newClass: e.classIndex,
                    oldUnknown: o == nil, newUnknown: false))
        }
        for e in old.tables.identities where !seen.contains(e.key) {
            rows.append(Row(name: e.name, oldClass: e.classIndex, newClass: -1, oldUnknown: false, newUnknown: true))
        }
        rows.append(Row(name: nil, oldClass: old.tables.anyoneClass, newClass: new.tables.anyoneClass, oldUnknown: false, newUnknown: false))
        return rows
    }

    /// The differing regions of the rows, merged along addresses and then across identities.
    mutating func regions(rows: [Row]) -> [DecisionRegion] {
        // Rows with the same classes on both sides decide alike: compute each pair once.
        struct Pair: Hashable {
            var oldClass, newClass: Int32
            var oldUnknown, newUnknown, anyone: Bool
        }
        var pairs: [Pair: [String]] = [:]
        var order: [Pair] = []
        for r in rows {
            let p = Pair(oldClass: r.oldClass, newClass: r.newClass, oldUnknown: r.oldUnknown, newUnknown: r.newUnknown, anyone: r.name == nil)
            if pairs[p] == nil { order.append(p) }
            pairs[p, default: []].append(contentsOf: r.name.map { [$0] } ?? [])
        }
        struct Box: Hashable {
            var addresses: AddressSpan
            var port: PortOutcome
        }
        var byBox: [Box: (names: [String], anyone: Bool)] = [:]
        var boxOrder: [Box] = []
        for p in order {
            for (span, port) in classRegions(p.oldClass, p.newClass, p.oldUnknown, p.newUnknown) {
                let box = Box(addresses: span, port: port)
                if byBox[box] == nil {
                    boxOrder.append(box)
                    byBox[box] = ([], false)
                }
                byBox[box]!.names += pairs[p]!
                if p.anyone { byBox[box]!.anyone = true }
            }
        }
        return boxOrder.map { box in
            let who = byBox[box]!
            let outcome = outcomes[Int(box.port.outcome)]
            return DecisionRegion(
                identities: who.names.sorted(), label: nil, anyone: who.anyone, addresses: box.addresses,
                proto: box.port.proto, ports: box.port.ports, time: outcome.time,
                before: outcome.before, after: outcome.after)
        }
    }

    /// For one pair of classes: (address span, port outcome) with spans merged where adjacent.
    private mutating func classRegions(_ co: Int32, _ cn: Int32, _ ou: Bool, _ nu: Bool) -> [(AddressSpan, PortOutcome)] {
        var out: [(AddressSpan, PortOutcome)] = []
        let unknown: UInt8 = (ou ? 1 : 0) | (nu ? 2 : 0)
        let oldWide = co >= 0 ? old.tables.classWide[Int(co)] : -1
        let newWide = cn >= 0 ? new.tables.classWide[Int(cn)] : -1
        for family in [IPAddress.Family.v4, .v6] {
            let oldStarts = family == .v4 ? old.v4Starts : old.tables.v6Starts
            let newStarts = family == .v4 ? new.v4Starts : new.tables.v6Starts
            let oldSegments = family == .v4 ? old.tables.v4Segments : old.tables.v6Segments
            let newSegments = family == .v4 ? new.tables.v4Segments : new.tables.v6Segments
            let top: UInt128 = family == .v4 ? UInt128(UInt32.max) : .max
            let ranges = scope.addresses.map { $0.filter { $0.family == family } } ?? [AddressSpan(family: family, lower: 0, upper: top)]
            // Open spans per port outcome, extended while segments stay adjacent.
            var open: [PortOutcome: AddressSpan] = [:]
            var finished: [(AddressSpan, PortOutcome)] = []
            for range in ranges.sorted() {
                var i = max(0, DecisionTables.segment(of: range.lower, in: oldStarts))
                var j = max(0, DecisionTables.segment(of: range.lower, in: newStarts))
                var lo = range.lower
                var previous: TableKey?
                var previousOutcomes: [PortOutcome] = []
                while true {
                    let nextOld = i + 1 < oldStarts.count ? oldStarts[i + 1] : nil
                    let nextNew = j + 1 < newStarts.count ? newStarts[j + 1] : nil
                    let next = [nextOld, nextNew].compactMap { $0 }.min()
                    let hi = min(range.upper, next.map { $0 - 1 } ?? top)
                    let key = TableKey(
                        oldA: co >= 0 ? oldSegments[Int(co) * oldStarts.count + i] : -1, oldB: oldWide,
                        newA: cn >= 0 ? newSegments[Int(cn) * newStarts.count + j] : -1, newB: newWide, unknown: unknown)
                    let outcomes: [PortOutcome]
                    if key == previous { outcomes = previousOutcomes } else {
                        outcomes = portOutcomes(key)
                        previous = key
                        previousOutcomes = outcomes
                    }
                    var live = Set<PortOutcome>()
                    for o in outcomes {
                        live.insert(o)
                        if var span = open[o], span.upper &+ 1 == lo {
                            span.upper = hi
                            open[o] = span
                        } else {
                            if let span = open[o] { finished.append((span, o)) }
                            open[o] = AddressSpan(family: family, lower: lo, upper: hi)
                        }
                    }
                    // Spans not continued here are closed.
                    for (o, span) in open where !live.contains(o) {
                        finished.append((span, o))
                        open[o] = nil
                    }
                    guard hi < range.upper, let n = next else { break }
                    lo = n
                    if nextOld == n { i += 1 }
                    if nextNew == n { j += 1 }
                }
            }
            for (o, span) in open { finished.append((span, o)) }
            out += finished
        }
        return out
    }

    /// The differing (protocol, ports, outcome) of one combination of port tables.
    private mutating func portOutcomes(_ key: TableKey) -> [PortOutcome] {
        if let known = tableMemo[key] { return tableOutcomes[known] }
        var result: [PortOutcome] = []
        // Offsets into each side's flattened port tables (see DecisionTables.flatPorts); -1: none.
        let bases = [
            key.oldA >= 0 ? Int(old.tables.flatPortOffsets[Int(key.oldA)]) : -1,
            key.oldB >= 0 ? Int(old.tables.flatPortOffsets[Int(key.oldB)]) : -1,
            key.newA >= 0 ? Int(new.tables.flatPortOffsets[Int(key.newA)]) : -1,
            key.newB >= 0 ? Int(new.tables.flatPortOffsets[Int(key.newB)]) : -1,
        ]
        let flats = [old.tables.flatPorts, old.tables.flatPorts, new.tables.flatPorts, new.tables.flatPorts]
        for proto in RegionProtocol.allCases where scope.protocols.contains(proto) {
            if proto.hasPorts {
                // Per table: where its starts begin, how many, and the index of the current range.
                var first = [Int](repeating: 0, count: 4), count = [Int](repeating: 0, count: 4), at = [Int](repeating: 0, count: 4)
                for t in 0..<4 where bases[t] >= 0 {
                    let f = flats[t], b = bases[t]
                    let tcp = Int(f[b]), udp = Int(f[b + 1])
                    (first[t], count[t]) = proto == .tcp ? (b + 4, tcp) : (b + 4 + 2 * tcp, udp)
                    // The range holding the scope's first port: the last start at or below it.
                    var i = 0
                    while i + 1 < count[t] && f[first[t] + i + 1] <= UInt32(scope.ports.lower) { i += 1 }
                    at[t] = i
                }
                func cell(_ t: Int) -> Int32 {
                    bases[t] < 0 ? 0 : Int32(bitPattern: flats[t][first[t] + count[t] + at[t]])
                }
                // Each outcome's port ranges are extended while adjacent, as address spans are.
                var open: [Int32: PortRange] = [:]
                var finished: [(PortRange, Int32)] = []
                var s = UInt32(scope.ports.lower)
                let upper = UInt32(scope.ports.upper)
                while true {
                    var next = upper + 1
                    for t in 0..<4 where bases[t] >= 0 && at[t] + 1 < count[t] {
                        next = min(next, flats[t][first[t] + at[t] + 1])
                    }
                    let e = UInt16(next - 1), lo = UInt16(s)
                    let outcomes = cellOutcomes(CellKey(oldA: cell(0), oldB: cell(1), newA: cell(2), newB: cell(3), unknown: key.unknown))
                    for o in outcomes {
                        if var range = open[o], range.upper &+ 1 == lo {
                            range.upper = e
                            open[o] = range
                        } else {
                            if let range = open[o] { finished.append((range, o)) }
                            open[o] = PortRange(lo, e)
                        }
                    }
                    if !open.isEmpty {
                        for (o, range) in open where !outcomes.contains(o) {
                            finished.append((range, o))
                            open[o] = nil
                        }
                    }
                    guard next <= upper else { break }
                    s = next
                    for t in 0..<4 where bases[t] >= 0 && at[t] + 1 < count[t] && flats[t][first[t] + at[t] + 1] == next { at[t] += 1 }
                }
                finished += open.map { ($0.value, $0.key) }
                for (range, o) in finished.sorted(by: { $0.0.lower < $1.0.lower }) {
                    result.append(PortOutcome(proto: proto, ports: range, outcome: o))
                }
            } else {
                func cell(_ t: Int) -> Int32 { bases[t] < 0 ? 0 : Int32(bitPattern: flats[t][bases[t] + (proto == .icmp ? 2 : 3)]) }
                let outcomes = cellOutcomes(CellKey(oldA: cell(0), oldB: cell(1), newA: cell(2), newB: cell(3), unknown: key.unknown))
                for o in outcomes { result.append(PortOutcome(proto: proto, ports: .all, outcome: o)) }
            }
        }
        tableMemo[key] = tableOutcomes.count
        tableOutcomes.append(result)
        return result
    }

    /// The differing outcomes of a pair of cell pairs: one, when neither side has a time
    /// condition; else one per distinct (before, after) over the combinations of windows.
    private mutating func cellOutcomes(_ key: CellKey) -> [Int32] {
        // Most cell pairs have no time condition and decide alike: settle those without hashing.
        let oldKind = key.unknown & 1 != 0 ? CellKind.none : max(old.kinds[Int(key.oldA)], old.kinds[Int(key.oldB)])
        let newKind = key.unknown & 2 != 0 ? CellKind.none : max(new.kinds[Int(key.newA)], new.kinds[Int(key.newB)])
        if oldKind != .timed && newKind != .timed && (oldKind == .allow) == (newKind == .allow) { return [] }
        if key.unknown == 0 && signature(old: true, key.oldA, key.oldB) == signature(old: false, key.newA, key.newB) { return [] }
        if let known = cellMemo[key] { return known }
        let oldCandidates = Self.union(old.tables.cells[Int(key.oldA)].candidates, old.tables.cells[Int(key.oldB)].candidates)
        let newCandidates = Self.union(new.tables.cells[Int(key.newA)].candidates, new.tables.cells[Int(key.newB)].candidates)
        var windows: [TimeWindow] = []
        var windowIndex: [TimeWindow: Int] = [:]
        func collect(_ side: Side, _ candidates: [Candidate]) {
            for c in candidates where c.expression >= 0 {
                for op in side.tables.expressions[Int(c.expression)] where op >= 0 {
                    let w = side.windows[Int(op)]
                    if windowIndex[w] == nil {
                        windowIndex[w] = windows.count
                        windows.append(w)
                    }
                }
            }
        }
        collect(old, oldCandidates)
        collect(new, newCandidates)
        var result: [Outcome] = []
        if windows.isEmpty {
            let b = verdict(old, oldCandidates, unknown: key.unknown & 1 != 0) { _ in true }
            let a = verdict(new, newCandidates, unknown: key.unknown & 2 != 0) { _ in true }
            if b.verdict != a.verdict { result.append(Outcome(time: .always, before: b, after: a)) }
        } else {
            // Sorted windows make the memo of occurring combinations shareable between cells.
            let sorted = windows.sorted { $0.description < $1.description }
            windowIndex = Dictionary(uniqueKeysWithValues: sorted.enumerated().map { ($1, $0) })
            let feasible = space.feasible(sorted)
            var groups: [[RegionVerdict]: Set<[Bool]>] = [:]
            for m in feasible {
                func holds(_ side: Side, _ expression: Int32) -> Bool {
                    var stack: [Bool] = []
                    for op in side.tables.expressions[Int(expression)] {
                        switch op {
                        case TimeExpression.Opcode.not: stack[stack.count - 1].toggle()
                        case TimeExpression.Opcode.and:
                            let b = stack.removeLast()
                            stack[stack.count - 1] = stack[stack.count - 1] && b
                        case TimeExpression.Opcode.or:
                            let b = stack.removeLast()
                            stack[stack.count - 1] = stack[stack.count - 1] || b
                        default: stack.append(m[windowIndex[side.windows[Int(op)]]!])
                        }
                    }
                    return stack.last ?? false
                }
                let b = verdict(old, oldCandidates, unknown: key.unknown & 1 != 0) { holds(old, $0) }
                let a = verdict(new, newCandidates, unknown: key.unknown & 2 != 0) { holds(new, $0) }
                if b.verdict != a.verdict { groups[[b, a], default: []].insert(m) }
            }
            for (verdicts, minterms) in groups {
                result.append(Outcome(time: TimeCondition.make(windows: sorted, holding: minterms, feasible: feasible), before: verdicts[0], after: verdicts[1]))
            }
            result.sort { $0.time.description < $1.time.description }
        }
        let ids = result.map { o in
            if let known = outcomeIndex[o] { return known }
            let id = Int32(outcomes.count)
            outcomes.append(o)
            outcomeIndex[o] = id
            return id
        }
        cellMemo[key] = ids
        return ids
    }

    private static func union(_ a: [Candidate], _ b: [Candidate]) -> [Candidate] {
        if b.isEmpty { return a }
        if a.isEmpty { return b }
        return Array(Set(a + b)).sorted { ($0.rule, $0.expression) < ($1.rule, $1.expression) }
    }

    /// Deny beats allow, as ``DecisionTables/combine`` decides; `holds` evaluates a time condition.
    private func verdict(_ side: Side, _ candidates: [Candidate], unknown: Bool, holds: (Int32) -> Bool) -> RegionVerdict {
        if unknown { return RegionVerdict(verdict: .deny, reason: .unknownIdentity, rules: []) }
        var denies: [String] = [], allows: [String] = []
        for c in candidates where c.expression < 0 || holds(c.expression) {
            let rule = side.tables.rules[Int(c.rule)]
            if rule.action == .deny { denies.append(rule.id) } else { allows.append(rule.id) }
        }
        if !denies.isEmpty { return RegionVerdict(verdict: .deny, reason: .denied, rules: Array(Set(denies)).sorted()) }
        if !allows.isEmpty { return RegionVerdict(verdict: .allow, reason: .allowed, rules: Array(Set(allows)).sorted()) }
        return RegionVerdict(verdict: .deny, reason: .noRuleMatched, rules: [])
    }
}
