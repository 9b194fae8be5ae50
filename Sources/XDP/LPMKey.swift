import CLibBPF

/// The one place a shared ``IPPrefix`` becomes the XDP program's map key.
enum LPMKey {
    /// `struct ztp_lpm4_key` / `ztp_lpm6_key`: the prefix length in host order, then the address
    /// in network order. The prefix's host bits are already clear (IPPrefix guarantees it), as the
    /// kernel's LPM trie expects.
    static func bytes(_ prefix: IPPrefix) -> [UInt8] {
        let key = withUnsafeBytes(of: UInt32(prefix.length)) { Array($0) } + prefix.address.bytes
        assert(key.count == (prefix.isIPv6 ? MemoryLayout<ztp_lpm6_key>.size : MemoryLayout<ztp_lpm4_key>.size))
        return key
    }

    /// The map that holds keys of the prefix's family.
    static func mapName(_ prefix: IPPrefix) -> String { prefix.isIPv6 ? "ztp_block6" : "ztp_block4" }
}
