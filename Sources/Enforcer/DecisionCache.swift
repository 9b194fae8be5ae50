import Foundation

/// A bounded cache of decisions by flow: a fixed table with open addressing, allocated once.
///
/// A hit reads one 64-byte entry, in one cache line, and allocates nothing. An entry carries the
/// policy generation that made it, so that loading a new policy empties the cache at once
/// without touching it. Entries outlive their decision's validity as proof that a flow exists, so
/// that its replies pass until the flow goes idle or is pushed out by newer flows.
///
/// The table is raw memory aligned to its entries' lines (and, on Linux, offered huge pages, so
/// that flows spread over megabytes do not each cost a TLB miss), owned by one ``Storage``. Not
/// copy-on-write: copies of the struct share the table, and the enforcer is its one owner.
struct DecisionCache: @unchecked Sendable {
    struct Entry: Sendable {
        var key: FlowKey
        /// ``Flags``.
        var flags: UInt8
        /// The low 32 bits of the policy generation the decision was made under. A generation
        /// 2^32 reloads older would pass for the current one; its decision would have expired
        /// long before (reloads take milliseconds, decisions live seconds).
        var generation: UInt32
        /// Until when (Unix ms) the decision may be reused without asking the tables again.
        var validUntil: Int64
        /// When a packet of the flow was last seen (Unix ms), for idle expiry and eviction.
        var lastSeen: Int64

        enum Flags {
            /// The slot holds an entry.
            static let occupied: UInt8 = 1
            static let allowed: UInt8 = 2
            /// For a deny: a deny rule made it (else no rule matched), for the drop counters.
            static let explicitDeny: UInt8 = 4
            /// The flow was opened toward the client (allowed by a `*` rule), not by the client.
            static let towardClient: UInt8 = 8
        }

        init(
            key: FlowKey, allowed: Bool, explicitDeny: Bool, towardClient: Bool, validUntil: Int64, lastSeen: Int64,
            generation: UInt64
        ) {
            self.key = key
            flags = Flags.occupied | (allowed ? Flags.allowed : 0) | (explicitDeny ? Flags.explicitDeny : 0)
                | (towardClient ? Flags.towardClient : 0)
            self.generation = UInt32(truncatingIfNeeded: generation)
            self.validUntil = validUntil
            self.lastSeen = lastSeen
        }

        var occupied: Bool { flags & Flags.occupied != 0 }
        var allowed: Bool { flags & Flags.allowed != 0 }
        var explicitDeny: Bool { flags & Flags.explicitDeny != 0 }
        var towardClient: Bool { flags & Flags.towardClient != 0 }

        /// Whether the entry was made under generation `number`.
        @inline(__always)
        func made(under number: UInt64) -> Bool { generation == UInt32(truncatingIfNeeded: number) }
    }

    /// Owns the table's memory.
    final class Storage: @unchecked Sendable {
        let entries: UnsafeMutablePointer<Entry>
        let count: Int
        private let bytes: Int

        init(count: Int) {
            self.count = count
            bytes = count * MemoryLayout<Entry>.stride
            // Huge-page alignment for tables of 2 MiB and more, line alignment below.
            let alignment = bytes >= 1 << 21 ? 1 << 21 : 64
            var raw: UnsafeMutableRawPointer?
            guard posix_memalign(&raw, alignment, bytes) == 0, let raw else { fatalError("cannot allocate the flow cache (\(bytes) bytes)") }
            #if os(Linux)
                if alignment == 1 << 21 { _ = madvise(raw, bytes, Int32(MADV_HUGEPAGE)) }
            #endif
            memset(raw, 0, bytes)  // flags 0: every slot empty
            entries = raw.bindMemory(to: Entry.self, capacity: count)
        }

        deinit {
            free(UnsafeMutableRawPointer(entries))
        }
    }

    private let storage: Storage
    private let entries: UnsafeMutablePointer<Entry>
    private let mask: Int
    /// Slots probed per lookup; a full group evicts its least recently seen entry.
    static let probes = 8

    /// Creates a cache that holds at least `capacity` flows (rounded up to a power of two).
    init(capacity: Int) {
        var size = 16
        while size < capacity { size <<= 1 }
        storage = Storage(count: size)
        entries = storage.entries
        mask = size - 1
    }

    var capacity: Int { storage.count }

    /// The slot holding `key`, if any.
    @inline(__always)
    private func slot(of key: FlowKey) -> Int? {
        let start = Int(truncatingIfNeeded: key.slotHash) & mask
        for i in 0..<Self.probes {
            let slot = (start &+ i) & mask
            if entries[slot].occupied && entries[slot].key == key { return slot }
        }
        return nil
    }

    /// The entry for `key`, whatever its generation or validity, if the cache still holds it.
    @inline(__always)
    func lookup(_ key: FlowKey) -> Entry? {
        slot(of: key).map { entries[$0] }
    }

    /// The entry for `key`, marked as seen at `now`: one probe for the common case of a hit.
    @inline(__always)
    func lookup(_ key: FlowKey, touchingAt now: Int64) -> Entry? {
        guard let slot = slot(of: key) else { return nil }
        let found = entries[slot]
        entries[slot].lastSeen = now
        return found
    }

    /// Marks the flow as seen now, if it is cached.
    @inline(__always)
    func touch(_ key: FlowKey, at now: Int64) {
        if let slot = slot(of: key) { entries[slot].lastSeen = now }
    }

    /// Stores an entry, replacing the same key, else an empty slot, else the group's least
    /// recently seen entry.
    func store(_ entry: Entry) {
        let start = Int(truncatingIfNeeded: entry.key.slotHash) & mask
        var victim = start
        for i in 0..<Self.probes {
            let slot = (start &+ i) & mask
            if !entries[slot].occupied || entries[slot].key == entry.key {
                entries[slot] = entry
                return
            }
            if entries[slot].lastSeen < entries[victim].lastSeen { victim = slot }
        }
        entries[victim] = entry
    }

    /// Forgets every flow of one peer (when its session closes).
    func removeAll(peer: UInt32) {
        for i in 0..<storage.count where entries[i].occupied && entries[i].key.peer == peer { entries[i].flags = 0 }
    }

    /// The number of occupied slots (for status; walks the whole table).
    var count: Int { (0..<storage.count).reduce(0) { $0 + (entries[$1].occupied ? 1 : 0) } }
}
