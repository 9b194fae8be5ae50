import Dispatch
import Edge
import Enforcer
import Foundation
import Logging
import PolicyCompiler
import ServiceLifecycle
import Tunnel
import XDP

/// Everything ztpd runs, resolved from its configuration file and flags.
struct DaemonSettings {
    var interface: String
    var edge: EdgeConfig
    var tunnel: TunnelConfiguration
    var mtu: Int
    var underLoadThreshold: Int
    /// nil runs a plain WireGuard interface: no policy, every packet passes.
    var policy: PolicySource?
}

/// The tunnel, and with a policy the enforcer, its reloads, metrics and control socket, as one
/// service: started by `run`, stopped on graceful shutdown (SIGTERM or SIGINT).
final class EdgeDaemon: Service, @unchecked Sendable {
    private let settings: DaemonSettings
    private let logger: Logger

    init(settings: DaemonSettings, logger: Logger) {
        self.settings = settings
        self.logger = logger
    }

    func run() async throws {
        let log = logger
        let notifier = SystemdNotifier.fromEnvironment()
        var edge: EdgeService? = nil
        if let source = settings.policy {
            let decisionLog = try settings.edge.decisionLog.map { try DecisionLog(path: $0) }
            do {
                edge = try EdgeService(
                    source: source, cacheSize: settings.edge.cacheSize, allowLogSample: settings.edge.allowLogSample,
                    decisionLog: decisionLog, logger: logger, reloadTimeout: Double(settings.edge.reloadTimeoutSeconds))
            } catch {
                logger.critical("cannot load the policy from \(source); not starting")
                for d in error.diagnostics {
                    logger.critical("\(d.span.map { "\($0.start): " } ?? "")error: \(d.message) [\(d.code.rawValue)]")
                }
                if error.diagnostics.isEmpty { logger.critical("\(error.message)") }
                throw DaemonError.policy
            }
        }

        let tun = try TunDevice(name: settings.interface)
        try tun.setMTU(settings.mtu)
        try tun.setUp()
        let socket = try UDPSocket(port: settings.tunnel.listenPort ?? settings.edge.listenPort)
        try assignAddresses(tun.name)

        var hooks = edge?.hooks ?? TunnelRuntime.Hooks()
        if edge == nil {
            hooks.sessionEstablished = { key, endpoint in
                log.info("session established", metadata: ["peer": "\(key)", "endpoint": "\(endpoint.map { "\($0)" } ?? "none")"])
            }
            hooks.sessionEnded = { key, _ in log.info("session ended", metadata: ["peer": "\(key)"]) }
        }
        hooks.log = { level, message in
            switch level {
            case .debug: log.debug("\(message)")
            case .info: log.info("\(message)")
            case .warning: log.warning("\(message)")
            case .error: log.error("\(message)")
            }
        }
        // The XDP program's session map follows the tunnel's receiver indices; the hook is fixed
        // now, the guard attached after the runtime exists, so it reaches the guard through a box.
        let xdpBox = XDPBox()
        hooks.receiverIndicesChanged = { indices in xdpBox.update(indices, log: log) }
        // `wg set listen-port`: the guard watches the port the socket is bound to now.
        hooks.listenPortChanged = { port in xdpBox.setPort(port, log: log) }
        let runtime = try TunnelRuntime(
            configuration: settings.tunnel, tun: tun, socket: socket, hooks: hooks,
            underLoadThreshold: settings.underLoadThreshold)
        edge?.attach(runtime)

        let uapi: UAPIServer?
        do {
            uapi = try UAPIServer(interface: tun.name, runtime: runtime, logger: logger)
        } catch {
            logger.warning("UAPI socket unavailable (wg show will not work): \(error)")
            uapi = nil
        }

        var watcher: DirectoryWatcher? = nil
        var metricsServer: MetricsHTTPServer? = nil
        var control: ControlServer? = nil
        var hangup: DispatchSourceSignal? = nil
        var sampler: DispatchSourceTimer? = nil
        if let edge {
            if case .directory(let dir) = edge.source {
                watcher = try DirectoryWatcher(path: dir) { Self.reload(edge, reason: "files changed", notifier: notifier) }
                watcher?.start()
            }
            signal(SIGHUP, SIG_IGN)
            hangup = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
            hangup?.setEventHandler { Self.reload(edge, reason: "SIGHUP", notifier: notifier) }
            hangup?.resume()
            if let address = settings.edge.metrics.flatMap(HostPort.init) {
                do {
                    metricsServer = try MetricsHTTPServer(address: address) {
                        edge.sampleMetrics()
                        _ = edge.xdpStatus?()  // samples the XDP counters, when attached
                        return edge.metrics.render()
                    }
                    metricsServer?.start()
                    logger.info("metrics on http://\(settings.edge.metrics!)/metrics")
                } catch {
                    logger.error("metrics unavailable: \(error)")
                }
            }
            do {
                control = try ControlServer(path: settings.edge.controlSocketPath) { command in
                    // Quote only a short, escaped prefix of what a client sent: never its garbage.
                    command == "status" ? edge.status() : "unknown command \(ControlServer.quoted(command)); try: status\n"
                }
                control?.start()
            } catch {
                logger.error("control socket unavailable (ztpc status will not work): \(error)")
            }
            let timer = DispatchSource.makeTimerSource(queue: .global())
            timer.schedule(deadline: .now() + 1, repeating: 1)
            timer.setEventHandler { edge.sampleMetrics() }
            timer.resume()
            sampler = timer
        }

        let xdp = try attachXDP(port: runtime.listenPort, edge: edge)
        if let xdp {
            xdpBox.set(xdp)
            // A `wg set listen-port` between the attach and the line above reached no guard.
            try xdp.setTunnelPort(runtime.listenPort)
            // From here on transport to an index that is no live session is dropped at XDP.
            runtime.publishReceiverIndices()
        }

        runtime.start()
        logger.info(
            "interface up",
            metadata: [
                "public-key": "\(runtime.publicKey.map { "\($0)" } ?? "none yet (wg setconf sets it)")",
                "listen-port": "\(runtime.listenPort)",
                "peers": "\(runtime.status().count)", "policy": "\(settings.policy.map { "\($0)" } ?? "none")",
            ])
        // Interface, policy and XDP are up: systemd may start what is ordered after us.
        notifier?.ready(status: Self.status(edge, interface: tun.name, port: runtime.listenPort))
        let watchdog = NotifyWatchdog(notifier: notifier, runtime: runtime, logger: logger)
        watchdog?.start()
        if WG.testTimersScale != 1 {
            logger.warning("TEST ONLY: protocol timers scaled by \(WG.testTimersScale) (REKEY_AFTER_TIME \(WG.REKEY_AFTER_TIME))")
        }

        let liveness = InterfaceLiveness(interface: tun.name, socketPath: uapi?.path)
        let gone: String? = await withTaskGroup(of: String?.self) { group in
            group.addTask { try? await gracefulShutdown(); return nil }
            group.addTask { await liveness.waitUntilGone() }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }

        if let gone { logger.notice("\(gone): shutting down") } else { logger.notice("shutting down") }
        notifier?.stopping()
        watchdog?.stop()
        sampler?.cancel()
        hangup?.cancel()
        watcher?.stop()
        metricsServer?.stop()
        control?.stop()
        uapi?.stop()
        runtime.stop()
        if let xdp {
            do {
                try xdp.detach()
                logger.info("XDP program detached from \(xdp.attachment?.interface ?? "?")")
            } catch {
                logger.error("XDP detach failed: \(error)")
            }
        }
        logger.info("stopped")
    }

