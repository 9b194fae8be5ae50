import PolicyLang

/// What `decide` reads: the tables laid out again for lookup. Derived from the tables on
/// construction and on load, never written to a bundle, so the bundle format does not change.
///
/// Against reading the tables as the bundle holds them, it saves the work and the cache misses
/// that grew with the size of the policy:
/// - **Outcomes instead of cells.** A port range leads to an outcome reference: a precomputed
///   decision (32 bytes, its rule lists slices of one pool), or a cell with time conditions, whose
///   decision for every combination of its conditions' values is precomputed too. Deciding
///   evaluates the conditions and picks one; it never builds a rule list or allocates.
/// - **One step fewer.** The segment rows hold the offset of their port table in ``ports``
///   itself, and a segment without a table points at an empty one, so no lookup branches on -1.
struct DecisionIndex: Sendable {
    /// A decision without its instant: 32 bytes, so that two share a cache line.
    struct Outcome: Sendable, Equatable {
        /// The rules that made the verdict are `pool[start..<split]`, the allows a deny
        /// overrode `pool[split..<end]`; `start == end` is the default deny.
        var start: UInt32
        var split: UInt32
        var end: UInt32
        /// The rule a new flow is charged to; -1 for a deny, which is how a deny is told apart.
        var rateRule: Int32
        var ttl: Int64
        var rate: Rate
    }

    /// A cell whose rules carry time conditions: its distinct conditions, and a block of
    /// `1 << count` outcomes in which bit `j` of the offset says that condition `j` holds.
    struct TimedOutcome: Sendable {
        var expressions: UInt32
        var count: UInt32
        var outcomes: UInt32
    }

    /// The kinds of an outcome reference, in its two high bits; the rest is an index.
    enum Reference {
        /// Into ``timed``.
        static let timed: UInt32 = 0x8000_0000
        /// Into ``slowCells``: a cell with more distinct time conditions than
        /// ``maxTimedExpressions``, decided the slow way.
        static let slow: UInt32 = 0x4000_0000
        static let kinds: UInt32 = timed | slow
    }

    /// Beyond this many distinct time conditions in one cell, precomputing an outcome for every
    /// combination costs more than it saves; such cells (none in the generated sets, at most
    /// two there) evaluate and combine per decision, with one allocation.
    static let maxTimedExpressions = 6

    /// Rule lists of the outcomes, end to end.
    var pool: [Int32] = []
    /// Index 0 is the default deny, which the empty reference 0 names (in ``tables``).
    var outcomes: UnsafeMutablePointer<Outcome> { tables.outcomes }
    var timed: [TimedOutcome] = []
    /// The expressions of the timed outcomes, end to end.
    var timedExpressions: [Int32] = []
    var slowCells: [[Candidate]] = []
    /// Port tables end to end, in 32-bit words. Per table: tcp count, udp count, icmp
    /// reference, other reference, then (first port, reference) pairs for tcp and for udp: a
    /// range's reference sits beside its start, in the cache line the search ended in.
    /// Offset 0 is the empty table (every reference 0). In ``tables``.
    var ports: UnsafeMutablePointer<UInt32> { tables.ports }
    /// The first step of the segment searches: a few steps instead of 13 over 7,864 IPv4 starts
    /// and 12 over 2,503 IPv6 ones at 10,000 rules.
    var v4Radix = SegmentRadix<UInt32>()
    var v6Radix = SegmentRadix<UInt128>()
    /// `class * segments + segment` → offset of the port table in ``ports``, per family (in ``tables``).
    var v4Rows: UnsafeMutablePointer<UInt32> { tables.v4Rows }
    var v6Rows: UnsafeMutablePointer<UInt32> { tables.v6Rows }
    /// Where rows, port tables and outcomes lie.
    var tables = LookupTables(v4Rows: [], v6Rows: [], ports: [1, 1, 0, 0, 0, 0, 0, 0], outcomes: [Outcome(start: 0, split: 0, end: 0, rateRule: -1, ttl: 0, rate: Rate(count: 0, seconds: 1))])
    /// Per class: the offset in ``ports`` of its `*` targets' table (0, the empty one, if none).
    var wide: [UInt32] = []
    /// Per identity: its class, so that the first step reads 4 bytes and not an identity entry.
    var classOf: [Int32] = []
    /// Per rule: its place in the order in which a flow is charged to the most permissive
    /// matching rule (higher rate, then smaller id, then earlier rule, as `combine` picks), so
    /// that combining two outcomes compares two integers instead of two rules' rates and ids.
    var rateRank: [UInt32] = []
    /// Where decisions that no outcome holds keep their rule lists.
    var sidePool = SidePool()

    init() {}

