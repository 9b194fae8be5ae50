import Foundation
import PolicyLang

/// The binary bundle `ztpc compile` writes and `ztpd --bundle` loads: the decision tables,
/// versioned and checksummed.
///
/// Layout: magic `ZTPBNDL\0` (8 bytes), format version (u16), reserved (u16), body length
/// (u32), SHA-256 of the sources (32), body, SHA-256 of everything before it (32). Integers are
/// little-endian. The body holds the tables' arrays in a fixed order.
package enum PolicyBundle {
    /// The first 8 bytes of every bundle: `ZTPBNDL` and a NUL.
    package static let magic: [UInt8] = Array("ZTPBNDL".utf8) + [0]
    /// The layout version this build writes and reads; another version is refused with
    /// ``LoadError/unsupportedVersion(_:)``.
    package static let formatVersion: UInt16 = 1
    static let headerSize = 8 + 2 + 2 + 4 + 32

    /// Why a file could not be loaded as a bundle.
    package enum LoadError: Error, Equatable, CustomStringConvertible {
        case notABundle
        case unsupportedVersion(UInt16)
        case truncated
        case checksumMismatch
        case inconsistent(String)

        /// The failure as one sentence for `ztpc` and the daemon's log.
        package var description: String {
            switch self {
            case .notABundle: "not a ztp policy bundle (bad magic number)"
            case .unsupportedVersion(let v):
                "bundle format version \(v) is not supported (this build reads version \(PolicyBundle.formatVersion)); recompile it with this ztpc"
            case .truncated: "bundle is truncated"
            case .checksumMismatch: "bundle is corrupt: checksum mismatch"
            case .inconsistent(let what): "bundle is corrupt: \(what)"
            }
        }
    }

    /// Serializes tables.
    package static func encode(_ t: DecisionTables) -> [UInt8] {
        var body = BinaryWriter()
        body.array(t.policyNames) { $0.string($1) }
        body.array(t.rules) { w, r in
            w.string(r.id)
            w.u8(r.action == .allow ? 1 : 0)
            w.rate(r.rate)
            w.i64(r.ttlMilliseconds)
            w.string(r.file)
            w.i32(r.line)
            w.i32(r.column)
        }
        body.array(t.identities) { w, i in
            w.string(i.name)
            w.raw(i.key.bytes)
            w.i32(i.classIndex)
            w.rate(i.evaluationRate)
            w.array(i.allowedIPs) { w, c in
                w.u8(c.address.family.rawValue)
                w.u128(c.address.value)
                w.u8(UInt8(c.length))
            }
        }
        body.u32(UInt32(t.classCount))
        body.i64(t.defaultTTLMilliseconds)
        body.rate(t.defaultRate)
        body.array(t.zones) { w, z in
            w.string(z.name)
            w.array(z.transitions) { $0.i64($1) }
            w.array(z.offsets) { $0.i32($1) }
        }
        body.array(t.atoms) { w, a in
            w.u8(a.days)
            w.u16(UInt16(bitPattern: a.startMinute))
            w.u16(UInt16(bitPattern: a.endMinute))
            w.i32(a.zone)
        }
        body.array(t.expressions) { w, e in w.array(e) { $0.i32($1) } }
        body.array(t.cells) { w, c in
            w.array(c.candidates) { w, k in
                w.i32(k.rule)
                w.i32(k.expression)
            }
        }
        body.array(t.portTables) { w, p in
            w.array(p.tcpStarts) { $0.u16($1) }
            w.array(p.tcpCells) { $0.i32($1) }
            w.array(p.udpStarts) { $0.u16($1) }
            w.array(p.udpCells) { $0.i32($1) }
            w.i32(p.icmpCell)
            w.i32(p.otherCell)
        }
        body.array(t.v4Starts) { $0.u32($1) }
        body.array(t.v6Starts) { $0.u128($1) }
        body.array(t.v4Segments) { $0.i32($1) }
        body.array(t.v6Segments) { $0.i32($1) }
        body.array(t.classWide) { $0.i32($1) }
        body.i32(t.anyoneClass)
        body.array(t.blockedSources) { w, c in
            w.u8(c.address.family.rawValue)
            w.u128(c.address.value)
            w.u8(UInt8(c.length))
        }

        var out = BinaryWriter()
        out.raw(magic)
        out.u16(formatVersion)
        out.u16(0)
        out.u32(UInt32(body.bytes.count))
        out.raw(t.sourceHash.count == 32 ? t.sourceHash : [UInt8](repeating: 0, count: 32))
        out.raw(body.bytes)
        out.raw(SHA256.hash(out.bytes))
        return out.bytes
    }

    /// Loads and validates a bundle. Every index in it is checked, so that tables from a bundle
    /// can be queried without bounds failures whatever bytes the file held.
    package static func decode(_ bytes: [UInt8]) throws(LoadError) -> DecisionTables {
        try decode(bytes, checksumChecked: false)
    }

    /// ``decode(_:)``, skipping the checksum when ``SignedBundle/split(_:)`` has just checked it
    /// over these same bytes (one pass over megabytes fewer).
    static func decode(_ bytes: [UInt8], checksumChecked: Bool) throws(LoadError) -> DecisionTables {
        guard bytes.count >= 8, Array(bytes[0..<8]) == magic else { throw .notABundle }
        var r = BinaryReader(bytes, offset: 8)
        do {
            let version = try r.u16()
            guard version == formatVersion else { throw LoadError.unsupportedVersion(version) }
            _ = try r.u16()
            let bodyLength = Int(try r.u32())
            guard bytes.count == headerSize + bodyLength + 32 else { throw LoadError.truncated }
            guard checksumChecked || SHA256.hash(bytes[0..<(headerSize + bodyLength)]).elementsEqual(bytes[(headerSize + bodyLength)...])
            else { throw LoadError.checksumMismatch }
            let sourceHash = try r.raw(32)
            var t = try decodeBody(&r, sourceHash: sourceHash)
            try validate(t)
            t.deriveIndexes()
            return t
        } catch let e as LoadError {
            throw e
        } catch {
            throw .truncated
        }
    }

    private static func decodeBody(_ r: inout BinaryReader, sourceHash: [UInt8]) throws -> DecisionTables {
        let policyNames = try r.array(minimumElementSize: 4) { r throws(BinaryReader.Truncated) in try r.string() }
        let rules = try r.array(minimumElementSize: 33) { r throws(BinaryReader.Truncated) in
            RuleInfo(
                id: try r.string(), action: try r.u8() == 1 ? .allow : .deny, rate: try r.rate(),
                ttlMilliseconds: try r.i64(), file: try r.string(), line: try r.i32(), column: try r.i32())
        }
        // Allowed IPs are checked once the list is read: the reader's closures throw only Truncated.
        let identities = try r.array(minimumElementSize: 48) { r throws(BinaryReader.Truncated) in
            (IdentityEntry(name: try r.string(), key: try readKey(&r), classIndex: try r.i32(), evaluationRate: try r.rate()),
             try r.array(minimumElementSize: 18) { r throws(BinaryReader.Truncated) in try readCIDR(&r) })
        }.map { entry, prefixes throws(LoadError) in
            var entry = entry
            entry.allowedIPs = try wellFormed(prefixes, "identity allowed IPs")
            return entry
        }
        let classCount = Int(try r.u32())
        let defaultTTL = try r.i64()
        let defaultRate = try r.rate()
        let zones = try r.array(minimumElementSize: 12) { r throws(BinaryReader.Truncated) in
            ZoneTable(
                name: try r.string(),
                transitions: try r.array(minimumElementSize: 8) { r throws(BinaryReader.Truncated) in try r.i64() },
                offsets: try r.array(minimumElementSize: 4) { r throws(BinaryReader.Truncated) in try r.i32() })
        }
        let atoms = try r.array(minimumElementSize: 9) { r throws(BinaryReader.Truncated) in
            TimeAtom(
                days: try r.u8(), startMinute: Int16(bitPattern: try r.u16()), endMinute: Int16(bitPattern: try r.u16()),
                zone: try r.i32())
        }
        let expressions = try r.array(minimumElementSize: 4) { r throws(BinaryReader.Truncated) in
            try r.array(minimumElementSize: 4) { r throws(BinaryReader.Truncated) in try r.i32() }
        }
        let cells = try r.array(minimumElementSize: 4) { r throws(BinaryReader.Truncated) in
            Cell(
                candidates: try r.array(minimumElementSize: 8) { r throws(BinaryReader.Truncated) in
                    Candidate(rule: try r.i32(), expression: try r.i32())
                })
        }
        let portTables = try r.array(minimumElementSize: 24) { r throws(BinaryReader.Truncated) in
            PortTable(
                tcpStarts: try r.array(minimumElementSize: 2) { r throws(BinaryReader.Truncated) in try r.u16() },
                tcpCells: try r.array(minimumElementSize: 4) { r throws(BinaryReader.Truncated) in try r.i32() },
                udpStarts: try r.array(minimumElementSize: 2) { r throws(BinaryReader.Truncated) in try r.u16() },
                udpCells: try r.array(minimumElementSize: 4) { r throws(BinaryReader.Truncated) in try r.i32() },
                icmpCell: try r.i32(), otherCell: try r.i32())
        }
        let v4Starts = try r.array(minimumElementSize: 4) { r throws(BinaryReader.Truncated) in try r.u32() }
        let v6Starts = try r.array(minimumElementSize: 16) { r throws(BinaryReader.Truncated) in try r.u128() }
        let v4Segments = try r.array(minimumElementSize: 4) { r throws(BinaryReader.Truncated) in try r.i32() }
        let v6Segments = try r.array(minimumElementSize: 4) { r throws(BinaryReader.Truncated) in try r.i32() }
        let classWide = try r.array(minimumElementSize: 4) { r throws(BinaryReader.Truncated) in try r.i32() }
        let anyoneClass = try r.i32()
        let blocked = try wellFormed(
            try r.array(minimumElementSize: 18) { r throws(BinaryReader.Truncated) in try readCIDR(&r) }, "blocked prefixes")
        guard r.remaining == 32 else { throw LoadError.inconsistent("unexpected bytes after the tables") }
        var t = DecisionTables(
            unindexed: sourceHash, policyNames: policyNames, rules: rules, identities: identities,
            classCount: classCount, defaultTTLMilliseconds: defaultTTL, defaultRate: defaultRate, zones: zones,
            atoms: atoms, expressions: expressions, cells: cells, portTables: portTables, v4Starts: v4Starts,
            v6Starts: v6Starts, v4Segments: v4Segments, v6Segments: v6Segments, classWide: classWide)
        t.blockedSources = blocked
        t.anyoneClass = anyoneClass
        return t
    }

    private static func readKey(_ r: inout BinaryReader) throws(BinaryReader.Truncated) -> PublicKey {
        let raw = try r.raw(32)
        // raw(32) returns 32 bytes or throws, so the key cannot have the wrong length.
        return try! PublicKey(rawBytes: raw)
    }

    /// A prefix as the bundle stores it: family, address, length. Nil for an unknown family, a
    /// length past the family's width or host bits set; decodeBody refuses the bundle then.
    private static func readCIDR(_ r: inout BinaryReader) throws(BinaryReader.Truncated) -> IPPrefix? {
        let family = try r.u8(), value = try r.u128(), length = Int(try r.u8())
        guard let family = IPAddress.Family(rawValue: family), family == .v6 || value >> 32 == 0 else { return nil }
        return try? IPPrefix(exactly: IPAddress(family: family, value: value), length: length)
    }

    /// Every prefix of a list read by readCIDR, or the error that refuses the bundle.
    private static func wellFormed(_ prefixes: [IPPrefix?], _ what: String) throws(LoadError) -> [IPPrefix] {
        let valid = prefixes.compactMap { $0 }
        guard valid.count == prefixes.count else { throw .inconsistent(what) }
        return valid
    }

    private static func validate(_ t: DecisionTables) throws(LoadError) {
        func check(_ ok: Bool, _ what: String) throws(LoadError) {
            if !ok { throw .inconsistent(what) }
        }
        try check(t.identities.allSatisfy { $0.classIndex >= 0 && Int($0.classIndex) < t.classCount }, "identity class out of range")
        try check(t.rules.allSatisfy { $0.rate.count > 0 && $0.rate.seconds > 0 && $0.ttlMilliseconds > 0 }, "rule limits out of range")
        try check(t.defaultTTLMilliseconds > 0 && t.defaultRate.seconds > 0, "defaults out of range")
        try check(t.zones.allSatisfy { $0.offsets.count == $0.transitions.count + 1 }, "zone table shape")
        try check(
            t.atoms.allSatisfy { $0.zone >= 0 && Int($0.zone) < t.zones.count && (0..<1440).contains($0.startMinute) && (0..<1440).contains($0.endMinute) },
            "time condition out of range")
        for code in t.expressions {
            var depth = 0
            for op in code {
                switch op {
                case TimeExpression.Opcode.not: try check(depth >= 1, "time expression stack")
                case TimeExpression.Opcode.and, TimeExpression.Opcode.or:
                    try check(depth >= 2, "time expression stack")
                    depth -= 1
                default:
                    try check(op >= 0 && Int(op) < t.atoms.count, "time expression atom")
                    depth += 1
                    try check(depth <= 64, "time expression too deep")
                }
            }
            try check(depth == 1, "time expression stack")
        }
        try check(!t.cells.isEmpty && t.cells[0].candidates.isEmpty, "missing empty cell")
        for c in t.cells {
            try check(
                c.candidates.allSatisfy {
                    $0.rule >= 0 && Int($0.rule) < t.rules.count && $0.expression >= -1 && Int($0.expression) < t.expressions.count
                }, "cell candidate out of range")
        }
        let cellRange = 0..<Int32(t.cells.count)
        for p in t.portTables {
            try check(p.tcpStarts.first == 0 && p.tcpStarts.count == p.tcpCells.count, "tcp port table shape")
            try check(p.udpStarts.first == 0 && p.udpStarts.count == p.udpCells.count, "udp port table shape")
            try check(zip(p.tcpStarts, p.tcpStarts.dropFirst()).allSatisfy(<) && zip(p.udpStarts, p.udpStarts.dropFirst()).allSatisfy(<), "port table order")
            try check((p.tcpCells + p.udpCells + [p.icmpCell, p.otherCell]).allSatisfy(cellRange.contains), "port table cell out of range")
        }
        try check(t.v4Starts.first == 0 && zip(t.v4Starts, t.v4Starts.dropFirst()).allSatisfy(<), "IPv4 partition order")
        try check(t.v6Starts.first == 0 && zip(t.v6Starts, t.v6Starts.dropFirst()).allSatisfy(<), "IPv6 partition order")
        try check(t.v4Segments.count == t.classCount * t.v4Starts.count, "IPv4 segment map size")
        try check(t.v6Segments.count == t.classCount * t.v6Starts.count, "IPv6 segment map size")
        let tableRange = -1..<Int32(t.portTables.count)
        try check(t.classWide.count == t.classCount, "class table map size")
        try check(t.anyoneClass >= -1 && Int(t.anyoneClass) < t.classCount, "anyone class out of range")
        try check((t.v4Segments + t.v6Segments + t.classWide).allSatisfy(tableRange.contains), "segment map out of range")
    }

    /// Reads and decodes a bundle file, signed or not; signatures are not checked (an edge with
    /// trusted publishers opens bundles through ``BundleTrust`` instead).
    package static func load(path: String) throws -> DecisionTables {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CocoaError(.fileReadNoSuchFile, userInfo: [NSFilePathErrorKey: path])
        }
        return try SignedBundle.decodeIgnoringSignatures([UInt8](data))
    }
}

extension PolicyBundle {
    /// The SHA-256 of exactly `bytes`, in hex: the name a bundle file (signatures included) goes
    /// by in status output and in the fleet's store.
    package static func contentHash(_ bytes: [UInt8]) -> String {
        SHA256.hex(SHA256.hash(bytes))
    }
}
