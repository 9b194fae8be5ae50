import SecureMemory

/// A streaming parser of a `set=1` request: feed it the body line by line (the lines
/// after `set=1`, without the blank line that ends the request), then take ``finish()``.
/// It only builds the ``InterfaceChange``; nothing is applied until the whole request
/// has parsed, so a bad line anywhere refuses the whole request.
///
/// The rules are the protocol's (wireguard-go's `IpcSetOperation`): interface keys come
/// before the first `public_key`; every later key applies to the most recent
/// `public_key`; unknown keys, malformed lines and bad values are errors.
///
/// Costs O(1) per line (amortised), so a request of any size parses in linear time.
package struct UAPISetParser: Sendable {
    private var change = InterfaceChange()
    private var peer: PeerChange?
    /// `remove=true` was seen for the current peer: later lines are checked, then dropped.
    private var peerRemoved = false
    /// The current peer's added and removed prefixes, to cancel opposite lines in O(1).
    private var added: Set<IPPrefix> = []
    private var removed: Set<IPPrefix> = []
    private var lineNumber = 0

    package init() {}

    /// Parses one body line (without its newline).
    package mutating func consume(_ line: Substring) throws(UAPIError) {
        lineNumber += 1
        guard let equals = line.firstIndex(of: "=") else { throw UAPIError(.malformedLine, line: lineNumber) }
        let key = line[..<equals], value = line[line.index(after: equals)...]
        if key == "public_key" {
            guard let bytes = UAPIValues.key(value), let publicKey = try? PublicKey(rawBytes: bytes) else {
                throw invalid(key)
            }
            flushPeer()
            peer = PeerChange(publicKey: publicKey)
        } else if peer == nil {
            try interfaceLine(key, value)
        } else {
            try peerLine(key, value)
        }
    }

    /// The change the lines describe.
    mutating func finish() -> InterfaceChange {
        flushPeer()
        return change
    }

    /// Parses a whole body (lines separated by `\n`; a trailing blank line ends it).
    package static func parse(_ body: String) throws(UAPIError) -> InterfaceChange {
        var parser = UAPISetParser()
        for line in body.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.isEmpty { break }
            try parser.consume(line)
        }
        return parser.finish()
    }

    private static let interfaceKeys: Set<Substring> = ["private_key", "listen_port", "fwmark", "replace_peers"]
    private static let peerKeys: Set<Substring> = [
        "update_only", "remove", "preshared_key", "endpoint", "persistent_keepalive_interval",
        "replace_allowed_ips", "allowed_ip", "protocol_version",
    ]

    private mutating func interfaceLine(_ key: Substring, _ value: Substring) throws(UAPIError) {
        switch key {
        case "private_key":
            guard var bytes = UAPIValues.key(value) else { throw invalid(key) }
            defer { wipe(&bytes) }  // the key's only copy outside zeroing storage
            guard let privateKey = try? PrivateKey(rawBytes: bytes) else { throw invalid(key) }
            change.privateKey = privateKey
        case "listen_port":
            guard let port = UAPIValues.decimal(value, as: UInt16.self) else { throw invalid(key) }
            change.listenPort = port
        case "fwmark":
            guard let mark = UAPIValues.decimal(value, as: UInt32.self) else { throw invalid(key) }
            change.fwmark = mark
        case "replace_peers":
            guard value == "true" else { throw invalid(key) }
            change.replacePeers = true
        default:
            if Self.peerKeys.contains(key) { throw UAPIError(.peerKeyBeforePublicKey(String(key)), line: lineNumber) }
            throw UAPIError(.unknownKey(String(key)), line: lineNumber)
        }
    }

    private mutating func peerLine(_ key: Substring, _ value: Substring) throws(UAPIError) {
        switch key {
        case "update_only":
            guard value == "true" else { throw invalid(key) }
            peer!.updateOnly = true
        case "remove":
            guard value == "true" else { throw invalid(key) }
            peerRemoved = true
        case "preshared_key":
            guard var bytes = UAPIValues.key(value) else { throw invalid(key) }
            defer { wipe(&bytes) }
            guard let psk = try? SymmetricKey(rawBytes: bytes) else { throw invalid(key) }
            peer!.presharedKey = psk
        case "endpoint":
            guard !value.isEmpty, let endpoint = try? Endpoint(parsing: String(value)) else { throw invalid(key) }
            peer!.endpoint = endpoint
        case "persistent_keepalive_interval":
            guard let seconds = UAPIValues.decimal(value, as: UInt16.self) else { throw invalid(key) }
            peer!.persistentKeepaliveInterval = seconds
        case "replace_allowed_ips":
            guard value == "true" else { throw invalid(key) }
            peer!.replaceAllowedIPs = true
            peer!.allowedIPs.removeAll()
            peer!.removedAllowedIPs.removeAll()
            added.removeAll()
            removed.removeAll()
        case "allowed_ip":
            let removal = value.first == "-"
            let text = removal ? value.dropFirst() : value
            // netip.ParsePrefix's syntax: the length is required.
            guard text.contains("/"), let prefix = IPPrefix(String(text)) else { throw invalid(key) }
            if removal { removeAllowedIP(prefix) } else { addAllowedIP(prefix) }
        case "protocol_version":
            guard value == "1" else { throw invalid(key) }
            peer!.protocolVersion = 1
        default:
            if Self.interfaceKeys.contains(key) { throw UAPIError(.interfaceKeyAfterPeer(String(key)), line: lineNumber) }
            throw UAPIError(.unknownKey(String(key)), line: lineNumber)
        }
    }

    /// An allowed_ip line cancels an earlier opposite line for the same prefix, so that
    /// the applier may remove first and add after. (Adding a prefix and then removing it
    /// in one request therefore leaves it with whichever peer had it before.)
    private mutating func addAllowedIP(_ prefix: IPPrefix) {
        if removed.remove(prefix) != nil { peer!.removedAllowedIPs.removeAll { $0 == prefix } }
        if added.insert(prefix).inserted { peer!.allowedIPs.append(prefix) }
    }

    private mutating func removeAllowedIP(_ prefix: IPPrefix) {
        if added.remove(prefix) != nil { peer!.allowedIPs.removeAll { $0 == prefix } }
        if removed.insert(prefix).inserted { peer!.removedAllowedIPs.append(prefix) }
    }

    private mutating func flushPeer() {
        guard let current = peer else { return }
        change.peers.append(peerRemoved ? PeerChange(publicKey: current.publicKey, remove: true) : current)
        peer = nil
        peerRemoved = false
        added.removeAll()
        removed.removeAll()
    }

    private func invalid(_ key: Substring) -> UAPIError {
        UAPIError(.invalidValue(key: String(key)), line: lineNumber)
    }
}
