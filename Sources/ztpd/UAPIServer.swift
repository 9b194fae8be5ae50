import Foundation
import Logging
import SystemSupport
import Tunnel

/// The cross-platform WireGuard userspace API on `/var/run/wireguard/NAME.sock` (a
/// root-only socket, mode 0600), so `wg show NAME` works on our interface.
///
/// `get=1` reports the interface and peers. `set=1` supports peer changes
/// (public_key, remove, update_only, preshared_key, endpoint,
/// persistent_keepalive_interval, replace_allowed_ips, allowed_ip, replace_peers);
/// changing private_key, listen_port or fwmark of a running interface is refused
/// with EINVAL unless the value is unchanged. `ztp-stats=1` (ours, not wg's) answers
/// with the ``TunnelStatistics`` counters as `key=value` lines.
final class UAPIServer: @unchecked Sendable {
    static let directory = "/var/run/wireguard"
    let path: String
    private let runtime: TunnelRuntime
    private let privateKey: PrivateKey
    private let listenPort: UInt16
    private let logger: Logger
    /// Set once at the end of init: its handler reaches the protocol code through self.
    private var server: StreamServer?

    /// The longest line of a request, and the most bytes a request may have.
    static let maxLineLength = 4096
    static let maxRequestLength = 1 << 20

    convenience init(interface: String, runtime: TunnelRuntime, privateKey: PrivateKey, listenPort: UInt16, logger: Logger) throws {
        try self.init(
            path: "\(Self.directory)/\(interface).sock", runtime: runtime, privateKey: privateKey, listenPort: listenPort,
            logger: logger)
    }

    /// Serves on `path`, each client within `requestTimeout` and concurrently with the others.
    init(
        path: String, runtime: TunnelRuntime, privateKey: PrivateKey, listenPort: UInt16, logger: Logger,
        requestTimeout: Duration = .seconds(5), maxConnections: Int = 16
    ) throws {
        self.runtime = runtime
        self.privateKey = privateKey
        self.listenPort = listenPort
        self.logger = logger
        self.path = path
        // wg(8) expects /var/run/wireguard readable by all; the socket itself is root's alone.
        let listener = try UnixListener(path: path, mode: 0o600, directoryMode: 0o755)
        let server = StreamServer(
            listener: listener, name: "ztp-uapi", maxConnections: maxConnections, requestTimeout: requestTimeout
        ) { [weak self] connection in
            self?.serve(connection)
        }
        self.server = server
        server.start()
    }

    func stop() {
        server?.stop()
    }

    /// One request per connection: read lines up to the empty line, answer, close.
    private func serve(_ connection: Connection) {
        var lines: [String] = []
        var size = 0
        do {
            while let line = try connection.readLine(maxLength: Self.maxLineLength), !line.isEmpty {
                size += line.utf8.count + 1
                guard size <= Self.maxRequestLength else { return }
                lines.append(line)
            }
        } catch {
            return  // timed out, a line too long, or the client hung up: no answer
        }
        guard let first = lines.first else { return }
        let reply: String
        switch first {
        case "get=1": reply = get() + "errno=0\n\n"
        case "set=1": reply = "errno=\(set(Array(lines.dropFirst())))\n\n"
        case "ztp-stats=1": reply = runtime.statistics().lines.map { $0 + "\n" }.joined() + "errno=0\n\n"
        default: reply = "errno=\(EINVAL)\n\n"
        }
        // A client that hung up (`wg show | head -1`) is IOError.closed, never SIGPIPE.
        try? connection.write(reply)
    }

