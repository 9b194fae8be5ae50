#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A UDP endpoint (address and port) in the dual-stack socket's form: IPv4 addresses
/// are held IPv4-mapped (`::ffff:a.b.c.d`). Two integers rather than an array, so
/// comparing a packet's source with a peer's endpoint (roaming) allocates nothing.
package struct Endpoint: Hashable, Sendable, CustomStringConvertible {
    /// The 16 address bytes, big-endian halves.
    package var high: UInt64
    package var low: UInt64
    /// Port, host byte order.
    package var port: UInt16
    /// IPv6 scope (interface index) for link-local addresses, else 0.
    var scopeID: UInt32

    package init(address bytes: [UInt8], port: UInt16, scopeID: UInt32 = 0) {
        precondition(bytes.count == 16 || bytes.count == 4)
        let full = bytes.count == 4 ? [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF] + bytes : bytes
        high = full[0..<8].reduce(0) { $0 << 8 | UInt64($1) }
        low = full[8..<16].reduce(0) { $0 << 8 | UInt64($1) }
        self.port = port
        self.scopeID = scopeID
    }

    /// Parses `a.b.c.d:port` or `[v6]:port` (numeric addresses only).
    package init(parsing text: String) throws(SystemError) {
        let trimmed = text.trimmingWhitespace
        guard let colon = trimmed.lastIndex(of: ":"),
              let port = UInt16(trimmed[trimmed.index(after: colon)...]) else {
            throw SystemError("endpoint \"\(text)\"", code: EINVAL)
        }
        var host = String(trimmed[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard let address = IPAddress(host) else { throw SystemError("endpoint \"\(text)\"", code: EINVAL) }
        self.init(address: address.bytes, port: port)
    }

    /// True for an IPv4-mapped address.
    var isIPv4: Bool { high == 0 && low >> 32 == 0xFFFF }

    /// The address bytes (4 for IPv4, 16 for IPv6).
    var addressBytes: [UInt8] {
        let all = (0..<8).map { UInt8(truncatingIfNeeded: high >> (56 - 8 * UInt64($0))) }
            + (0..<8).map { UInt8(truncatingIfNeeded: low >> (56 - 8 * UInt64($0))) }
        return isIPv4 ? Array(all[12...]) : all
    }

    /// The address, IPv4 addresses unmapped.
    package var address: IPAddress {
        let mapped = IPAddress(v6: UInt128(high) << 64 | UInt128(low))
        return mapped.unmappedV4 ?? mapped
    }

    package var description: String {
        isIPv4 ? "\(address):\(port)" : "[\(address)]:\(port)"
    }

    /// The `sockaddr_in6` for `sendto` on the dual-stack socket.
    var socketAddress: sockaddr_in6 {
        var address = sockaddr_in6()
        address.sin6_family = sa_family_t(AF_INET6)
        address.sin6_port = port.bigEndian
        address.sin6_scope_id = scopeID
        withUnsafeMutableBytes(of: &address.sin6_addr) { raw in
            raw.storeBytes(of: high.bigEndian, toByteOffset: 0, as: UInt64.self)
            raw.storeBytes(of: low.bigEndian, toByteOffset: 8, as: UInt64.self)
        }
        return address
    }

    /// From a received `sockaddr_in6` (or `sockaddr_in`, mapped).
    init?(storage: UnsafeRawPointer) {
        let family = storage.load(fromByteOffset: 0, as: sa_family_t.self)
        if family == sa_family_t(AF_INET6) {
            let address = storage.loadUnaligned(as: sockaddr_in6.self)
            // Read inside the closure: the pointer is only valid there (escaping it read
            // zeros in release builds).
            (high, low) = withUnsafeBytes(of: address.sin6_addr) { raw in
                (UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self)),
                 UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
            }
            port = UInt16(bigEndian: address.sin6_port)
            scopeID = address.sin6_scope_id
        } else if family == sa_family_t(AF_INET) {
            let address = storage.loadUnaligned(as: sockaddr_in.self)
            high = 0
            low = 0xFFFF_0000_0000 | UInt64(UInt32(bigEndian: address.sin_addr.s_addr))
            port = UInt16(bigEndian: address.sin_port)
            scopeID = 0
        } else {
            return nil
        }
    }
}

extension StringProtocol {
    var trimmingWhitespace: String {
        var slice = Substring(self)
        while let first = slice.first, first.isWhitespace { slice = slice.dropFirst() }
        while let last = slice.last, last.isWhitespace { slice = slice.dropLast() }
        return String(slice)
    }
}
