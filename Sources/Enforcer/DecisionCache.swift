/// A bounded cache of decisions by flow: a fixed array with open addressing, allocated once.
///
/// A hit reads one slot group and allocates nothing. An entry carries the policy generation that
/// made it, so that loading a new policy empties the cache at once without touching it. Entries
/// outlive their decision's validity as proof that a flow exists, so that its replies pass until
/// the flow goes idle or is pushed out by newer flows.
struct DecisionCache: Sendable {
    struct Entry: Sendable {
        var key: FlowKey
        var allowed: Bool
        /// For a deny: whether a deny rule made it (else no rule matched), for the drop counters.
        var explicitDeny: Bool
        /// The flow was opened toward the client (allowed by a `*` rule), not by the client.
        var towardClient: Bool
        /// The rule a new flow was charged to, or -1.
        var rule: Int32
        /// Until when (Unix ms) the decision may be reused without asking the tables again.
        var validUntil: Int64
        /// When a packet of the flow was last seen (Unix ms), for idle expiry and eviction.
        var lastSeen: Int64
        /// The policy generation the decision was made under; 0 marks an empty slot.
        var generation: UInt64
    }

    private var entries: [Entry]
    private let mask: Int
    /// Slots probed per lookup; a full group evicts its least recently seen entry.
    static let probes = 8

    /// Creates a cache that holds at least `capacity` flows (rounded up to a power of two).
    init(capacity: Int) {
        var size = 16
        while size < capacity { size <<= 1 }
        let empty = Entry(
            key: FlowKey(peer: 0, ipProtocol: 0, isV6: false, client: 0, resource: 0, clientPort: 0, resourcePort: 0),
            allowed: false, explicitDeny: false, towardClient: false, rule: -1, validUntil: 0, lastSeen: 0, generation: 0)
        entries = [Entry](repeating: empty, count: size)
        mask = size - 1
    }

    var capacity: Int { entries.count }

    /// The entry for `key`, whatever its generation or validity, if the cache still holds it.
    @inline(__always)
    func lookup(_ key: FlowKey) -> Entry? {
        let start = Int(truncatingIfNeeded: key.slotHash) & mask
        return entries.withUnsafeBufferPointer { e in
            for i in 0..<Self.probes {
                let slot = (start + i) & mask
                if e[slot].generation != 0 && e[slot].key == key { return e[slot] }
            }
            return nil
        }
    }

    /// The entry for `key`, marked as seen at `now`: one probe for the common case of a hit.
    @inline(__always)
    mutating func lookup(_ key: FlowKey, touchingAt now: Int64) -> Entry? {
        let start = Int(truncatingIfNeeded: key.slotHash) & mask
        return entries.withUnsafeMutableBufferPointer { e in
            for i in 0..<Self.probes {
                let slot = (start + i) & mask
                if e[slot].generation != 0 && e[slot].key == key {
                    let found = e[slot]
                    e[slot].lastSeen = now
                    return found
                }
            }
            return nil
        }
    }

    /// Marks the flow as seen now, if it is cached.
    @inline(__always)
    mutating func touch(_ key: FlowKey, at now: Int64) {
        let start = Int(truncatingIfNeeded: key.slotHash) & mask
        entries.withUnsafeMutableBufferPointer { e in
            for i in 0..<Self.probes {
                let slot = (start + i) & mask
                if e[slot].generation != 0 && e[slot].key == key {
                    e[slot].lastSeen = now
                    return
                }
            }
        }
    }

    /// Stores an entry, replacing the same key, else an empty slot, else the group's least
    /// recently seen entry.
    mutating func store(_ entry: Entry) {
        let start = Int(truncatingIfNeeded: entry.key.slotHash) & mask
        entries.withUnsafeMutableBufferPointer { e in
            var victim = start
            for i in 0..<Self.probes {
                let slot = (start + i) & mask
                if e[slot].generation == 0 || e[slot].key == entry.key {
                    e[slot] = entry
                    return
                }
                if e[slot].lastSeen < e[victim].lastSeen { victim = slot }
            }
            e[victim] = entry
        }
    }

    /// Forgets every flow of one peer (when its session closes).
    mutating func removeAll(peer: UInt32) {
        entries.withUnsafeMutableBufferPointer { e in
            for i in e.indices where e[i].generation != 0 && e[i].key.peer == peer { e[i].generation = 0 }
        }
    }

    /// The number of occupied slots (for status; walks the whole table).
    var count: Int { entries.reduce(0) { $0 + ($1.generation != 0 ? 1 : 0) } }
}
