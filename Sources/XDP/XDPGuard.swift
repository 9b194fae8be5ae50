import CLibBPF
import Glibc
import Synchronization

/// The XDP guard of the tunnel's UDP port: loads `bpf/ztp_xdp.o`, attaches it to the
/// underlay interface and keeps its maps in step with the daemon (live sessions, handshake
/// rate, deny list), and reads its counters.
///
/// Typical use by ztpd:
///
///     let xdp = try XDPGuard.attach(interface: "eth0", port: 51820, mode: .automatic,
///                                   log: { logger.notice("\($0)") })
///     try xdp.setHandshakeRate(perSecond: 20, burst: 40)
///     try xdp.setBlocklist(policy.blockedSources)             // on every policy reload
///     try xdp.updateSessions(receiverIndices: device.liveReceiverIndices)     // on every session change
///     let counters = try xdp.statistics()                    // metrics, `ztpc xdp stats`
///     try xdp.detach()                                       // on shutdown
///
/// All methods are safe to call from any thread; each takes a lock for the few system calls
/// it makes (map updates cost about a microsecond each). Needs root (CAP_BPF and CAP_NET_ADMIN).
package final class XDPGuard: Sendable {
    /// Receives one line for each event worth an operator's attention (a fallback to generic
    /// mode, the replacement of a program left by an earlier run).
    package typealias Log = @Sendable (String) -> Void

    /// Where the program is attached.
    package struct Attachment: Sendable, Equatable {
        /// The interface's name.
        package var interface: String
        /// Its index in the namespace that attached it.
        package var index: UInt32
        /// ``AttachMode/native`` or ``AttachMode/generic``: what the kernel accepted.
        package var mode: AttachMode
    }

    struct State {
        var object: BPFObject
        var config: ztp_config
        var sessions: Set<UInt32> = []
        var blocked: Set<IPPrefix> = []
        var attachment: Attachment?
    }

    let state: Mutex<State>
    let log: Log
    let cpus: Int

    /// Loads the program (found by ``ObjectLocation/resolve(_:)`` when `objectPath` is nil)
    /// into the kernel without attaching it. Its port is unset: it passes everything until
    /// ``attach(interface:port:mode:)`` or ``setTunnelPort(_:)``.
    /// With a `log`, libbpf's own warnings go to it too (libbpf has one such sink per
    /// process: the latest log given wins); without one they go to standard error.
    /// Throws ``XDPError`` when the object is missing or the kernel refuses it (with the
    /// verifier's log).
    package init(objectPath: String? = nil, log: Log? = nil) throws {
        if let log { LibbpfLog.install(log) }
        let object = try BPFObject(path: ObjectLocation.resolve(objectPath))
        let cpus = Int(libbpf_num_possible_cpus())
        guard cpus > 0 else { throw XDPError.mapOperationFailed(map: "ztp_stats", errno: -Int32(cpus)) }
        let config = ztp_config() // port 0: pass everything until attached
        try object.map("ztp_config").update(key: UInt32(0), value: config)
        self.state = Mutex(State(object: object, config: config))
        self.log = log ?? { _ in }
        self.cpus = cpus
    }

    /// Loads the program and attaches it to `interface` for the tunnel on UDP `port`; see
    /// ``init(objectPath:log:)`` and ``attach(interface:port:mode:)``.
    package static func attach(interface: String, port: UInt16, mode: AttachMode = .automatic,
                              objectPath: String? = nil, log: Log? = nil) throws -> XDPGuard {
        let xdp = try XDPGuard(objectPath: objectPath, log: log)
        try xdp.attach(interface: interface, port: port, mode: mode)
        return xdp
    }

    deinit {
        try? detach()
    }

    /// The path of the object the running program was loaded from.
    package var objectPath: String {
        state.withLock { $0.object.path }
    }

    /// Where the program is attached, or nil.
    package var attachment: Attachment? {
        state.withLock { $0.attachment }
    }
}
