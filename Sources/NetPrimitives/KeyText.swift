/// Base64 and hex for 32-byte keys, in pure Swift so that this module needs no C library.
/// Keys here are public, so the codec need not run in constant time.
enum KeyText {
    /// 32 bytes on the stack while text is decoded.
    struct Bytes32 {
        var storage: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)

        mutating func set(_ index: Int, _ byte: UInt8) {
            let bits = UInt64(byte) << (8 * UInt64(index % 8))
            switch index / 8 {
            case 0: storage.0 |= bits
            case 1: storage.1 |= bits
            case 2: storage.2 |= bits
            default: storage.3 |= bits
            }
        }

        var key: PublicKey { PublicKey(words: storage.0, storage.1, storage.2, storage.3) }
    }

    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    private static func sextet(_ c: UInt8) -> UInt32? {
        switch c {
        case 0x41...0x5a: UInt32(c - 0x41)
        case 0x61...0x7a: UInt32(c - 0x61 + 26)
        case 0x30...0x39: UInt32(c - 0x30 + 52)
        case 0x2b: 62
        case 0x2f: 63
        default: nil
        }
    }

    /// 32 bytes are 43 characters of data and one `=`; the last character carries 4 unused bits.
    static func decodeBase64(_ text: some StringProtocol, into out: inout Bytes32) -> Bool {
        let utf8 = Array(text.utf8)
        guard utf8.count == 44, utf8[43] == 0x3d else { return false }
        var accumulator: UInt32 = 0
        var bits = 0
        var index = 0
        for c in utf8.prefix(43) {
            guard let v = sextet(c) else { return false }
            accumulator = accumulator << 6 | v
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.set(index, UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
                index += 1
            }
        }
        // Two bits are left over; they must be zero for the text to be the canonical encoding.
        return index == 32 && accumulator & ((1 << UInt32(bits)) - 1) == 0
    }

    static func encodeBase64(_ key: PublicKey) -> String {
        key.withUnsafeBytes { raw in
            var out: [UInt8] = []
            out.reserveCapacity(44)
            var i = 0
            while i < 32 {
                let b0 = UInt32(raw[i])
                let b1 = i + 1 < 32 ? UInt32(raw[i + 1]) : 0
                let b2 = i + 2 < 32 ? UInt32(raw[i + 2]) : 0
                let group = b0 << 16 | b1 << 8 | b2
                out.append(alphabet[Int(group >> 18 & 63)])
                out.append(alphabet[Int(group >> 12 & 63)])
                out.append(i + 1 < 32 ? alphabet[Int(group >> 6 & 63)] : 0x3d)
                out.append(i + 2 < 32 ? alphabet[Int(group & 63)] : 0x3d)
                i += 3
            }
            return String(decoding: out, as: UTF8.self)
        }
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: c - 0x30
        case 0x61...0x66: c - 0x61 + 10
        case 0x41...0x46: c - 0x41 + 10
        default: nil
        }
    }

    static func decodeHex(_ text: some StringProtocol, into out: inout Bytes32) -> Bool {
        let utf8 = Array(text.utf8)
        guard utf8.count == 64 else { return false }
        var high: UInt8? = nil
        var index = 0
        for c in utf8 {
            guard let n = nibble(c) else { return false }
            if let h = high {
                out.set(index, h << 4 | n)
                index += 1
                high = nil
            } else {
                high = n
            }
        }
        return true
    }

    static func encodeHex(_ key: PublicKey) -> String {
        let digits = Array("0123456789abcdef".utf8)
        return key.withUnsafeBytes { raw in
            var out: [UInt8] = []
            out.reserveCapacity(64)
            for b in raw {
                out.append(digits[Int(b >> 4)])
                out.append(digits[Int(b & 15)])
            }
            return String(decoding: out, as: UTF8.self)
        }
    }
}