    /// Reloads the policy, telling systemd (`RELOADING=1`, then `READY=1` with the outcome).
    private static func reload(_ edge: EdgeService, reason: String, notifier: SystemdNotifier?) {
        notifier?.reloading(status: "reloading the policy (\(reason))")
        edge.reload(reason: reason) { installed in
            let g = edge.enforcer.store.generation.number
            notifier?.ready(status: installed ? "policy generation \(g) in force" : "policy reload refused; generation \(g) stays in force")
        }
    }

    /// The one-line status systemd shows (`systemctl status ztpd@IFACE`).
    private static func status(_ edge: EdgeService?, interface: String, port: UInt16) -> String {
        let policy = edge.map { "policy generation \($0.enforcer.store.generation.number) in force" } ?? "no policy"
        return "\(interface) up on UDP port \(port); \(policy)"
    }

    /// Attaches the XDP guard to the underlay interface when configured: handshake rate from the
    /// daemon config, deny list from the policy's `block:` (again on every reload), counters in
    /// the metrics and in `ztpc status`.
    private func attachXDP(port: UInt16, edge: EdgeService?) throws -> XDPGuard? {
        guard let settings = settings.edge.xdp else { return nil }
        let log = logger
        let mode: AttachMode = settings.mode == "native" ? .native : (settings.mode == "generic" ? .generic : .automatic)
        let xdp: XDPGuard
        do {
            xdp = try XDPGuard.attach(
                interface: settings.interface, port: port, mode: mode, objectPath: settings.object,
                log: { log.notice("xdp: \($0)") })
        } catch {
            logger.critical("cannot attach the XDP program to \(settings.interface): \(error)")
            throw error
        }
        let rate = settings.handshakeRate.perSecond
        try xdp.setHandshakeRate(perSecond: UInt32(max(1, rate.rounded())), burst: UInt32(max(2, (2 * rate).rounded())))
        logger.info(
            "XDP guard on \(settings.interface) (\(xdp.attachment.map { "\($0.mode)" } ?? "?") mode) for UDP port \(port); handshakes \(settings.handshakeRate) per source; program \(xdp.objectPath)")
        if let edge {
            let apply: @Sendable (DecisionTables) -> Void = { tables in
                do {
                    try xdp.setBlocklist(tables.blockedSources)
                    log.info("XDP deny list: \(tables.blockedSources.count) prefixes")
                } catch {
                    log.error("cannot load the XDP deny list: \(error)")
                }
            }
            apply(edge.enforcer.store.generation.tables)
            edge.onPolicyInstalled = apply
            edge.xdpStatus = {
                let counts = (try? xdp.statistics()) ?? [:]
                for (reason, n) in counts {
                    edge.metrics.record(counter: "ztp_xdp_packets_total", dimensions: [("reason", reason.description)], total: n)
                }
                return EdgeStatus.XDP(
                    interface: settings.interface, mode: xdp.attachment.map { "\($0.mode)" } ?? "?",
                    counters: Dictionary(uniqueKeysWithValues: counts.map { ($0.key.description, $0.value) }))
            }
        }
        return xdp
    }

