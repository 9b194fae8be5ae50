import Dispatch
import Edge
import Foundation
import Logging

/// What runs beside the tunnel when there is a policy: reloads on a change in the policy
/// directory and on SIGHUP, the metrics endpoint, the control socket for `ztpc status`, and
/// the once-a-second metrics sample. Started together, stopped together.
struct PolicyServices {
    var watcher: DirectoryWatcher?
    var metrics: MetricsHTTPServer?
    var control: ControlServer?
    var hangup: DispatchSourceSignal?
    var sampler: DispatchSourceTimer?

    func stop() {
        sampler?.cancel()
        hangup?.cancel()
        watcher?.stop()
        metrics?.stop()
        control?.stop()
    }
}

extension EdgeDaemon {
    /// Starts the ``PolicyServices`` of `edge`. A metrics or control socket that cannot be
    /// opened is logged and left out: the edge enforces without it.
    func startPolicyServices(_ edge: EdgeService, notifier: SystemdNotifier?) -> PolicyServices {
        var services = PolicyServices()
        if case .directory(let dir) = edge.source {
            do {
                services.watcher = try DirectoryWatcher(path: dir) { Self.reload(edge, reason: "files changed", notifier: notifier) }
                services.watcher?.start()
            } catch {
                logger.error("cannot watch \(dir) (reload with SIGHUP): \(error)")
            }
        }
        signal(SIGHUP, SIG_IGN)
        let hangup = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
        hangup.setEventHandler { Self.reload(edge, reason: "SIGHUP", notifier: notifier) }
        hangup.resume()
        services.hangup = hangup
        if let address = settings.edge.metrics.flatMap(HostPort.init) {
            do {
                services.metrics = try MetricsHTTPServer(address: address) {
                    edge.sampleMetrics()
                    _ = edge.xdpStatus?()  // samples the XDP counters, when attached
                    return edge.metrics.render()
                }
                services.metrics?.start()
                logger.info("metrics on http://\(settings.edge.metrics!)/metrics")
            } catch {
                logger.error("metrics unavailable: \(error)")
            }
        }
        do {
            services.control = try ControlServer(path: settings.edge.controlSocketPath) { command in
                // Quote only a short, escaped prefix of what a client sent: never its garbage.
                command == "status" ? edge.status() : "unknown command \(ControlServer.quoted(command)); try: status\n"
            }
            services.control?.start()
        } catch {
            logger.error("control socket unavailable (ztpc status will not work): \(error)")
        }
        let timer = DispatchSource.makeTimerSource(queue: .global())
        timer.schedule(deadline: .now() + 1, repeating: 1)
        timer.setEventHandler { edge.sampleMetrics() }
        timer.resume()
        services.sampler = timer
        return services
    }
}