    init(_ t: DecisionTables) {
        var b = Builder(tables: t)
        let cellRefs = t.cells.map { b.reference($0.candidates) }
        var ports: [UInt32] = [1, 1, 0, 0, 0, 0, 0, 0]
        v4Radix = SegmentRadix(t.v4Starts)
        v6Radix = SegmentRadix(t.v6Starts)
        let offsets = t.portTables.map { p -> UInt32 in
            let base = UInt32(ports.count)
            ports += [UInt32(p.tcpStarts.count), UInt32(p.udpStarts.count), cellRefs[Int(p.icmpCell)], cellRefs[Int(p.otherCell)]]
            for (start, cell) in zip(p.tcpStarts, p.tcpCells) { ports += [UInt32(start), cellRefs[Int(cell)]] }
            for (start, cell) in zip(p.udpStarts, p.udpCells) { ports += [UInt32(start), cellRefs[Int(cell)]] }
            return base
        }
        func offset(_ table: Int32) -> UInt32 { table < 0 ? 0 : offsets[Int(table)] }
        let v4Rows = t.v4Segments.map(offset)
        let v6Rows = t.v6Segments.map(offset)
        wide = t.classWide.map(offset)
        classOf = t.identities.map(\.classIndex)
        rateRank = Self.rateRanks(t.rules)

        tables = LookupTables(v4Rows: v4Rows, v6Rows: v6Rows, ports: ports, outcomes: b.outcomes)
        pool = b.pool
        timed = b.timed
        timedExpressions = b.timedExpressions
        slowCells = b.slowCells
    }

    /// ``rateRank`` for `rules`: the most permissive rule ranks highest.
    static func rateRanks(_ rules: [RuleInfo]) -> [UInt32] {
        let order = rules.indices.sorted { a, b in
            let ra = rules[a].rate.perSecond, rb = rules[b].rate.perSecond
            if ra != rb { return ra < rb }
            if rules[a].id != rules[b].id { return rules[a].id > rules[b].id }
            return a > b
        }
        var rank = [UInt32](repeating: 0, count: rules.count)
        for (place, rule) in order.enumerated() { rank[rule] = UInt32(place) }
        return rank
    }

    /// Interns outcomes, timed outcomes and their rule lists while the index is built.
    private struct Builder {
        let tables: DecisionTables
        var pool: [Int32] = []
        var outcomes: [Outcome] = []
        var outcomeIndex: [[Int32]: UInt32] = [:]
        var timed: [TimedOutcome] = []
        var timedExpressions: [Int32] = []
        var slowCells: [[Candidate]] = []
        var references: [[Candidate]: UInt32] = [:]

        init(tables: DecisionTables) {
            self.tables = tables
            _ = outcome([])
        }

        /// The outcome of exactly these matching rules (sorted, without repeats).
        mutating func outcome(_ matching: [Int32]) -> UInt32 {
            if let known = outcomeIndex[matching] { return known }
            let d = tables.combination(matching)
            let start = UInt32(pool.count)
            pool += d.ordered
            let split = start + UInt32(d.denyCount == 0 ? d.ordered.count : d.denyCount)
            let index = UInt32(outcomes.count)
            outcomes.append(
                Outcome(
                    start: start, split: split, end: UInt32(pool.count), rateRule: d.rateRule,
                    ttl: d.ttlMilliseconds, rate: d.rate ?? Rate(count: 0, seconds: 1)))
            outcomeIndex[matching] = index
            return index
        }

        /// The reference for a cell with these candidates.
        mutating func reference(_ candidates: [Candidate]) -> UInt32 {
            if let known = references[candidates] { return known }
            let reference: UInt32
            let conditions = Array(Set(candidates.lazy.filter { $0.expression >= 0 }.map(\.expression))).sorted()
            if conditions.isEmpty {
                reference = outcome(Array(Set(candidates.map(\.rule))).sorted())
            } else if conditions.count > DecisionIndex.maxTimedExpressions {
                reference = Reference.slow | UInt32(slowCells.count)
                slowCells.append(candidates)
            } else {
                // The outcome for each combination of the conditions' values.
                let block = (0..<(1 << conditions.count)).map { mask in
                    let holding = candidates.filter { c in
                        c.expression < 0 || mask & (1 << conditions.firstIndex(of: c.expression)!) != 0
                    }
                    return outcomes[Int(outcome(Array(Set(holding.map(\.rule))).sorted()))]
                }
                reference = Reference.timed | UInt32(timed.count)
                timed.append(
                    TimedOutcome(
                        expressions: UInt32(timedExpressions.count), count: UInt32(conditions.count),
                        outcomes: UInt32(outcomes.count)))
                timedExpressions += conditions
                outcomes += block
            }
            references[candidates] = reference
            return reference
        }
    }
}
