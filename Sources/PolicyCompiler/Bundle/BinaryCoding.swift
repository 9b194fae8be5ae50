import PolicyLang

/// Appends little-endian values to a byte array.
struct BinaryWriter {
    private(set) var bytes: [UInt8] = []

    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u16(_ v: UInt16) { integer(v) }
    mutating func u32(_ v: UInt32) { integer(v) }
    mutating func i32(_ v: Int32) { integer(v) }
    mutating func i64(_ v: Int64) { integer(v) }
    mutating func u128(_ v: UInt128) { integer(v) }

    private mutating func integer<T: FixedWidthInteger>(_ v: T) {
        withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func raw(_ b: [UInt8]) { bytes += b }

    mutating func string(_ s: String) {
        let utf8 = Array(s.utf8)
        u32(UInt32(utf8.count))
        bytes += utf8
    }

    mutating func array<T>(_ items: [T], _ each: (inout BinaryWriter, T) -> Void) {
        u32(UInt32(items.count))
        for item in items { each(&self, item) }
    }

    mutating func rate(_ r: Rate) {
        u32(r.count)
        u32(r.seconds)
    }
}

/// Reads what ``BinaryWriter`` wrote, refusing to read past the end.
struct BinaryReader {
    struct Truncated: Error {}

    private let bytes: [UInt8]
    private(set) var offset: Int

    init(_ bytes: [UInt8], offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
    }

    var remaining: Int { bytes.count - offset }

    mutating func u8() throws(Truncated) -> UInt8 { try integer() }
    mutating func u16() throws(Truncated) -> UInt16 { try integer() }
    mutating func u32() throws(Truncated) -> UInt32 { try integer() }
    mutating func i32() throws(Truncated) -> Int32 { try integer() }
    mutating func i64() throws(Truncated) -> Int64 { try integer() }
    mutating func u128() throws(Truncated) -> UInt128 { try integer() }

    private mutating func integer<T: FixedWidthInteger>() throws(Truncated) -> T {
        let size = MemoryLayout<T>.size
        guard remaining >= size else { throw Truncated() }
        var v: T = 0
        for i in 0..<size { v |= T(bytes[offset + i]) << (8 * i) }
        offset += size
        return v
    }

    mutating func raw(_ count: Int) throws(Truncated) -> [UInt8] {
        guard count >= 0, remaining >= count else { throw Truncated() }
        defer { offset += count }
        return Array(bytes[offset..<offset + count])
    }

    mutating func string() throws(Truncated) -> String {
        let n = Int(try u32())
        return String(decoding: try raw(n), as: UTF8.self)
    }

    /// Reads a counted array; the count is checked against the bytes left so that a corrupt
    /// count cannot make the reader reserve gigabytes.
    mutating func array<T>(minimumElementSize: Int = 1, _ each: (inout BinaryReader) throws(Truncated) -> T)
        throws(Truncated) -> [T]
    {
        let n = Int(try u32())
        guard n <= remaining / max(1, minimumElementSize) else { throw Truncated() }
        var out: [T] = []
        out.reserveCapacity(n)
        for _ in 0..<n { out.append(try each(&self)) }
        return out
    }

    mutating func rate() throws(Truncated) -> Rate {
        Rate(count: try u32(), seconds: try u32())
    }
}
