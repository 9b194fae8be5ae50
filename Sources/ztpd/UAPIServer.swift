import Foundation
import Logging
import SystemSupport
import Tunnel

/// The cross-platform WireGuard userspace API on `/var/run/wireguard/NAME.sock` (a
/// root-only socket, mode 0600), so `wg show NAME` works on our interface.
///
/// The socket side only: the protocol (`get=1`, `set=1` as one transaction, and our
/// `ztp-stats=1`) is Tunnel's ``UAPIHandler`` over the runtime. Clients are served
/// concurrently, each within a whole-connection deadline, so one slow client holds only itself.
final class UAPIServer: @unchecked Sendable {
    static let directory = "/var/run/wireguard"
    /// The nice value of the threads that serve UAPI connections (one thread a connection).
    static let niceness: Int32 = 10
    let path: String
    private let handler: UAPIHandler
    /// Set once at the end of init: its handler reaches the protocol code through self.
    private var server: StreamServer?

    convenience init(interface: String, runtime: TunnelRuntime, logger: Logger) throws {
        try self.init(path: "\(Self.directory)/\(interface).sock", runtime: runtime, logger: logger)
    }

    /// Serves on `path`, each client within `requestTimeout` and concurrently with the others.
    /// The default leaves room for a `wg setconf` of tens of thousands of peers (read, then
    /// applied with one Diffie-Hellman computation per new peer) before its answer is written.
    init(
        path: String, runtime: TunnelRuntime, logger: Logger, requestTimeout: Duration = .seconds(30),
        maxConnections: Int = 16
    ) throws {
        handler = UAPIHandler(target: runtime) { level, message in
            switch level {
            case .debug: logger.debug("\(message)")
            case .info: logger.info("\(message)")
            case .warning: logger.warning("\(message)")
            case .error: logger.error("\(message)")
            }
        }
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

    /// One connection: requests until the client closes, stops answering or runs out of time.
    private func serve(_ connection: Connection) {
        // Configuration work (a `wg setconf` of thousands of peers is a Diffie-Hellman
        // computation each) yields the cores to the tunnel's threads: on a busy machine the
        // data path keeps its latency while a large request is applied.
        ThreadPriority.setCurrentThreadNiceness(Self.niceness)
        var reader = UAPILineReader { buffer in try connection.read(into: buffer) }
        // A client that hung up (`wg show | head -1`) is IOError.closed, never SIGPIPE.
        handler.serve(readLine: { () throws(UAPIError) in try reader.next() }, write: { try connection.write($0) })
    }
}
