import PolicyLang

extension DecisionTables {
    /// Decides whether `identity` may reach `address`:`port` over IP protocol `ipProtocol` at
    /// `milliseconds` (Unix time).
    ///
    /// Cost: a binary search over the address partition and one over the port table, then a
    /// copy of a precomputed decision (see ``DecisionIndex``); only cells with time conditions
    /// evaluate anything, and nothing allocates or retains unless a cell has more distinct time
    /// conditions than ``DecisionIndex/maxTimedExpressions``. Read the rules behind the decision
    /// with ``rules(of:)``.
    public func decide(identity: Int?, address: IPAddress, port: UInt16, ipProtocol: UInt8, at milliseconds: Int64)
        -> Decision
    {
        guard let identity, identity >= 0, identity < index.classOf.count else {
            return Decision(
                verdict: .deny, reason: .unknownIdentity, ttlMilliseconds: defaultTTLMilliseconds, rate: nil, rateRule: -1,
                validUntilMilliseconds: milliseconds &+ defaultTTLMilliseconds, lists: .none)
        }
        return decide(class: Int(index.classOf[identity]), address: address, port: port, ipProtocol: ipProtocol, at: milliseconds)
    }

    /// Decides for "anyone": the rules whose subjects include `*`, for a sender that is no
    /// identity (say a host of the origin network reaching a client). No such rule: default deny.
    package func decideForAnyone(address: IPAddress, port: UInt16, ipProtocol: UInt8, at milliseconds: Int64) -> Decision {
        guard anyoneClass >= 0 else {
            return Decision(
                verdict: .deny, reason: .noRuleMatched, ttlMilliseconds: defaultTTLMilliseconds, rate: nil, rateRule: -1,
                validUntilMilliseconds: milliseconds &+ defaultTTLMilliseconds, lists: .none)
        }
        return decide(class: Int(anyoneClass), address: address, port: port, ipProtocol: ipProtocol, at: milliseconds)
    }

    private func decide(class cls: Int, address: IPAddress, port: UInt16, ipProtocol: UInt8, at milliseconds: Int64)
        -> Decision
    {
        let (specific, wide) = { (ports: UnsafeBufferPointer<UInt32>) -> (UInt32, UInt32) in
            let table: UInt32
            switch address.family {
            case .v4:
                let segment = v4Starts.withUnsafeBufferPointer { index.v4Radix.segment(of: UInt32(truncatingIfNeeded: address.value), in: $0) }
                table = index.v4Rows[cls * v4Starts.count + segment]
            case .v6:
                let segment = v6Starts.withUnsafeBufferPointer { index.v6Radix.segment(of: address.value, in: $0) }
                table = index.v6Rows[cls * v6Starts.count + segment]
            }
            return (
                Self.reference(ports, table, port: port, ipProtocol: ipProtocol),
                Self.reference(ports, index.wide[cls], port: port, ipProtocol: ipProtocol)
            )
        }(UnsafeBufferPointer(start: index.ports, count: index.tables.portWords))
        if (specific | wide) & DecisionIndex.Reference.slow != 0 {
            let a = specific & DecisionIndex.Reference.slow != 0 ? index.slowCells[Int(specific & ~DecisionIndex.Reference.kinds)] : []
            let b = wide & DecisionIndex.Reference.slow != 0 ? index.slowCells[Int(wide & ~DecisionIndex.Reference.kinds)] : []
            if a.isEmpty || b.isEmpty {
                // One side slow: the other side's rules (an outcome, once its time is resolved) join it.
                var until = Int64.max
                let other = outcome(a.isEmpty ? specific : wide, at: milliseconds, until: &until)
                let o = index.outcomes[Int(other)]
                let rules = index.pool[Int(o.start)..<Int(o.end)].map { Candidate(rule: $0, expression: -1) }
                return decideWithTime(a.isEmpty ? b : a, rules, at: milliseconds, until: until)
            }
            return decideWithTime(a, b, at: milliseconds)
        }
        var until = Int64.max
        let a = outcome(specific, at: milliseconds, until: &until)
        let b = outcome(wide, at: milliseconds, until: &until)
        let validUntil = until == .max ? Int64.max : until &* 1000
        if a != 0 && b != 0 { return combine(a, b, at: milliseconds, validUntil: validUntil) }
        let o = index.outcomes[Int(a | b)]
        return decision(o, validUntil: min(validUntil, milliseconds &+ o.ttl))
    }

