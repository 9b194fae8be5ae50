/// Little-endian field access for message encoding. WireGuard puts every integer on the
/// wire little-endian (unlike most network protocols) because the hosts it targets are.
extension Array where Element == UInt8 {
    @inline(__always)
    func loadLittleEndianUInt32(at offset: Int) -> UInt32 {
        (0..<4).reduce(0) { $0 | UInt32(self[offset + $1]) << (8 * UInt32($1)) }
    }

    @inline(__always)
    mutating func storeLittleEndian(_ value: UInt32, at offset: Int) {
        for i in 0..<4 { self[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt32(i))) }
    }

    @inline(__always)
    func slice(_ offset: Int, _ count: Int) -> [UInt8] { Array(self[offset..<offset + count]) }

    @inline(__always)
    mutating func store(_ bytes: [UInt8], at offset: Int) {
        replaceSubrange(offset..<offset + bytes.count, with: bytes)
    }
}