    /// Gives the interface its configured addresses with `ip`, as wg-quick does.
    private func assignAddresses(_ name: String) throws {
        for address in settings.edge.addresses {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = ["ip", "address", "add", address, "dev", name]
            try p.run()
            p.waitUntilExit()
            guard p.terminationStatus == 0 else {
                throw DaemonError.address("ip address add \(address) dev \(name) failed (status \(p.terminationStatus))")
            }
        }
    }

    enum DaemonError: Error, CustomStringConvertible {
        case policy
        case address(String)

        var description: String {
            switch self {
            case .policy: "no policy in force"
            case .address(let s): s
            }
        }
    }
}

/// Holds the XDP guard for the receiver-index hook, which is created before the guard.
final class XDPBox: @unchecked Sendable {
    private let lock = NSLock()
    private var guardRef: XDPGuard?

    func set(_ g: XDPGuard) {
        lock.lock()
        guardRef = g
        lock.unlock()
    }

    /// Called by the tunnel when its socket was rebound (`wg set listen-port`).
    func setPort(_ port: UInt16, log: Logger) {
        lock.lock()
        defer { lock.unlock() }
        guard let g = guardRef else { return }
        do {
            try g.setTunnelPort(port)
            log.info("XDP guard follows the tunnel to UDP port \(port)")
        } catch {
            log.error("cannot move the XDP guard to UDP port \(port): \(error)")
        }
    }

    /// Called by the tunnel, in order, whenever the set of indices peers may address changes.
    func update(_ indices: Set<UInt32>, log: Logger) {
        lock.lock()
        defer { lock.unlock() }
        guard let g = guardRef else { return }
        do {
            try g.updateSessions(receiverIndices: indices)
        } catch {
            log.error("cannot update the XDP session map: \(error)")
        }
    }
}
