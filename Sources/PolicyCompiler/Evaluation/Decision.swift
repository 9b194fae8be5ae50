import PolicyLang

/// The answer to one access question, with what the enforcer needs to cache and rate-limit it.
///
/// A plain value: it holds no reference, so making, copying and dropping one costs no retain, no
/// allocation and no call through a value witness. The rules behind it are read through the tables that made it
/// (``DecisionTables/rules(of:)``), because a decision says only where they lie.
public struct Decision: Sendable, Equatable {
    /// Why the verdict is what it is; the raw values are the words of the decision log.
    public enum Reason: String, Sendable {
        /// At least one allow rule matched and no deny did.
        case allowed
        /// A deny rule matched (it beats every allow).
        case denied
        /// Default deny: no rule matches this identity and destination.
        case noRuleMatched = "no-rule-matched"
        /// The peer's key is not in the policy's identities.
        case unknownIdentity = "unknown-identity"
    }

    /// Allow or deny.
    public var verdict: Verdict
    /// Which case of the evaluation produced the verdict.
    public var reason: Reason
    /// How long the decision may be cached, before time windows are taken into account.
    public var ttlMilliseconds: Int64
    /// For an allow: the new-flow rate of the rule the flow is charged to.
    public var rate: Rate?
    /// The rule a new flow is charged to for rate limiting, or -1.
    package var rateRule: Int32
    /// The instant (Unix milliseconds) after which the decision must be made again: now + ttl,
    /// or earlier when a time window of a matching rule opens or closes.
    public var validUntilMilliseconds: Int64
    /// Where the rules that produced the verdict, and the allows a deny overrode, lie.
    package var lists: RuleLists
}

/// Where a decision's rule lists lie, without holding them. Each list is the union of two sorted
/// runs, because a destination that both a `*` target and a specific target of a class reach
/// gets the rules of two precomputed outcomes; merging them only when someone asks for the rules
/// keeps deciding free of allocation.
package struct RuleLists: Sendable, Equatable {
    /// `start..<end` of the index's pool, or of its side pool when ``side`` is set.
    package struct Run: Sendable, Equatable {
        package var start: UInt32
        package var end: UInt32

        package static let empty = Run(start: 0, end: 0)
        package var isEmpty: Bool { start == end }

        @inline(__always)
        package init(start: UInt32, end: UInt32) {
            self.start = start
            self.end = end
        }
    }

    /// The rules that produced the verdict (every matching deny, else every matching allow).
    package var rules: Run
    package var moreRules: Run
    /// Allow rules that matched but lost to a deny.
    package var overridden: Run
    package var moreOverridden: Run
    /// The runs are in the ``SidePool`` (decisions no precomputed outcome holds: the tables' own
    /// `combine`, cells with more time conditions than the index precomputes), not the pool.
    package var side: Bool

    /// No rules at all: a default deny, an unknown identity.
    package static let none = RuleLists(rules: .empty, moreRules: .empty, overridden: .empty, moreOverridden: .empty)

    @inline(__always)
    package init(rules: Run, moreRules: Run = .empty, overridden: Run, moreOverridden: Run = .empty, side: Bool = false) {
        self.rules = rules
        self.moreRules = moreRules
        self.overridden = overridden
        self.moreOverridden = moreOverridden
        self.side = side
    }
}

extension DecisionTables {
    /// Indices (into ``rules``) of the rules that produced `decision`'s verdict, in ascending
    /// order. `decision` must come from these tables. Allocates the array: not for the packet path
    /// (see ``forEachRule(of:_:)``).
    public func rules(of decision: Decision) -> [Int32] {
        var out: [Int32] = []
        forEachRule(of: decision) { out.append($0) }
        return out
    }

    /// Allow rules that matched `decision`'s request but lost to a deny, in ascending order.
    public func overridden(of decision: Decision) -> [Int32] {
        var out: [Int32] = []
        forEach(decision.lists.overridden, decision.lists.moreOverridden, side: decision.lists.side) { out.append($0) }
        return out
    }

    /// Calls `body` with each rule behind `decision`'s verdict, in ascending order, without
    /// allocating.
    @inline(__always)
    package func forEachRule(of decision: Decision, _ body: (Int32) -> Void) {
        forEach(decision.lists.rules, decision.lists.moreRules, side: decision.lists.side, body)
    }

    /// The union of two sorted runs (a rule that both contain is given once).
    @inline(__always)
    private func forEach(_ a: RuleLists.Run, _ b: RuleLists.Run, side: Bool, _ body: (Int32) -> Void) {
        func walk(_ p: UnsafeBufferPointer<Int32>) {
            var i = Int(a.start), j = Int(b.start)
            let ie = Int(a.end), je = Int(b.end)
            while i < ie || j < je {
                if j >= je || (i < ie && p[i] < p[j]) {
                    body(p[i]); i += 1
                } else if i >= ie || p[j] < p[i] {
                    body(p[j]); j += 1
                } else {
                    body(p[i]); i += 1; j += 1
                }
            }
        }
        if side { index.sidePool.withPool(walk) } else { index.pool.withUnsafeBufferPointer(walk) }
    }
}
