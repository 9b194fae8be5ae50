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
    /// The data path: kernel offloads, or one packet per system call (`--offload off`).
    var offloads: DataPathOffloads
    /// nil runs a plain WireGuard interface: no policy, every packet passes (unless the edge
    /// follows a fleet, which then gives it its first policy).
    var policy: PolicySource?
    /// TEST ONLY (`--test-no-tunnel`): the policy and its services without a tunnel.
    var testNoTunnel = false
}

/// The tunnel, and with a policy the enforcer, its reloads, metrics and control socket, as one
/// service: started by `run`, stopped on graceful shutdown (SIGTERM or SIGINT).
final class EdgeDaemon: Service, @unchecked Sendable {
    let settings: DaemonSettings
    let logger: Logger

    init(settings: DaemonSettings, logger: Logger) {
        self.settings = settings
        self.logger = logger
    }

    func run() async throws {
        let notifier = SystemdNotifier.fromEnvironment()
        let fleet = try settings.edge.etcd.map { try FleetMembership(settings: $0, logger: logger) }
        var policy = settings.policy
        if let fleet, policy == nil {
            // Nothing local and nothing cached: the first policy comes from etcd.
            guard await fleet.bootstrap(trust: settings.edge.bundleTrust, cache: settings.edge.bundleCache) else {
                await fleet.shutdown()
                return
            }
            policy = settings.edge.bundleCache.startingSource
        }
        let edge = try loadPolicy(policy)
        let fleetTask = edge.flatMap { edge in fleet.map { fleet in Task { await fleet.run(edge: edge) } } }
        defer { fleetTask?.cancel() }
        if settings.testNoTunnel {
            try await runWithoutTunnel(edge, fleetTask: fleetTask, fleet: fleet)
            return
        }
        let xdpBox = XDPBox()
        let (runtime, tun) = try makeTunnel(edge: edge, xdpBox: xdpBox)
        edge?.attach(runtime)

        let uapi: UAPIServer?
        do {
            uapi = try UAPIServer(interface: tun.name, runtime: runtime, logger: logger)
        } catch {
            logger.warning("UAPI socket unavailable (wg show will not work): \(error)")
            uapi = nil
        }
        let services = edge.map { startPolicyServices($0, notifier: notifier) }

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
                "peers": "\(runtime.peerCount)", "policy": "\(policy.map { "\($0)" } ?? "none")",
            ])
        // Interface, policy and XDP are up: systemd may start what is ordered after us.
        notifier?.ready(status: Self.status(edge, interface: tun.name, port: runtime.listenPort))
        let watchdog = NotifyWatchdog(notifier: notifier, runtime: runtime, logger: logger)
        watchdog?.start()
        if WG.testTimersScale != 1 {
            logger.warning("TEST ONLY: protocol timers scaled by \(WG.testTimersScale) (REKEY_AFTER_TIME \(WG.REKEY_AFTER_TIME))")
        }

        let gone = await waitUntilStopped(interface: tun.name, uapiSocket: uapi?.path)
        if let gone { logger.notice("\(gone): shutting down") } else { logger.notice("shutting down") }
        notifier?.stopping()
        watchdog?.stop()
        await leave(fleet, fleetTask)
        services?.stop()
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

    /// TEST ONLY: the policy, its services and the fleet, until SIGTERM or SIGINT.
    private func runWithoutTunnel(_ edge: EdgeService?, fleetTask: Task<Void, Never>?, fleet: FleetMembership?) async throws {
        guard let edge else { throw DaemonError.policy }
        let services = startPolicyServices(edge, notifier: nil)
        logger.warning("TEST ONLY: no tunnel; policy generation \(edge.enforcer.store.generation.number) in force")
        try? await gracefulShutdown()
        logger.notice("shutting down")
        await leave(fleet, fleetTask)
        services.stop()
        logger.info("stopped")
    }

    /// Stops following the fleet and leaves it (the edge's key goes with its revoked lease).
    private func leave(_ fleet: FleetMembership?, _ task: Task<Void, Never>?) async {
        task?.cancel()
        await task?.value
        await fleet?.shutdown()
    }

    /// The enforcer with the policy compiled once, or nil for a plain WireGuard interface.
    /// A policy that does not compile stops the start, with its diagnostics in the log.
    private func loadPolicy(_ policy: PolicySource?) throws -> EdgeService? {
        guard let source = policy else { return nil }
        let decisionLog = try settings.edge.decisionLog.map { try DecisionLog(path: $0) }
        do {
            return try EdgeService(
                source: source, cacheSize: settings.edge.cacheSize, allowLogSample: settings.edge.allowLogSample,
                decisionLog: decisionLog, logger: logger, reloadTimeout: Double(settings.edge.reloadTimeoutSeconds),
                trust: settings.edge.bundleTrust, cache: settings.edge.bundleCache)
        } catch {
            guard !error.diagnostics.isEmpty else {
                // A bundle refusal (corrupt, unsigned, untrusted) is one sentence: one line.
                logger.critical("cannot load the policy from \(source); not starting: \(error.message)")
                throw DaemonError.policy
            }
            logger.critical("cannot load the policy from \(source); not starting")
            for d in error.diagnostics {
                logger.critical("\(d.span.map { "\($0.start): " } ?? "")error: \(d.message) [\(d.code.rawValue)]")
            }
            throw DaemonError.policy
        }
    }

    /// The TUN device (up, with its MTU and addresses), the UDP socket, and the runtime over
    /// them with the hooks: the enforcer's when there is a policy, session logging otherwise;
    /// the log; and the XDP guard's, reached through `xdpBox` (the guard is attached later).
    private func makeTunnel(edge: EdgeService?, xdpBox: XDPBox) throws -> (TunnelRuntime, TunDevice) {
        let tun = try TunDevice(name: settings.interface, offloading: settings.offloads.opensTunWithOffloads)
        try tun.setMTU(settings.mtu)
        try tun.setUp()
        let socket = try UDPSocket(port: settings.tunnel.listenPort ?? settings.edge.listenPort)
        try assignAddresses(tun.name)

        let log = logger
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
        // The XDP program's session map follows the tunnel's receiver indices.
        hooks.receiverIndicesChanged = { indices in xdpBox.update(indices, log: log) }
        // `wg set listen-port`: the guard watches the port the socket is bound to now.
        hooks.listenPortChanged = { port in xdpBox.setPort(port, log: log) }
        let runtime = try TunnelRuntime(
            configuration: settings.tunnel, tun: tun, socket: socket, hooks: hooks,
            underLoadThreshold: settings.underLoadThreshold, offloads: settings.offloads)
        return (runtime, tun)
    }

    /// Waits for SIGTERM/SIGINT, or for the interface or its UAPI socket to disappear
    /// (`wg-quick down`); returns what disappeared, or nil for a signal.
    private func waitUntilStopped(interface: String, uapiSocket: String?) async -> String? {
        let liveness = InterfaceLiveness(interface: interface, socketPath: uapiSocket)
        return await withTaskGroup(of: String?.self) { group in
            group.addTask { try? await gracefulShutdown(); return nil }
            group.addTask { await liveness.waitUntilGone() }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
    }

    /// Reloads the policy, telling systemd (`RELOADING=1`, then `READY=1` with the outcome).
    static func reload(_ edge: EdgeService, reason: String, notifier: SystemdNotifier?) {
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
