/// Crafted Ethernet frames for BPF_PROG_TEST_RUN: just the bytes the program parses.
enum Frames {
    static let tunnelPort: UInt16 = 51820
    static let client4: [UInt8] = [198, 51, 100, 7]
    static let edge4: [UInt8] = [192, 0, 2, 1]
    static let client6: [UInt8] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0x01, 0, 0, 0, 0, 0, 0, 0, 0x07]
    static let edge6: [UInt8] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0x02, 0, 0, 0, 0, 0, 0, 0, 0x01]

    static let etherIPv4: UInt16 = 0x0800
    static let etherIPv6: UInt16 = 0x86DD
    static let etherARP: UInt16 = 0x0806
    static let tag8021Q: UInt16 = 0x8100
    static let tag8021AD: UInt16 = 0x88A8

    // MARK: WireGuard messages (paper 5.4)

    static func initiation(length: Int = 148) -> [UInt8] { message(type: 1, length: length) }
    static func response(length: Int = 92) -> [UInt8] { message(type: 2, length: length) }
    static func cookieReply(length: Int = 64) -> [UInt8] { message(type: 3, length: length) }

    /// A transport message of `length` bytes to `receiver` (little-endian on the wire).
    static func transport(receiver: UInt32, length: Int = 32) -> [UInt8] {
        var bytes = message(type: 4, length: length)
        if length >= 8 { bytes.replaceSubrange(4..<8, with: withUnsafeBytes(of: receiver.littleEndian, Array.init)) }
        return bytes
    }

    /// `type` then three reserved zero bytes, then filler, `length` bytes in all.
    static func message(type: UInt8, length: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0xA5, count: length)
        if length > 0 { bytes[0] = type }
        for i in 1..<4 where i < length { bytes[i] = 0 }
        return bytes
    }

    // MARK: Layers

    /// Destination and source MAC, then each tag (TPID, TCI) outermost first, then `type`.
    static func ethernet(type: UInt16, vlanTags: [UInt16] = []) -> [UInt8] {
        var bytes: [UInt8] = [0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01]
        for (i, tpid) in vlanTags.enumerated() { bytes += be16(tpid) + be16(UInt16(100 + i)) }
        return bytes + be16(type)
    }

    static func udp(source: UInt16 = 40000, destination: UInt16 = tunnelPort, payload: [UInt8],
                    lengthField: UInt16? = nil) -> [UInt8] {
        be16(source) + be16(destination) + be16(lengthField ?? UInt16(8 + payload.count)) + [0, 0] + payload
    }

    /// An IPv4 header with `options` (padded to 4 bytes), protocol UDP unless told.
    static func ipv4(source: [UInt8] = client4, destination: [UInt8] = edge4, payloadLength: Int,
                     options: [UInt8] = [], protocolNumber: UInt8 = 17, fragmentField: UInt16 = 0x4000) -> [UInt8] {
        let padded = options + [UInt8](repeating: 0, count: (4 - options.count % 4) % 4)
        let headerLength = 20 + padded.count
        var header: [UInt8] = [0x40 | UInt8(headerLength / 4), 0] + be16(UInt16(headerLength + payloadLength))
        header += [0x12, 0x34] + be16(fragmentField) + [64, protocolNumber, 0, 0] + source + destination + padded
        return header
    }

    static func ipv6(source: [UInt8] = client6, destination: [UInt8] = edge6, payloadLength: Int,
                     nextHeader: UInt8 = 17) -> [UInt8] {
        [0x60, 0, 0, 0] + be16(UInt16(payloadLength)) + [nextHeader, 64] + source + destination
    }

    // MARK: Whole frames

    static func udp4(_ payload: [UInt8], source: [UInt8] = client4, port: UInt16 = tunnelPort,
                     options: [UInt8] = [], vlanTags: [UInt16] = []) -> [UInt8] {
        let datagram = udp(destination: port, payload: payload)
        return ethernet(type: etherIPv4, vlanTags: vlanTags)
            + ipv4(source: source, payloadLength: datagram.count, options: options) + datagram
    }

    static func udp6(_ payload: [UInt8], source: [UInt8] = client6, port: UInt16 = tunnelPort,
                     vlanTags: [UInt16] = []) -> [UInt8] {
        let datagram = udp(destination: port, payload: payload)
        return ethernet(type: etherIPv6, vlanTags: vlanTags) + ipv6(source: source, payloadLength: datagram.count)
            + datagram
    }

    /// IPv6 with extension headers: each (type, body) where body fills the rest of the header
    /// after its next-header and length bytes (6 bytes for an 8-byte header).
    static func udp6(_ payload: [UInt8], extensionHeaders: [(type: UInt8, body: [UInt8])]) -> [UInt8] {
        let datagram = udp(payload: payload)
        var chain: [UInt8] = []
        for (i, header) in extensionHeaders.enumerated() {
            let next = i + 1 < extensionHeaders.count ? extensionHeaders[i + 1].type : 17
            let total = 2 + header.body.count
            let lengthByte = header.type == 51 ? UInt8(total / 4 - 2) : UInt8(total / 8 - 1)
            chain += (header.type == 44 ? [next, 0] : [next, lengthByte]) + header.body
        }
        return ethernet(type: etherIPv6)
            + ipv6(payloadLength: chain.count + datagram.count, nextHeader: extensionHeaders.first?.type ?? 17)
            + chain + datagram
    }

    static func be16(_ value: UInt16) -> [UInt8] { [UInt8(value >> 8), UInt8(value & 0xFF)] }
}