    /// Two outcomes combined: a destination that both a `*` target and a specific target of the
    /// class reach. The verdict, lifetime and charged rule follow from the two outcomes as
    /// ``combination(_:)-([Int32])`` finds them over the union of their rules (deny beats
    /// allow, the shortest lifetime of the winning side, the most permissive allow); the rule
    /// lists stay where they are, two runs of the pool each, so nothing is allocated.
    @inline(__always)
    private func combine(_ a: UInt32, _ b: UInt32, at milliseconds: Int64, validUntil: Int64) -> Decision {
        let x = index.outcomes[Int(a)], y = index.outcomes[Int(b)]
        // An empty side (a timed block's outcome when none of its conditions holds) adds nothing.
        if x.start == x.end { return decision(y, validUntil: min(validUntil, milliseconds &+ y.ttl)) }
        if y.start == y.end { return decision(x, validUntil: min(validUntil, milliseconds &+ x.ttl)) }
        let xDenies = x.rateRule < 0, yDenies = y.rateRule < 0
        if xDenies || yDenies {
            // A deny side's rules are its denies and its overridden its allows; an allow side's rules are allows.
            let ttl = min(xDenies ? x.ttl : .max, yDenies ? y.ttl : .max)
            let lists = RuleLists(
                rules: xDenies ? .init(start: x.start, end: x.split) : .empty,
                moreRules: yDenies ? .init(start: y.start, end: y.split) : .empty,
                overridden: xDenies ? .init(start: x.split, end: x.end) : .init(start: x.start, end: x.split),
                moreOverridden: yDenies ? .init(start: y.split, end: y.end) : .init(start: y.start, end: y.split))
            return Decision(
                verdict: .deny, reason: .denied, ttlMilliseconds: ttl, rate: nil, rateRule: -1,
                validUntilMilliseconds: min(validUntil, milliseconds &+ ttl), lists: lists)
        }
        let ttl = min(x.ttl, y.ttl)
        let w = index.rateRank[Int(x.rateRule)] >= index.rateRank[Int(y.rateRule)] ? x : y
        return Decision(
            verdict: .allow, reason: .allowed, ttlMilliseconds: ttl, rate: w.rate, rateRule: w.rateRule,
            validUntilMilliseconds: min(validUntil, milliseconds &+ ttl),
            lists: RuleLists(rules: .init(start: x.start, end: x.split), moreRules: .init(start: y.start, end: y.split), overridden: .empty))
    }

    /// The first `n` of `buffer` sorted and without repeats (a rule with targets on both sides
    /// appears twice).
    private static func sortedUnique(_ buffer: UnsafeMutableBufferPointer<Int32>, _ n: Int) -> UnsafeBufferPointer<Int32> {
        var matching = UnsafeMutableBufferPointer(rebasing: buffer[0..<n])
        matching.sort()
        var unique = 0
        for i in 0..<n where i == 0 || matching[i] != matching[i - 1] {
            matching[unique] = matching[i]
            unique += 1
        }
        return UnsafeBufferPointer(rebasing: matching[0..<unique])
    }

    /// The untimed outcome a reference (not a slow one) ends in at `milliseconds`: itself, or
    /// the one its time conditions pick; `until` is lowered to when one of them flips (seconds).
    @inline(__always)
    private func outcome(_ reference: UInt32, at milliseconds: Int64, until: inout Int64) -> UInt32 {
        guard reference & DecisionIndex.Reference.timed != 0 else { return reference }
        let t = index.timed[Int(reference & ~DecisionIndex.Reference.kinds)]
        let seconds = milliseconds >= 0 ? milliseconds / 1000 : (milliseconds - 999) / 1000
        var mask: UInt32 = 0
        for j in 0..<Int(t.count) {
            let (holds, flips) = evaluate(expression: Int(index.timedExpressions[Int(t.expressions) + j]), at: seconds)
            until = min(until, flips)
            if holds { mask |= 1 << j }
        }
        return t.outcomes + mask
    }

    /// A precomputed outcome as a decision valid until `validUntil`.
    @inline(__always)
    private func decision(_ o: DecisionIndex.Outcome, validUntil: Int64) -> Decision {
        let allowed = o.rateRule >= 0
        return Decision(
            verdict: allowed ? .allow : .deny, reason: allowed ? .allowed : (o.start == o.end ? .noRuleMatched : .denied),
            ttlMilliseconds: o.ttl, rate: allowed ? o.rate : nil, rateRule: o.rateRule, validUntilMilliseconds: validUntil,
            lists: RuleLists(rules: .init(start: o.start, end: o.split), overridden: .init(start: o.split, end: o.end)))
    }

