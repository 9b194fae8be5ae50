/// A `wg setconf`-style configuration:
///
///     [Interface]
///     PrivateKey = ...
///     ListenPort = 51820
///     [Peer]
///     PublicKey = ...
///     PresharedKey = ...
///     AllowedIPs = 10.0.0.2/32, fd00::2/128
///     Endpoint = 192.0.2.1:51820
///     PersistentKeepalive = 25
///
/// wg-quick's extra interface keys (Address, DNS, MTU, Table, Pre/PostUp/Down, SaveConfig)
/// are accepted; only MTU is used, the rest is reported in ``ignoredKeys``.
package struct TunnelConfiguration: Sendable {
    package struct PeerConfiguration: Sendable {
        package var publicKey: PublicKey
        var presharedKey: SymmetricKey?
        package var allowedIPs: [IPPrefix] = []
        var endpoint: Endpoint?
        /// Seconds; 0 for off; nil for the interface's ``TunnelConfiguration/defaultPersistentKeepalive``.
        var persistentKeepalive: UInt16?

        package init(publicKey: PublicKey, presharedKey: SymmetricKey? = nil, allowedIPs: [IPPrefix] = [],
                    endpoint: Endpoint? = nil, persistentKeepalive: UInt16? = nil) {
            self.publicKey = publicKey
            self.presharedKey = presharedKey
            self.allowedIPs = allowedIPs
            self.endpoint = endpoint
            self.persistentKeepalive = persistentKeepalive
        }
    }

    /// Nil: the interface comes up without a key (as `wireguard-go IFACE` does) and
    /// neither sends nor answers handshakes until one is set through the UAPI.
    package var privateKey: PrivateKey?
    package var listenPort: UInt16?
    package var mtu: Int?
    var peers: [PeerConfiguration]
    package var ignoredKeys: [String] = []
    /// Handshake coalescing of the responder (not part of the wg file format).
    package var handshakeCoalescing = HandshakeCoalescing.default
    /// Persistent keepalive, in seconds, for peers that set none (nil or 0: off). 25 s
    /// keeps a roaming client's NAT mapping open, so that the edge can reach it after a
    /// quiet spell and a changed address is noticed at once; it costs a 32-byte message
    /// per peer every 25 s when the tunnel is idle. Not part of the wg file format.
    package var defaultPersistentKeepalive: UInt16?

    package init(privateKey: PrivateKey?, listenPort: UInt16? = nil, mtu: Int? = nil, peers: [PeerConfiguration] = []) {
        self.privateKey = privateKey
        self.listenPort = listenPort
        self.mtu = mtu
        self.peers = peers
    }

    /// A parse error with its 1-based line. Messages never quote key material.
    package struct ParseError: Error, Equatable, Sendable, CustomStringConvertible {
        package let line: Int
        package let message: String
        package var description: String { "line \(line): \(message)" }
    }

    package init(parsing text: String) throws(ParseError) {
        enum Section { case none, interface, peer }
        var section = Section.none
        var privateKey: PrivateKey?
        var listenPort: UInt16?
        var mtu: Int?
        var peers: [PeerConfiguration] = []
        var ignored: [String] = []
        var pending: (publicKey: PublicKey?, psk: SymmetricKey?, allowed: [IPPrefix], endpoint: Endpoint?, keepalive: UInt16?, line: Int)?

        func finish(_ p: (publicKey: PublicKey?, psk: SymmetricKey?, allowed: [IPPrefix], endpoint: Endpoint?, keepalive: UInt16?, line: Int)?,
                    into peers: inout [PeerConfiguration]) throws(ParseError) {
            guard let p else { return }
            guard let key = p.publicKey else { throw ParseError(line: p.line, message: "[Peer] without PublicKey") }
            peers.append(PeerConfiguration(publicKey: key, presharedKey: p.psk, allowedIPs: p.allowed,
                                           endpoint: p.endpoint, persistentKeepalive: p.keepalive))
        }

        for (offset, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let number = offset + 1
            var line = Substring(rawLine)
            if let hash = line.firstIndex(of: "#") { line = line[..<hash] }
            let trimmed = line.trimmingWhitespace
            if trimmed.isEmpty { continue }
            if trimmed.hasPrefix("[") {
                switch trimmed.lowercased() {
                case "[interface]": section = .interface
                case "[peer]":
                    try finish(pending, into: &peers)
                    pending = (nil, nil, [], nil, nil, number)
                    section = .peer
                default: throw ParseError(line: number, message: "unknown section \(trimmed)")
                }
                continue
            }
            guard let equals = trimmed.firstIndex(of: "=") else {
                throw ParseError(line: number, message: "expected KEY = VALUE")
            }
            let key = trimmed[..<equals].trimmingWhitespace.lowercased()
            let value = trimmed[trimmed.index(after: equals)...].trimmingWhitespace
            switch (section, key) {
            case (.interface, "privatekey"):
                do { privateKey = try PrivateKey(base64: value) } catch {
                    throw ParseError(line: number, message: "PrivateKey is not a base64 32-byte key")
                }
            case (.interface, "listenport"):
                guard let port = UInt16(value) else { throw ParseError(line: number, message: "bad ListenPort") }
                listenPort = port
            case (.interface, "mtu"):
                guard let parsed = Int(value), (576...65535).contains(parsed) else { throw ParseError(line: number, message: "bad MTU") }
                mtu = parsed
            case (.interface, "address"), (.interface, "dns"), (.interface, "table"), (.interface, "preup"),
                 (.interface, "postup"), (.interface, "predown"), (.interface, "postdown"), (.interface, "saveconfig"),
                 (.interface, "fwmark"):
                ignored.append(String(trimmed[..<equals].trimmingWhitespace))
            case (.peer, "publickey"):
                do { pending?.publicKey = try PublicKey(base64: value) } catch {
                    throw ParseError(line: number, message: "PublicKey is not a base64 32-byte key")
                }
            case (.peer, "presharedkey"):
                do { pending?.psk = try SymmetricKey(base64: value) } catch {
                    throw ParseError(line: number, message: "PresharedKey is not a base64 32-byte key")
                }
            case (.peer, "allowedips"):
                for item in value.split(separator: ",") where !item.trimmingWhitespace.isEmpty {
                    guard let prefix = IPPrefix(item.trimmingWhitespace) else {
                        throw ParseError(line: number, message: "bad AllowedIPs entry \(item.trimmingWhitespace)")
                    }
                    pending?.allowed.append(prefix)
                }
            case (.peer, "endpoint"):
                do { pending?.endpoint = try Endpoint(parsing: value) } catch {
                    throw ParseError(line: number, message: "bad Endpoint \(value) (numeric address:port expected)")
                }
            case (.peer, "persistentkeepalive"):
                // Kept as 0 (not nil): an explicit "off" overrides the interface's default.
                if value.lowercased() == "off" { pending?.keepalive = 0; continue }
                guard let seconds = UInt16(value) else { throw ParseError(line: number, message: "bad PersistentKeepalive") }
                pending?.keepalive = seconds
            default:
                throw ParseError(line: number, message: "unknown key \(trimmed[..<equals].trimmingWhitespace) here")
            }
        }
        try finish(pending, into: &peers)
        // No PrivateKey is allowed, as `wg setconf` allows it: the key may come later.
        self.init(privateKey: privateKey, listenPort: listenPort, mtu: mtu, peers: peers)
        ignoredKeys = ignored
    }
}
