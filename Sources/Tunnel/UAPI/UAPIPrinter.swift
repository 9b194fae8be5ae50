/// The text forms of the UAPI: the body of a `get=1` reply, and the body of a `set=1`
/// request (what `wg` sends, for tests and benchmarks). Each line ends in `\n`; the
/// framing (`errno=` and the blank line, or the `set=1` line) is the caller's.
package enum UAPIPrinter {
    /// A `get=1` reply body, keys in wireguard-go's order: private_key, listen_port,
    /// fwmark (each only when set), then per peer public_key, preshared_key,
    /// protocol_version, endpoint (when known), last_handshake_time_sec/nsec, tx_bytes,
    /// rx_bytes, persistent_keepalive_interval and one allowed_ip line per prefix.
    static func getResponse(_ snapshot: InterfaceSnapshot) -> String {
        var out = ""
        out.reserveCapacity(256 + snapshot.peers.reduce(0) { $0 + 400 + 48 * $1.allowedIPs.count })
        if let key = snapshot.privateKey { out += "private_key=\(key.withUnsafeBytes { UAPIValues.hex($0) })\n" }
        if let port = snapshot.listenPort, port != 0 { out += "listen_port=\(port)\n" }
        if let mark = snapshot.fwmark, mark != 0 { out += "fwmark=\(mark)\n" }
        for peer in snapshot.peers {
            out += "public_key=\(UAPIValues.hex(peer.publicKey.bytes))\n"
            out += "preshared_key=\((peer.presharedKey ?? .zero).withUnsafeBytes { UAPIValues.hex($0) })\n"
            out += "protocol_version=1\n"
            if let endpoint = peer.endpoint { out += "endpoint=\(endpoint)\n" }
            out += "last_handshake_time_sec=\(peer.lastHandshakeSeconds)\n"
            out += "last_handshake_time_nsec=\(peer.lastHandshakeNanoseconds)\n"
            out += "tx_bytes=\(peer.transmittedBytes)\n"
            out += "rx_bytes=\(peer.receivedBytes)\n"
            out += "persistent_keepalive_interval=\(peer.persistentKeepaliveInterval)\n"
            for prefix in peer.allowedIPs { out += "allowed_ip=\(prefix)\n" }
        }
        return out
    }

    /// A `set=1` request body for `change`, in the order `wg` writes its lines. For a
    /// change as ``UAPISetParser`` returns it, parsing the text gives the change back.
    package static func setRequest(_ change: InterfaceChange) -> String {
        var out = ""
        if let key = change.privateKey { out += "private_key=\(key.withUnsafeBytes { UAPIValues.hex($0) })\n" }
        if let port = change.listenPort { out += "listen_port=\(port)\n" }
        if let mark = change.fwmark { out += "fwmark=\(mark)\n" }
        if change.replacePeers { out += "replace_peers=true\n" }
        for peer in change.peers {
            out += "public_key=\(UAPIValues.hex(peer.publicKey.bytes))\n"
            if peer.remove { out += "remove=true\n"; continue }
            if peer.updateOnly { out += "update_only=true\n" }
            if let psk = peer.presharedKey { out += "preshared_key=\(psk.withUnsafeBytes { UAPIValues.hex($0) })\n" }
            if let endpoint = peer.endpoint { out += "endpoint=\(endpoint)\n" }
            if let seconds = peer.persistentKeepaliveInterval { out += "persistent_keepalive_interval=\(seconds)\n" }
            if peer.replaceAllowedIPs { out += "replace_allowed_ips=true\n" }
            for prefix in peer.removedAllowedIPs { out += "allowed_ip=-\(prefix)\n" }
            for prefix in peer.allowedIPs { out += "allowed_ip=\(prefix)\n" }
            if let version = peer.protocolVersion { out += "protocol_version=\(version)\n" }
        }
        return out
    }
}
