/// Field access for IP/TCP/UDP headers inside a raw buffer: network (big-endian) order
/// for the packet headers, little-endian for the virtio-net header. Callers check bounds
/// before calling; these only spare them the shifting.
extension UnsafeRawBufferPointer {
    @inline(__always)
    func loadBigEndian16(at offset: Int) -> UInt16 {
        UInt16(self[offset]) << 8 | UInt16(self[offset + 1])
    }

    @inline(__always)
    func loadBigEndian32(at offset: Int) -> UInt32 {
        UInt32(bigEndian: loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    @inline(__always)
    func loadLittleEndian16(at offset: Int) -> UInt16 {
        UInt16(self[offset]) | UInt16(self[offset + 1]) << 8
    }
}

extension UnsafeMutableRawBufferPointer {
    @inline(__always)
    func loadBigEndian16(at offset: Int) -> UInt16 {
        UnsafeRawBufferPointer(self).loadBigEndian16(at: offset)
    }

    @inline(__always)
    func loadBigEndian32(at offset: Int) -> UInt32 {
        UnsafeRawBufferPointer(self).loadBigEndian32(at: offset)
    }

    @inline(__always)
    func storeBigEndian16(_ value: UInt16, at offset: Int) {
        self[offset] = UInt8(truncatingIfNeeded: value >> 8)
        self[offset + 1] = UInt8(truncatingIfNeeded: value)
    }

    @inline(__always)
    func storeBigEndian32(_ value: UInt32, at offset: Int) {
        storeBytes(of: value.bigEndian, toByteOffset: offset, as: UInt32.self)
    }

    @inline(__always)
    func storeLittleEndian16(_ value: UInt16, at offset: Int) {
        self[offset] = UInt8(truncatingIfNeeded: value)
        self[offset + 1] = UInt8(truncatingIfNeeded: value >> 8)
    }
}
