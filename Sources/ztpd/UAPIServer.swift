import Foundation
import Logging
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
    private let fd: Int32
    private let runtime: TunnelRuntime
    private let privateKey: PrivateKey
    private let listenPort: UInt16
    private let logger: Logger
    private let lock = NSLock()
    private var running = true
    private let done = DispatchSemaphore(value: 0)

    init(interface: String, runtime: TunnelRuntime, privateKey: PrivateKey, listenPort: UInt16, logger: Logger) throws {
        self.runtime = runtime
        self.privateKey = privateKey
        self.listenPort = listenPort
        self.logger = logger
        path = "\(Self.directory)/\(interface).sock"
        mkdir(Self.directory, 0o755)
        unlink(path)
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemError("socket(AF_UNIX)", code: errno) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            close(fd)
            throw SystemError("UAPI path too long", code: ENAMETOOLONG)
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, byte) in bytes.enumerated() { raw[i] = byte }
        }
        // Create the socket node already without group/other access.
        let oldMask = umask(0o077)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        umask(oldMask)
        guard bound == 0, chmod(path, 0o600) == 0, listen(fd, 8) == 0 else {
            let error = SystemError("bind/listen \(path)", code: errno)
            close(fd)
            throw error
        }
        let thread = Thread { [self] in acceptLoop() }
        thread.name = "ztp-uapi"
        thread.start()
    }

    func stop() {
        lock.lock()
        running = false
        lock.unlock()
        done.wait()
        close(fd)
        unlink(path)
    }

    private var isRunning: Bool {
        lock.lock()
        defer { lock.unlock() }
        return running
    }

    private func acceptLoop() {
        defer { done.signal() }
        while isRunning {
            var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&descriptor, 1, 200) > 0 else { continue }
            let client = accept(fd, nil, nil)
            guard client >= 0 else { continue }
            var timeout = timeval(tv_sec: 2, tv_usec: 0)
            setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            serve(client)
            close(client)
        }
    }

    /// One request per connection: read lines up to the empty line, answer, close.
    private func serve(_ client: Int32) {
        var data: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while data.count < 1 << 20 {
            let n = chunk.withUnsafeMutableBytes { read(client, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            data += chunk[..<n]
            if data.count >= 2, data.suffix(2) == [10, 10] { break }
        }
        let lines = String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
        guard let first = lines.first else { return }
        let reply: String
        switch first {
        case "get=1": reply = get() + "errno=0\n\n"
        case "set=1": reply = "errno=\(set(Array(lines.dropFirst())))\n\n"
        case "ztp-stats=1": reply = runtime.statistics().lines.map { $0 + "\n" }.joined() + "errno=0\n\n"
        default: reply = "errno=\(EINVAL)\n\n"
        }
        // send with MSG_NOSIGNAL: a client that hung up (`wg show | head -1`) is EPIPE, not SIGPIPE.
        let bytes = Array(reply.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            offset += n
        }
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