    private func get() -> String {
        var out = "private_key=\(Self.hex(base64: privateKey.base64))\nlisten_port=\(listenPort)\n"
        for peer in runtime.status().sorted(by: { $0.publicKey.base64 < $1.publicKey.base64 }) {
            out += "public_key=\(Self.hex(peer.publicKey.bytes))\n"
            if let psk = runtime.presharedKey(of: peer.publicKey) { out += "preshared_key=\(Self.hex(base64: psk.base64))\n" }
            out += "protocol_version=1\n"
            if let endpoint = peer.endpoint { out += "endpoint=\(endpoint)\n" }
            out += "last_handshake_time_sec=\(peer.lastHandshake?.seconds ?? 0)\n"
            out += "last_handshake_time_nsec=\(peer.lastHandshake?.nanoseconds ?? 0)\n"
            out += "tx_bytes=\(peer.sentBytes)\nrx_bytes=\(peer.receivedBytes)\n"
            out += "persistent_keepalive_interval=\(peer.persistentKeepalive?.components.seconds ?? 0)\n"
            for prefix in peer.allowedIPs { out += "allowed_ip=\(prefix)\n" }
        }
        return out
    }

    /// Applies a `set=1` body; returns an errno value (0 on success).
    private func set(_ lines: [String]) -> Int32 {
        var pending: TunnelConfiguration.PeerConfiguration?
        var updateOnly = false
        var replaceAllowed = false
        func flush() throws {
            guard let peer = pending else { return }
            pending = nil
            let exists = runtime.status().contains { $0.publicKey == peer.publicKey }
            if !exists && updateOnly { return }
            try runtime.updatePeer(peer, replaceAllowedIPs: replaceAllowed)
        }
        do {
            for line in lines where !line.isEmpty {
                guard let equals = line.firstIndex(of: "=") else { return EINVAL }
                let key = String(line[..<equals]), value = String(line[line.index(after: equals)...])
                switch key {
                case "private_key":
                    guard value == Self.hex(base64: privateKey.base64) else { return EINVAL }
                case "listen_port":
                    guard UInt16(value) == listenPort else { return EINVAL }
                case "fwmark":
                    guard value == "0" || value.isEmpty else { return EINVAL }
                case "replace_peers":
                    guard value == "true" else { return EINVAL }
                    for peer in runtime.status() { runtime.removePeer(peer.publicKey) }
                case "public_key":
                    try flush()
                    guard let bytes = Self.unhex(value) else { return EINVAL }
                    pending = .init(publicKey: try PublicKey(rawBytes: bytes))
                    updateOnly = false
                    replaceAllowed = false
                case "remove":
                    guard value == "true", let peer = pending else { return EINVAL }
                    runtime.removePeer(peer.publicKey)
                    pending = nil
                case "update_only": updateOnly = value == "true"
                case "preshared_key":
                    guard let bytes = Self.unhex(value), pending != nil else { return EINVAL }
                    pending?.presharedKey = try SymmetricKey(rawBytes: bytes)
                case "endpoint":
                    guard pending != nil else { return EINVAL }
                    pending?.endpoint = try Endpoint(parsing: value)
                case "persistent_keepalive_interval":
                    guard let seconds = UInt16(value), pending != nil else { return EINVAL }
                    pending?.persistentKeepalive = seconds
                case "replace_allowed_ips": replaceAllowed = value == "true"
                case "allowed_ip":
                    guard let prefix = IPPrefix(value), pending != nil else { return EINVAL }
                    pending?.allowedIPs.append(prefix)
                case "protocol_version":
                    guard value == "1" else { return EINVAL }
                default:
                    return EINVAL
                }
            }
            try flush()
        } catch {
            logger.warning("UAPI set failed: \(error)")
            return EINVAL
        }
        return 0
    }

    static func hex(_ bytes: [UInt8]) -> String {
        bytes.map { String(format: "%02x", $0) }.joined()
    }

    static func hex(base64: String) -> String {
        guard let data = Data(base64Encoded: base64) else { return "" }
        return hex(Array(data))
    }

    static func unhex(_ text: String) -> [UInt8]? {
        guard text.count == 64 else { return nil }
        var out: [UInt8] = []
        var index = text.startIndex
        while index < text.endIndex {
            let next = text.index(index, offsetBy: 2)
            guard let byte = UInt8(text[index..<next], radix: 16) else { return nil }
            out.append(byte)
            index = next
        }
        return out
    }
}
