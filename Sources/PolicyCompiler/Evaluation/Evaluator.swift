import PolicyLang

extension DecisionTables {
    /// Decides whether `identity` may reach `address`:`port` over IP protocol `ipProtocol` at
    /// `milliseconds` (Unix time).
    ///
    /// Cost: a binary search over the address partition and one over the port table, then a
    /// copy of a precomputed decision; only cells with time conditions evaluate anything.
    public func decide(identity: Int?, address: IPAddress, port: UInt16, ipProtocol: UInt8, at milliseconds: Int64)
        -> Decision
    {
        guard let identity, identity >= 0, identity < identities.count else {
            return Decision(
                verdict: .deny, reason: .unknownIdentity, rules: [], overridden: [],
                ttlMilliseconds: defaultTTLMilliseconds, rate: nil, rateRule: -1,
                validUntilMilliseconds: milliseconds &+ defaultTTLMilliseconds)
        }
        return decide(class: Int(identities[identity].classIndex), address: address, port: port, ipProtocol: ipProtocol, at: milliseconds)
    }

    /// Decides for "anyone": the rules whose subjects include `*`, for a sender that is no
    /// identity (say a host of the origin network reaching a client). No such rule: default deny.
    package func decideForAnyone(address: IPAddress, port: UInt16, ipProtocol: UInt8, at milliseconds: Int64) -> Decision {
        guard anyoneClass >= 0 else {
            return Decision(
                verdict: .deny, reason: .noRuleMatched, rules: [], overridden: [], ttlMilliseconds: defaultTTLMilliseconds,
                rate: nil, rateRule: -1, validUntilMilliseconds: milliseconds &+ defaultTTLMilliseconds)
        }
        return decide(class: Int(anyoneClass), address: address, port: port, ipProtocol: ipProtocol, at: milliseconds)
    }

    private func decide(class cls: Int, address: IPAddress, port: UInt16, ipProtocol: UInt8, at milliseconds: Int64)
        -> Decision
    {
        let table: Int32
        switch address.family {
        case .v4:
            let segment = Self.segment(of: UInt32(truncatingIfNeeded: address.value), in: v4Starts)
            table = v4Segments[cls * v4Starts.count + segment]
        case .v6:
            let segment = Self.segment(of: address.value, in: v6Starts)
            table = v6Segments[cls * v6Starts.count + segment]
        }
        let cell = self.cell(table, port: port, ipProtocol: ipProtocol)
        let wide = self.cell(classWide[cls], port: port, ipProtocol: ipProtocol)
        if wide == 0 || cell == 0 {
            let only = wide == 0 ? cell : wide
            if var d = staticDecisions[Int(only)] {
                d.validUntilMilliseconds = milliseconds &+ d.ttlMilliseconds
                return d
            }
        }
        return decideWithTime(cells[Int(cell)].candidates, cells[Int(wide)].candidates, at: milliseconds)
    }

    /// The cell of a port table for a protocol and port; 0 (the empty cell) when there is no table.
    @inline(__always)
    private func cell(_ table: Int32, port: UInt16, ipProtocol: UInt8) -> Int32 {
        guard table >= 0 else { return 0 }
        return flatPorts.withUnsafeBufferPointer { f in
            let base = Int(flatPortOffsets[Int(table)])
            let tcp = Int(f[base]), udp = Int(f[base + 1])
            let start: Int, count: Int
            switch ipProtocol {
            case 6: (start, count) = (base + 4, tcp)
            case 17: (start, count) = (base + 4 + 2 * tcp, udp)
            case 1, 58: return Int32(bitPattern: f[base + 2])
            default: return Int32(bitPattern: f[base + 3])
            }
            // Binary search for the last start <= port among `count` starts (the first is 0).
            var lo = 0, hi = count
            let key = UInt32(port)
            while hi - lo > 1 {
                let mid = (lo + hi) >> 1
                if f[start + mid] <= key { lo = mid } else { hi = mid }
            }
            return Int32(bitPattern: f[start + count + lo])
        }
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

    /// The rules that matched two cells (a segment's and the class's `*` targets'), with their time
    /// conditions evaluated, and when the earliest of their windows flips.
    private func decideWithTime(_ a: [Candidate], _ b: [Candidate], at milliseconds: Int64) -> Decision {
        let seconds = milliseconds >= 0 ? milliseconds / 1000 : (milliseconds - 999) / 1000
        // The matching rules go to a stack buffer; the decision then makes its one array.
        return withUnsafeTemporaryAllocation(of: Int32.self, capacity: max(1, a.count + b.count)) { buffer in
            var n = 0
            var until = Int64.max
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
            // A rule with targets in both cells appears twice: sort, then drop repeats.
            var matching = UnsafeMutableBufferPointer(rebasing: buffer[0..<n])
            matching.sort()
            var unique = 0
            for i in 0..<n where i == 0 || matching[i] != matching[i - 1] {
                matching[unique] = matching[i]
                unique += 1
            }
            let validUntil = until == .max ? Int64.max : until &* 1000
            return combine(UnsafeBufferPointer(rebasing: matching[0..<unique]), at: milliseconds, validUntil: validUntil)
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
