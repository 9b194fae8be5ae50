import Dispatch
import Foundation
import Logging
import Tunnel

/// Feeds systemd's watchdog (`WatchdogSec=` in the unit, `$WATCHDOG_USEC` here) while the
/// tunnel's data path is alive: every half period it sends `WATCHDOG=1` only if each of the TUN,
/// UDP and timer threads has gone round its loop since the last look. A thread that died or
/// hangs (a deadlock, a blocked system call) stops the pings, and systemd restarts the unit.
final class NotifyWatchdog: @unchecked Sendable {
    private let notifier: SystemdNotifier
    private let runtime: TunnelRuntime
    private let logger: Logger
    private let interval: DispatchTimeInterval
    private let queue = DispatchQueue(label: "ztp.watchdog")
    private var timer: DispatchSourceTimer?
    /// Touched only on `queue`.
    private var lastRounds: [UInt64] = []
    private var stalled = false

    /// nil unless systemd asked for a watchdog (`$WATCHDOG_USEC`, and `$WATCHDOG_PID`, when set,
    /// is this process).
    init?(notifier: SystemdNotifier?, runtime: TunnelRuntime, logger: Logger,
          environment: [String: String] = ProcessInfo.processInfo.environment) {
        guard let notifier, let text = environment["WATCHDOG_USEC"], let usec = UInt64(text), usec > 0 else { return nil }
        if let pid = environment["WATCHDOG_PID"], pid != "\(getpid())" { return nil }
        self.notifier = notifier
        self.runtime = runtime
        self.logger = logger
        // Half the period, as sd_watchdog_enabled(3) advises, but never faster than the loops
        // go round (200 ms at most while idle), or a healthy idle thread would look stuck.
        interval = .microseconds(Int(max(usec / 2, 500_000)))
    }

    /// Whether every loop went round between the two samples.
    static func alive(previous: [UInt64], current: [UInt64]) -> Bool {
        previous.count == current.count && zip(previous, current).allSatisfy { $0 < $1 }
    }

    func start() {
        queue.sync { lastRounds = runtime.loopRounds() }
        let timer = DispatchSource.makeTimerSource(queue: queue)
        timer.schedule(deadline: .now() + interval, repeating: interval)
        timer.setEventHandler { [self] in check() }
        timer.resume()
        self.timer = timer
        logger.info("systemd watchdog fed every \(interval) while the data path runs")
    }

    func stop() { timer?.cancel() }

    private func check() {
        let rounds = runtime.loopRounds()
        defer { lastRounds = rounds }
        if Self.alive(previous: lastRounds, current: rounds) {
            if stalled { logger.notice("data path threads are going round again; feeding the watchdog") }
            stalled = false
            notifier.watchdog()
        } else if !stalled {
            stalled = true
            let names = ["tun", "udp", "timers"]
            let stuck = zip(names, zip(lastRounds, rounds)).filter { $0.1.0 >= $0.1.1 }.map(\.0)
            logger.error("data path thread stalled (\(stuck.joined(separator: ", "))): not feeding the systemd watchdog")
        }
    }
}
