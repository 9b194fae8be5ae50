import Foundation
import SystemSupport

/// systemd's readiness protocol (sd_notify(3)): datagrams of `KEY=VALUE` lines sent to the
/// AF_UNIX socket named by `$NOTIFY_SOCKET`. A path, or an abstract name written with a leading
/// '@'. Outside systemd the variable is unset and ``fromEnvironment()`` gives nil, so every call
/// site reads `notifier?.send(...)`.
///
/// A datagram through SystemSupport rather than libsystemd: the protocol is one datagram, and
/// ztpd need not link libsystemd for it.
struct SystemdNotifier: Sendable {
    private let destination: UnixDatagramDestination

    /// The notifier for `$NOTIFY_SOCKET`, or nil when it is unset or names no usable socket.
    static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> SystemdNotifier? {
        guard let name = environment["NOTIFY_SOCKET"], !name.isEmpty else { return nil }
        return SystemdNotifier(socket: name)
    }

    /// nil if `name` is neither an absolute path nor an '@' abstract name, or is too long.
    init?(socket name: String) {
        guard let destination = UnixDatagramDestination(name: name) else { return nil }
        self.destination = destination
    }

    /// Sends `state` (for example "READY=1\nSTATUS=serving") as one datagram. Returns whether
    /// it was sent; systemd not listening is no reason for the daemon to fail, so nothing throws.
    @discardableResult
    func send(_ state: String) -> Bool {
        destination.send(Array(state.utf8))
    }

    /// `READY=1` with a status line: the interface, the policy and XDP are up.
    func ready(status: String) { send("READY=1\nSTATUS=\(status)") }

    /// `RELOADING=1`: a policy reload started; `ready(status:)` ends it.
    func reloading(status: String) {
        // MONOTONIC_USEC lets systemd 253+ (Type=notify-reload) match the reload to its request.
        send("RELOADING=1\nMONOTONIC_USEC=\(MonotonicClock.microseconds)\nSTATUS=\(status)")
    }

    /// `STOPPING=1`: shutting down.
    func stopping() { send("STOPPING=1\nSTATUS=stopping") }

    /// `WATCHDOG=1`: the data path is alive.
    func watchdog() { send("WATCHDOG=1") }
}
