import Enforcer
import Foundation
import PolicyCompiler
import PolicyLang
import Tunnel
import Yams

/// The daemon's configuration file (YAML), with every key optional but the key file and the policy.
///
/// ```yaml
/// interface: ztp0
/// listen_port: 51820
/// private_key_file: /etc/ztp/private.key   # mode 0600 or stricter
/// addresses: [10.99.0.1/24]                # given to the interface with `ip`
/// policies: /etc/ztp/policies              # or bundle: /etc/ztp/policy.ztpb
/// trusted_publishers: [/etc/ztp/publisher.key.pub]  # base64 keys or KEY.pub paths; bundles only
/// state_dir: /var/lib/ztp                  # where the last good remote bundle is kept
/// etcd:                                    # optional: follow the fleet's policy pointer in etcd
///   endpoints: [http://10.0.0.1:2379, http://10.0.0.2:2379]
///   prefix: /ztp                           # the fleet's key prefix
///   name: edge-1                           # this edge in ztpc fleet status (default: host name)
///   reread_seconds: 30                     # read the pointer this often too, in case a watch hangs
/// wireguard_config: /etc/ztp/peers.conf    # optional wg-style [Peer] sections
/// metrics: 127.0.0.1:9586                  # Prometheus text on GET /metrics; "off" to disable
/// control_socket: /var/run/ztp/ztp0.sock   # root-only; ztpc status reads it
/// log_level: info
/// cache_size: 65536                        # decision cache entries
/// decision_log: "-"                        # a path, "-" for standard error, or "off"
/// allow_log_sample: 100                    # log one allow decision in N (every deny is logged)
/// reload_timeout_seconds: 30               # a policy compile taking longer is refused
/// coalesce_window_ms: 500                  # handshake coalescing window; 0 turns coalescing off
/// max_coalesced_handshakes: 8              # further initiations answered per peer and window; 0: off
/// persistent_keepalive_seconds: 25         # default for peers that set none (0: off, the default);
///                                          # 25 keeps roaming clients' NAT mappings open
/// offload: auto                            # kernel offloads on the data path: auto or off;
///                                          # --offload, then $ZTPD_OFFLOAD, take precedence
/// xdp:                                     # optional: guard the tunnel port with XDP
///   interface: eth0                        # the underlay interface
///   mode: auto                             # auto (native, else generic), native, generic
///   handshake_rate: 20/s                   # initiations per source address (burst: twice that)
///   object: /usr/lib/ztp/ztp_xdp.o         # optional; default: bpf/ztp_xdp.o beside the checkout
/// ```
package struct EdgeConfig: Sendable, Equatable {
    package var interface = "ztp0"
    package var listenPort: UInt16 = 51820
    package var privateKeyFile: String?
    package var addresses: [String] = []
    package var policies: String?
    package var bundle: String?
    package var wireguardConfig: String?
    package var metrics: String? = "127.0.0.1:9586"
    package var controlSocket: String?
    package var logLevel = "info"
    package var cacheSize = 65_536
    package var decisionLog: String? = "-"
    package var allowLogSample = 100
    /// The time one compile of the policy may take (at start and at each reload); a compile
    /// past it is refused with `policy-too-complex` and the policy in force stays.
    package var reloadTimeoutSeconds = 30
    /// Handshake coalescing (see Tunnel's `HandshakeCoalescing`): within this many
    /// milliseconds of answering a peer's initiation, repeats and older ones are dropped.
    package var coalesceWindowMilliseconds = 500
    /// Further initiations answered per peer and window; 0 turns coalescing off.
    package var maxCoalescedHandshakes = 8
    /// Persistent keepalive for peers that set none; 0 for off.
    package var persistentKeepaliveSeconds = 0
    /// The data path's kernel offloads (`offload: auto|off`); nil when the file does not say,
    /// so that `$ZTPD_OFFLOAD` (and the default, auto) apply. See ``DataPathOffloads/resolve(flag:environment:config:)``.
    package var offload: DataPathOffloads?
    package var xdp: XDPSettings?
    /// The keys whose signature a bundle needs to be put in force; nil: signatures are not
    /// required. Set, it rules out a policy directory, since sources carry no signature.
    package var trustedPublishers: [SigningPublicKey]?

    /// Where the edge keeps state across restarts: the last good bundle from a remote source.
    package var stateDirectory = BundleCache.defaultDirectory

    /// The `etcd:` section: the edge follows the fleet's pointer there (ztpc publish moves it).
    package var etcd: EtcdSettings?

    /// Where the fleet's etcd is and who this edge is in it.
    package struct EtcdSettings: Sendable, Equatable {
        /// Client URLs, tried in order.
        package var endpoints: [String]
        package var prefix = "/ztp"
        /// The edge's name in the fleet: its key is PREFIX/edges/NAME. Nil: the host name.
        package var name: String?
        /// How often the edge reads the pointer while it watches it: the backstop for a watch that
        /// hangs without an error (a frozen member).
        package var rereadSeconds = 30

        package init(endpoints: [String]) { self.endpoints = endpoints }

        /// ``name``, or the host name.
        package var edgeName: String { name ?? ProcessInfo.processInfo.hostName }
    }

    /// The cache of the last good remote bundle, in ``stateDirectory``.
    package var bundleCache: BundleCache { BundleCache(directory: stateDirectory) }

    /// The policy to start from: the configured directory or bundle; else, for an edge that
    /// follows a remote source (`followsRemote`), the cached last good bundle, so that it
    /// enforces with the source unreachable. Nil when there is neither.
    package func startingPolicySource(followsRemote: Bool) -> PolicySource? {
        if let policies { return .directory(policies) }
        if let bundle { return .bundle(bundle) }
        return followsRemote ? bundleCache.startingSource : nil
    }

    /// Whose bundles this edge accepts, from ``trustedPublishers``.
    package var bundleTrust: BundleTrust { trustedPublishers.map { .publishers($0) } ?? .anyBundle }

    /// The `xdp:` section.
    package struct XDPSettings: Sendable, Equatable {
        package var interface: String
        package var mode = "auto"
        package var handshakeRate = Rate(count: 20, seconds: 1)
        package var object: String?

        package init(interface: String) { self.interface = interface }
    }

    package init() {}

    /// The control socket path: configured, or `/var/run/ztp/INTERFACE.sock`.
    package var controlSocketPath: String { controlSocket ?? "/var/run/ztp/\(interface).sock" }

    package struct ConfigError: Error, CustomStringConvertible {
        package var description: String
    }

    static let keys = [
        "interface", "listen_port", "private_key_file", "addresses", "policies", "bundle", "wireguard_config",
        "metrics", "control_socket", "log_level", "cache_size", "decision_log", "allow_log_sample", "xdp",
        "coalesce_window_ms", "max_coalesced_handshakes", "persistent_keepalive_seconds", "reload_timeout_seconds",
        "trusted_publishers", "state_dir", "etcd", "offload",
    ]

    /// Parses the YAML text; errors name the file, line and column.
    package static func parse(_ text: String, path: String) throws(ConfigError) -> EdgeConfig {
        func fail(_ node: Node?, _ message: String) -> ConfigError {
            let where_ = node?.mark.map { "\(path):\($0.line):\($0.column)" } ?? path
            return ConfigError(description: "\(where_): \(message)")
        }
        let root: Node?
        do {
            // The encoding is named: Yams' default reads the whole process environment on every
            // call (for YAMS_DEFAULT_ENCODING), which cost a tenth of a config parse; Swift
            // strings are UTF-8, which is what that default picks.
            root = try Yams.compose(yaml: text, .default, .default, .utf8)
        } catch {
            throw ConfigError(description: "\(path): not valid YAML: \(error)")
        }
        var c = EdgeConfig()
        guard let mapping = root?.mapping else {
            if root == nil || root?.null != nil { return c }
            throw fail(root, "the configuration is a YAML mapping")
        }
        for (k, v) in mapping {
            guard let key = k.scalar?.string else { throw fail(k, "keys are plain words") }
            func string() throws(ConfigError) -> String {
                guard let s = v.scalar?.string else { throw fail(v, "'\(key)' takes one value") }
                return s
            }
            func integer(_ range: ClosedRange<Int>) throws(ConfigError) -> Int {
                guard let n = Int(try string()), range.contains(n) else {
                    throw fail(v, "'\(key)' must be a whole number from \(range.lowerBound) to \(range.upperBound)")
                }
                return n
            }
            switch key {
            case "interface":
                c.interface = try string()
                guard !c.interface.isEmpty, c.interface.utf8.count <= 15, !c.interface.contains("/") else {
                    throw fail(v, "an interface name has 1 to 15 characters and no '/'")
                }
            case "listen_port": c.listenPort = UInt16(try integer(1...65535))
            case "private_key_file": c.privateKeyFile = try string()
            case "addresses":
                let items = v.sequence.map { Array($0) } ?? [v]
                c.addresses = []
                for item in items {
                    guard let s = item.scalar?.string, s.contains("/"), IPPrefix(s) != nil
                    else { throw fail(item, "an address is written with its prefix length, such as 10.99.0.1/24") }
                    c.addresses.append(s)
                }
            case "policies": c.policies = try string()
            case "bundle": c.bundle = try string()
            case "wireguard_config": c.wireguardConfig = try string()
            case "metrics":
                let s = try string()
                c.metrics = s == "off" ? nil : s
                if let m = c.metrics, HostPort(m) == nil { throw fail(v, "metrics takes HOST:PORT, such as 127.0.0.1:9586, or off") }
            case "control_socket": c.controlSocket = try string()
            case "log_level":
                c.logLevel = try string()
                guard ["trace", "debug", "info", "notice", "warning", "error", "critical"].contains(c.logLevel) else {
                    throw fail(v, "log_level is one of trace, debug, info, notice, warning, error, critical")
                }
            case "cache_size": c.cacheSize = try integer(16...(1 << 24))
            case "decision_log":
                let s = try string()
                c.decisionLog = s == "off" ? nil : s
            case "allow_log_sample": c.allowLogSample = try integer(1...1_000_000)
            case "reload_timeout_seconds": c.reloadTimeoutSeconds = try integer(1...3_600)
            case "coalesce_window_ms": c.coalesceWindowMilliseconds = try integer(0...60_000)
            case "max_coalesced_handshakes": c.maxCoalescedHandshakes = try integer(0...1_000)
            case "persistent_keepalive_seconds": c.persistentKeepaliveSeconds = try integer(0...65_535)
            case "offload":
                guard let mode = DataPathOffloads(setting: try string()) else { throw fail(v, "offload is auto or off") }
                c.offload = mode
            case "state_dir":
                c.stateDirectory = try string()
                guard c.stateDirectory.hasPrefix("/") else { throw fail(v, "state_dir is an absolute path, such as /var/lib/ztp") }
            case "trusted_publishers":
                var keys: [SigningPublicKey] = []
                for item in v.sequence.map({ Array($0) }) ?? [v] {
                    guard let text = item.scalar?.string else { throw fail(item, "trusted_publishers lists base64 public keys or KEY.pub paths") }
                    do {
                        keys.append(try SigningPublicKey(base64OrFile: text))
                    } catch {
                        throw fail(item, "\(error)")
                    }
                }
                guard !keys.isEmpty else {
                    throw fail(v, "trusted_publishers needs at least one key (leave it out to accept unsigned bundles)")
                }
                c.trustedPublishers = keys
            case "etcd":
                guard let fields = v.mapping else {
                    throw fail(v, "etcd takes a mapping: { endpoints: [http://HOST:2379], prefix: /ztp, name: EDGE }")
                }
                var settings = EtcdSettings(endpoints: [])
                for (ek, ev) in fields {
                    guard let name = ek.scalar?.string else { throw fail(ek, "etcd keys are plain words") }
                    switch name {
                    case "endpoints":
                        for item in ev.sequence.map({ Array($0) }) ?? [ev] {
                            guard let url = item.scalar?.string, !url.isEmpty else { throw fail(item, "etcd endpoints are URLs such as http://10.0.0.1:2379") }
                            settings.endpoints.append(url)
                        }
                    case "prefix":
                        guard let prefix = ev.scalar?.string, prefix.hasPrefix("/"), prefix.count > 1 else {
                            throw fail(ev, "the etcd prefix is a key path such as /ztp")
                        }
                        settings.prefix = prefix
                    case "name":
                        guard let edge = ev.scalar?.string, !edge.isEmpty, !edge.contains("/") else {
                            throw fail(ev, "the edge name is a word without '/', such as edge-1")
                        }
                        settings.name = edge
                    case "reread_seconds":
                        guard let seconds = (ev.scalar?.string).flatMap({ Int($0) }), (1...86_400).contains(seconds) else {
                            throw fail(ev, "reread_seconds is a number of seconds from 1 to 86400")
                        }
                        settings.rereadSeconds = seconds
                    default: throw fail(ek, "unknown etcd key '\(name)'; etcd has endpoints, prefix, name, reread_seconds")
                    }
                }
                guard !settings.endpoints.isEmpty else { throw fail(v, "etcd needs endpoints: (at least one client URL)") }
                c.etcd = settings
            case "xdp":
                guard let fields = v.mapping else { throw fail(v, "xdp takes a mapping: { interface: eth0, mode: auto, handshake_rate: 20/s }") }
                var x = XDPSettings(interface: "")
                for (xk, xv) in fields {
                    guard let name = xk.scalar?.string, let value = xv.scalar?.string else { throw fail(xk, "xdp keys take one value each") }
                    switch name {
                    case "interface": x.interface = value
                    case "mode":
                        guard ["auto", "native", "generic"].contains(value) else { throw fail(xv, "xdp mode is auto, native or generic") }
                        x.mode = value
                    case "handshake_rate":
                        guard let r = Rate.parse(value) else { throw fail(xv, "handshake_rate is a rate such as 20/s") }
                        x.handshakeRate = r
                    case "object": x.object = value
                    default: throw fail(xk, "unknown xdp key '\(name)'; xdp has interface, mode, handshake_rate, object")
                    }
                }
                guard !x.interface.isEmpty else { throw fail(v, "xdp needs interface: (the underlay interface to guard)") }
                c.xdp = x
            default:
                let hint = Suggest.closest(to: key, among: keys).map { "; did you mean '\($0)'?" } ?? ""
                throw fail(k, "unknown key '\(key)'\(hint)")
            }
        }
        try c.validate(path)
        return c
    }

    /// The checks across keys, for the file and again once ztpd's flags override it.
    package func validate(_ path: String) throws(ConfigError) {
        if policies != nil && bundle != nil {
            throw ConfigError(description: "\(path): give either policies or bundle, not both")
        }
        // A directory is compiled from sources that carry no signature: trusting publishers
        // and reading it would let anyone who can write there grant access.
        if trustedPublishers != nil, let policies {
            throw ConfigError(
                description: "\(path): trusted_publishers needs a signed bundle, but policies: \(policies) is a directory, which carries no signature; give bundle: with a file from ztpc compile --sign")
        }
    }

    /// Reads and parses a configuration file.
    package static func load(path: String) throws(ConfigError) -> EdgeConfig {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw ConfigError(description: "\(path): cannot read the configuration")
        }
        return try parse(text, path: path)
    }
}

/// `HOST:PORT` for listening sockets (IPv4 or `[IPv6]`).
package struct HostPort: Sendable, Equatable {
    package var host: String
    package var port: UInt16

    package init?(_ text: String) {
        let host: Substring, port: Substring
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { return nil }
            port = rest.dropFirst()
        } else {
            guard let colon = text.lastIndex(of: ":") else { return nil }
            host = text[..<colon]
            port = text[text.index(after: colon)...]
        }
        guard let p = UInt16(port), p > 0, IPAddress(host) != nil else { return nil }
        self.host = String(host)
        self.port = p
    }
}
