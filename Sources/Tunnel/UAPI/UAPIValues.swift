/// The value syntaxes of the UAPI: lowercase hex keys, plain decimal numbers, `true`.
enum UAPIValues {
    private static let digits: [UInt8] = Array("0123456789abcdef".utf8)

    /// Lowercase hex of `bytes`, as `get=1` prints keys.
    static func hex(_ bytes: UnsafeRawBufferPointer) -> String {
        String(unsafeUninitializedCapacity: bytes.count * 2) { out in
            for (i, byte) in bytes.enumerated() {
                out[2 * i] = digits[Int(byte >> 4)]
                out[2 * i + 1] = digits[Int(byte & 0xF)]
            }
            return bytes.count * 2
        }
    }

    static func hex(_ bytes: [UInt8]) -> String { bytes.withUnsafeBytes { hex($0) } }

    /// The 32 bytes of a 64-digit hex key (either case), or nil.
    static func key(_ text: Substring) -> [UInt8]? {
        let utf8 = text.utf8
        guard utf8.count == 64 else { return nil }
        var out = [UInt8](repeating: 0, count: 32)
        var index = utf8.startIndex
        for i in 0..<32 {
            guard let high = nibble(utf8[index]) else { return nil }
            index = utf8.index(after: index)
            guard let low = nibble(utf8[index]) else { return nil }
            index = utf8.index(after: index)
            out[i] = high << 4 | low
        }
        return out
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: c - 0x30
        case 0x61...0x66: c - 0x61 + 10
        case 0x41...0x46: c - 0x41 + 10
        default: nil
        }
    }

    /// A plain decimal number (digits only: no sign, no spaces) that fits `T`, or nil.
    static func decimal<T: FixedWidthInteger & UnsignedInteger>(_ text: Substring, as: T.Type = T.self) -> T? {
        guard !text.isEmpty else { return nil }
        var value: T = 0
        for c in text.utf8 {
            guard c >= 0x30, c <= 0x39 else { return nil }
            let (times, o1) = value.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times.addingReportingOverflow(T(c - 0x30))
            guard !o1, !o2 else { return nil }
            value = sum
        }
        return value
    }
}