    /// The outcome reference of a port table (at `table` in the index's ports) for a protocol and port.
    @inline(__always)
    private static func reference(_ f: UnsafeBufferPointer<UInt32>, _ table: UInt32, port: UInt16, ipProtocol: UInt8) -> UInt32 {
        let base = Int(table)
        let tcp = Int(f[base]), udp = Int(f[base + 1])
        let start: Int, count: Int
        switch ipProtocol {
        case 6: (start, count) = (base + 4, tcp)
        case 17: (start, count) = (base + 4 + 2 * tcp, udp)
        case 1, 58: return f[base + 2]
        default: return f[base + 3]
        }
        // Binary search for the last start <= port among `count` (start, reference) pairs (the first start is 0).
        var lo = 0, hi = count
        let key = UInt32(port)
        while hi - lo > 1 {
            let mid = (lo + hi) >> 1
            if f[start + 2 * mid] <= key { lo = mid } else { hi = mid }
        }
        return f[start + 2 * lo + 1]
    }

    /// Decides for a peer by its WireGuard public key; unknown keys get `unknownIdentity`.
    public func decide(key: PublicKey, address: IPAddress, port: UInt16, ipProtocol: UInt8, at milliseconds: Int64)
        -> Decision
    {
        decide(identity: identity(forKey: key), address: address, port: port, ipProtocol: ipProtocol, at: milliseconds)
    }

    /// Decides a ``Request`` for an identity named in the policy.
    public func decide(identityNamed name: String, _ request: Request, at milliseconds: Int64) -> Decision {
        decide(
            identity: identity(named: name), address: request.address, port: request.port,
            ipProtocol: request.proto.ipProtocolNumber, at: milliseconds)
    }

    /// The rules of two cells' candidates whose time conditions hold now, combined, valid until
    /// the earliest of their windows (or `until`, in seconds) flips: the way of cells with more
    /// time conditions than the index precomputes (``DecisionIndex/maxTimedExpressions``).
    private func decideWithTime(_ a: [Candidate], _ b: [Candidate], at milliseconds: Int64, until: Int64 = .max) -> Decision {
        let seconds = milliseconds >= 0 ? milliseconds / 1000 : (milliseconds - 999) / 1000
        // The matching rules go to a stack buffer; the decision then makes its one array.
        return withUnsafeTemporaryAllocation(of: Int32.self, capacity: max(1, a.count + b.count)) { buffer in
            var n = 0
            var until = until
            func consider(_ c: Candidate) {
                if c.expression >= 0 {
                    let (holds, flips) = evaluate(expression: Int(c.expression), at: seconds)
                    until = min(until, flips)
                    guard holds else { return }
                }
                buffer[n] = c.rule
                n += 1
            }
            for c in a { consider(c) }
            for c in b { consider(c) }
            let validUntil = until == .max ? Int64.max : until &* 1000
            return combine(Self.sortedUnique(buffer, n), at: milliseconds, validUntil: validUntil)
        }
    }

    /// Runs an expression's postfix code on a stack of bits.
    func evaluate(expression: Int, at seconds: Int64) -> (Bool, Int64) {
        var stack: UInt64 = 0
        var until = Int64.max
        for op in expressions[expression] {
            switch op {
            case TimeExpression.Opcode.not:
                stack ^= 1
            case TimeExpression.Opcode.and:
                let b = stack & 1
                stack >>= 1
                stack = (stack & ~1) | (stack & b)
            case TimeExpression.Opcode.or:
                let b = stack & 1
                stack >>= 1
                stack |= b
            default:
                let atom = atoms[Int(op)]
                let (open, flips) = atom.evaluate(at: seconds, zone: zones[Int(atom.zone)])
                until = min(until, flips)
                stack = stack << 1 | (open ? 1 : 0)
            }
        }
        return (stack & 1 == 1, until)
    }

    /// Index of the range that holds `value`, given sorted range starts beginning with 0.
    @inline(__always)
    static func segment<T: FixedWidthInteger>(of value: T, in starts: [T]) -> Int {
        starts.withUnsafeBufferPointer { s in
            var lo = 0, hi = s.count
            while hi - lo > 1 {
                let mid = (lo + hi) >> 1
                if s[mid] <= value { lo = mid } else { hi = mid }
            }
            return lo
        }
    }
}
