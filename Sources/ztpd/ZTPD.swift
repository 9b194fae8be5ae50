import ArgumentParser
import Edge
import Enforcer
import Foundation
import Logging
import ServiceLifecycle
import Tunnel

/// `ztpd`: the ztp edge. A userspace WireGuard interface that, given a policy, lets each peer
/// reach exactly what the policy allows, and reloads the policy without dropping anyone.
@main
struct ZTPD: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ztpd",
        abstract: "The ztp edge: userspace WireGuard with per-flow policy enforcement.",
        discussion: """
            Settings come from --daemon-config (YAML; see README) and are overridden by flags. Peers come \
            from the policy's identities that list allowed_ips, from a wg-style --config file, and from \
            `wg set` on the UAPI socket. Without --policies or --bundle the interface is a plain WireGuard \
            interface. SIGHUP, or any change in the policy directory, reloads the policy.

            By default ztpd works as wireguard-go does: it returns once the interface is up and its UAPI \
            socket (/var/run/wireguard/INTERFACE.sock) answers, and keeps running in the background \
            (pid file and log file: see --pid-file, --log-file). --foreground (-f), WG_PROCESS_FOREGROUND=1 \
            in the environment, or a systemd notify service's NOTIFY_SOCKET keeps it in the foreground instead. Either way it stops on SIGTERM or SIGINT, \
            and when its interface is deleted (wg-quick down) or its UAPI socket is removed. Under systemd \
            (ztpd@.service) it reports readiness and reloads on $NOTIFY_SOCKET and feeds the watchdog.

            `ztpd IFACE` with nothing else is a drop-in for wireguard-go under wg-quick \
            (WG_QUICK_USERSPACE_IMPLEMENTATION=ztpd): the interface comes up with no private key and a \
            random port, and waits for `wg setconf`. Without a key nothing is sent or answered; a policy \
            (--policies, --bundle) may still be given and enforces from the moment a key is set.
            """,
        version: BuildInfo.versionLine)

    @Argument(help: "Name of the TUN interface to create (at most 15 bytes); default from the daemon config, else ztp0.")
    var interface: String?

    @Option(name: .long, help: "The daemon's YAML configuration file.")
    var daemonConfig: String?

    @Option(name: .long, help: "wg-style configuration file ([Interface] PrivateKey, ListenPort; [Peer] ...). Must not be readable by group or others.")
    var config: String?

    @Option(name: .long, help: "File holding the interface's base64 private key (mode 0600 or stricter).")
    var privateKey: String?

    @Option(name: .long, help: "UDP port to listen on.")
    var listenPort: UInt16?

    @Option(name: .long, help: "Policy directory, compiled at start and on every change.")
    var policies: String?

    @Option(name: .long, help: "Compiled policy bundle (ztpc compile), reloaded on SIGHUP.")
    var bundle: String?

    @Option(name: .long, help: "Address (CIDR) to give the interface; repeatable.")
    var address: [String] = []

    @Option(name: .long, help: "HOST:PORT for Prometheus metrics, or off.")
    var metrics: String?

    @Option(name: .long, help: "Control socket path for ztpc status.")
    var controlSocket: String?

    @Option(name: .long, help: "Decision cache size (flows).")
    var cacheSize: Int?

    @Option(name: .long, help: "Decision log: a path, - for standard error, or off.")
    var decisionLog: String?

    @Option(name: .long, help: "Log one allow decision in N (every deny is logged).")
    var allowLogSample: Int?

    @Option(name: .long, help: "Underlay interface to guard with the XDP program (bpf/ztp_xdp.o).")
    var xdpInterface: String?

    @Option(name: .long, help: "XDP attach mode: auto (native, else generic), native, generic.")
    var xdpMode: String?

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String?

    @Option(name: .long, help: "Log format on standard error: auto (journal under systemd, else text), text, json (one object a line), journal.")
    var logFormat: LogFormat = .auto

    @Option(name: .long, help: "MTU of the interface (default 1420, or MTU from the config).")
    var mtu: Int?

    @Option(name: .long, help: "Handshake messages per second above which cookies (MAC2) are demanded and senders rate-limited.")
    var underLoadThreshold: Int = TunnelRuntime.defaultUnderLoadThreshold

    @Option(name: .long, help: "Handshake coalescing window in milliseconds: within it, a peer's repeated or older initiations are dropped (default 500; 0 turns coalescing off).")
    var coalesceWindowMs: Int?

    @Option(name: .long, help: "Initiations answered per peer and coalescing window after the first (default 8; 0 turns coalescing off).")
    var maxCoalescedHandshakes: Int?

    @Flag(name: .long, help: "Answer every handshake initiation (no coalescing).")
    var noCoalescing = false

    @Option(name: .long, help: "Persistent keepalive in seconds for peers that set none (default off; 25 suits roaming clients).")
    var persistentKeepalive: UInt16?

    @Option(name: .long, help: "Kernel offloads on the data path: auto (TUN segmentation and coalescing, UDP GSO/GRO where the kernel grants them) or off (one packet per system call). Default: $ZTPD_OFFLOAD, else offload: in the daemon config, else auto.")
    var offload: String?

    @Option(name: .long, help: "Follow the fleet's policy pointer in etcd at these client URLs (comma-separated); overrides etcd: endpoints in the daemon config.")
    var etcd: String?

    @Option(name: .long, help: "The fleet's etcd key prefix (default /ztp, or etcd: prefix in the daemon config).")
    var etcdPrefix: String?

    @Option(name: .long, help: "This edge's name in the fleet (default: etcd: name in the daemon config, else the host name).")
    var edgeName: String?

    @Flag(name: .long, help: ArgumentHelp(
        "TEST ONLY: no TUN device, UDP socket or XDP: only the policy, its control socket, metrics and the fleet (for fleet tests and benchmarks without root).",
        visibility: .hidden))
    var testNoTunnel = false

    @Option(name: .long, help: ArgumentHelp(
        "TEST ONLY: multiply the protocol timers (REKEY_AFTER_TIME, REJECT_AFTER_TIME, ...) by this factor in (0, 1].",
        visibility: .hidden))
    var testTimersScale: Double?

    @Flag(name: .shortAndLong, help: "Stay in the foreground (the default is the background, as for wireguard-go; WG_PROCESS_FOREGROUND=1 does the same).")
    var foreground = false

    @Flag(name: .long, help: "Run in the background (the default; kept for scripts that ask for it).")
    var daemon = false

    @Option(name: .long, help: "In the background: where ztpd writes its log (default /var/log/ztpd-INTERFACE.log).")
    var logFile: String?

    @Option(name: .long, help: "In the background: the pid file (default /var/run/ztp/INTERFACE.pid).")
    var pidFile: String?

    /// Whether to start the background copy: the default, unless asked to stay (the flag, or
    /// wireguard-go's environment variable, which wg-quick users may already set) or run by
    /// systemd as a notify service (`$NOTIFY_SOCKET`), which supervises the process it started
    /// and must not see it exit.
    private var runsInBackground: Bool {
        if foreground { return false }
        if daemon { return true }
        let environment = ProcessInfo.processInfo.environment
        if environment["WG_PROCESS_FOREGROUND"] == "1" { return false }
        if environment["NOTIFY_SOCKET"] != nil { return false }
        return true
    }

    mutating func run() async throws {
        // A daemon must outlive any reader that goes away: a `wg show | head -1`, a probe that
        // times out, a closed decision-log pipe or standard error. Ignoring SIGPIPE turns each
        // of those into EPIPE, which every writer handles as a closed client.
        signal(SIGPIPE, SIG_IGN)
        if foreground && daemon { throw ValidationError("give either --foreground or --daemon, not both") }
        if runsInBackground {
            // Everything but the daemon options goes to the background copy, which runs in the foreground.
            var arguments: [String] = ["--foreground"]
            var skip = false
            for a in CommandLine.arguments.dropFirst() {
                if skip { skip = false; continue }
                if a == "--daemon" { continue }
                if a == "--log-file" || a == "--pid-file" { skip = true; continue }
                if a.hasPrefix("--log-file=") || a.hasPrefix("--pid-file=") { continue }
                arguments.append(a)
            }
            var name = interface ?? "ztp0"
            if interface == nil, let daemonConfig, let c = try? EdgeConfig.load(path: daemonConfig) { name = c.interface }
            let log = logFile ?? "/var/log/ztpd-\(name).log"
            let pids = pidFile ?? "/var/run/ztp/\(name).pid"
            do {
                let pid = try Daemonize.start(arguments: arguments, interface: name, logFile: log, pidFile: pids)
                print("ztpd: \(name) is up; running in the background as pid \(pid) (log \(log), pid file \(pids))")
                return
            } catch {
                try? FileHandle.standardError.write(contentsOf: Data("ztpd: \(error)\n".utf8))
                throw ExitCode(1)
            }
        }
        // Before anything reads the protocol timers (they are read once).
        if let testTimersScale { setenv("ZTP_TEST_TIMERS_SCALE", "\(testTimersScale)", 1) }
        var edge = EdgeConfig()
        if let daemonConfig {
            do {
                edge = try EdgeConfig.load(path: daemonConfig)
            } catch {
                throw ValidationError("\(error)")
            }
        }
        // `ztpd IFACE` alone is wireguard-go's form: like it, take a free port rather than
        // fail when 51820 is taken; `wg setconf` gives the configured one.
        if daemonConfig == nil && config == nil && privateKey == nil && listenPort == nil { edge.listenPort = 0 }
        // Flags override the file.
        if let interface { edge.interface = interface }
        if let listenPort { edge.listenPort = listenPort }
        if let privateKey { edge.privateKeyFile = privateKey }
        if let policies { edge.policies = policies; edge.bundle = nil }
        if let bundle { edge.bundle = bundle; edge.policies = nil }
        if !address.isEmpty { edge.addresses = address }
        if let metrics { edge.metrics = metrics == "off" ? nil : metrics }
        if let controlSocket { edge.controlSocket = controlSocket }
        if let cacheSize { edge.cacheSize = cacheSize }
        if let decisionLog { edge.decisionLog = decisionLog == "off" ? nil : decisionLog }
        if let allowLogSample { edge.allowLogSample = allowLogSample }
        if let logLevel { edge.logLevel = logLevel }
        if config != nil { edge.wireguardConfig = config }
        if let xdpInterface { edge.xdp = edge.xdp ?? EdgeConfig.XDPSettings(interface: xdpInterface); edge.xdp?.interface = xdpInterface }
        if let xdpMode {
            guard ["auto", "native", "generic"].contains(xdpMode) else { throw ValidationError("--xdp-mode is auto, native or generic") }
            guard edge.xdp != nil else { throw ValidationError("--xdp-mode needs --xdp-interface (or xdp: in the daemon config)") }
            edge.xdp?.mode = xdpMode
        }
        if policies != nil && bundle != nil { throw ValidationError("give either --policies or --bundle, not both") }
        if let etcd {
            let endpoints = etcd.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            guard !endpoints.isEmpty else { throw ValidationError("--etcd takes client URLs, comma-separated") }
            if edge.etcd == nil { edge.etcd = EdgeConfig.EtcdSettings(endpoints: endpoints) }
            edge.etcd?.endpoints = endpoints
        }
        if let etcdPrefix {
            guard edge.etcd != nil else { throw ValidationError("--etcd-prefix needs --etcd (or etcd: in the daemon config)") }
            guard etcdPrefix.hasPrefix("/"), etcdPrefix.count > 1 else { throw ValidationError("--etcd-prefix is a key path such as /ztp") }
            edge.etcd?.prefix = etcdPrefix
        }
        if let edgeName {
            guard edge.etcd != nil else { throw ValidationError("--edge-name needs --etcd (or etcd: in the daemon config)") }
            guard !edgeName.isEmpty, !edgeName.contains("/") else { throw ValidationError("--edge-name is a word without '/'") }
            edge.etcd?.name = edgeName
        }
        // --policies may have replaced the file's bundle: trusted_publishers rules it out again.
        do {
            try edge.validate(daemonConfig ?? "ztpd")
        } catch {
            throw ValidationError("\(error)")
        }

        let format = logFormat
        let level = Logger.Level(rawValue: edge.logLevel) ?? .info
        LoggingSystem.bootstrap { label in format.makeHandler(label: label, level: level) }
        var logger = Logger(label: "ztpd")
        logger[metadataKey: "interface"] = "\(edge.interface)"

        if let coalesceWindowMs { edge.coalesceWindowMilliseconds = coalesceWindowMs }
        if let maxCoalescedHandshakes { edge.maxCoalescedHandshakes = maxCoalescedHandshakes }
        if let persistentKeepalive { edge.persistentKeepaliveSeconds = Int(persistentKeepalive) }
        guard edge.coalesceWindowMilliseconds >= 0, edge.maxCoalescedHandshakes >= 0 else {
            throw ValidationError("--coalesce-window-ms and --max-coalesced-handshakes take 0 or more")
        }

        var tunnel: TunnelConfiguration
        do {
            tunnel = try Self.tunnelConfiguration(edge)
        } catch {
            logger.critical("cannot configure the interface: \(error)")
            throw ExitCode(1)
        }
        tunnel.handshakeCoalescing = noCoalescing ? .off : HandshakeCoalescing(
            window: .milliseconds(edge.coalesceWindowMilliseconds), maxCoalesced: edge.maxCoalescedHandshakes)
        tunnel.defaultPersistentKeepalive = UInt16(edge.persistentKeepaliveSeconds)
        for key in tunnel.ignoredKeys {
            logger.notice("ignoring wg-quick key \(key) (give addresses with --address or addresses:)")
        }
        // --offload, then ZTPD_OFFLOAD (set and not empty), then the daemon config's offload:, then auto.
        let offloads: DataPathOffloads
        let offloadVariable = ProcessInfo.processInfo.environment["ZTPD_OFFLOAD"].flatMap { $0.isEmpty ? nil : $0 }
        do {
            offloads = try DataPathOffloads.resolve(flag: offload, environment: offloadVariable, config: edge.offload)
        } catch {
            throw ValidationError("\(error)")
        }
        let settings = DaemonSettings(
            interface: edge.interface, edge: edge, tunnel: tunnel, mtu: mtu ?? tunnel.mtu ?? 1420,
            underLoadThreshold: underLoadThreshold, offloads: offloads,
            policy: edge.startingPolicySource(followsRemote: edge.etcd != nil), testNoTunnel: testNoTunnel)
        // The daemon also returns on its own when its interface goes away (wg-quick down): a
        // normal end, as for wireguard-go.
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(
            services: [.init(service: EdgeDaemon(settings: settings, logger: logger),
                             successTerminationBehavior: .gracefullyShutdownGroup)],
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            try await group.run()
        } catch {
            logger.critical("\(error)")
            throw ExitCode(1)
        }
    }

    /// The tunnel's keys and peers: a wg-style file, or the private key file alone, or
    /// neither (no key until `wg setconf` gives one).
    static func tunnelConfiguration(_ edge: EdgeConfig) throws -> TunnelConfiguration {
        if let path = edge.wireguardConfig {
            var c = try TunnelConfiguration(parsing: try readSecretFile(path))
            if let keyFile = edge.privateKeyFile { c.privateKey = try PrivateKey(keyFile: keyFile) }
            return c
        }
        guard let keyFile = edge.privateKeyFile else {
            return TunnelConfiguration(privateKey: nil, listenPort: edge.listenPort)
        }
        // Straight into zeroing storage; the same mode checks as readSecretFile.
        let key = try PrivateKey(keyFile: keyFile)
        return TunnelConfiguration(privateKey: key, listenPort: edge.listenPort)
    }

    /// Reads a file that holds a private key, refusing one that group or others can read or
    /// write, or that is not a regular file.
    static func readSecretFile(_ path: String) throws -> String {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw ValidationError("\(path): cannot stat: \(String(cString: strerror(errno)))")
        }
        guard info.st_mode & S_IFMT == S_IFREG else { throw ValidationError("\(path): not a regular file") }
        guard info.st_mode & 0o077 == 0 else {
            throw ValidationError(String(format: "\(path): mode %04o lets group or others read or write the private key; chmod 600 it",
                                         info.st_mode & 0o7777))
        }
        return try String(contentsOfFile: path, encoding: .utf8)
    }
}
