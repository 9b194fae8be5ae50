import ArgumentParser
import Dispatch
import Foundation
import Logging
import Tunnel

/// `ztpd IFNAME --config FILE`: runs one userspace WireGuard interface in the foreground.
@main
struct ZTPD: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ztpd",
        abstract: "Userspace WireGuard interface for ztp (foreground; stop with SIGTERM or SIGINT).")

    @Argument(help: "Name of the TUN interface to create (at most 15 bytes).")
    var interface: String

    @Option(name: .long, help: "wg-style configuration file ([Interface] PrivateKey, ListenPort; [Peer] ...). Must not be readable by group or others.")
    var config: String

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    @Option(name: .long, help: "MTU of the interface (default 1420, or MTU from the config).")
    var mtu: Int?

    func run() throws {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        var logger = Logger(label: "ztpd")
        logger[metadataKey: "interface"] = "\(interface)"

        let configuration: TunnelConfiguration
        do {
            configuration = try Self.loadConfiguration(path: config)
        } catch {
            logger.critical("cannot use configuration \(config): \(error)")
            throw ExitCode(1)
        }
        for key in configuration.ignoredKeys {
            logger.notice("ignoring wg-quick key \(key) (set addresses and routes with ip)")
        }

        let tun: TunDevice
        let socket: UDPSocket
        do {
            tun = try TunDevice(name: interface)
            try tun.setMTU(mtu ?? configuration.mtu ?? 1420)
            try tun.setUp()
            socket = try UDPSocket(port: configuration.listenPort ?? 0)
        } catch {
            logger.critical("cannot set up interface: \(error)")
            throw ExitCode(1)
        }

        let log = logger
        let hooks = TunnelRuntime.Hooks(
            sessionEstablished: { key, endpoint in
                log.info("session established", metadata: ["peer": "\(key)", "endpoint": "\(endpoint.map { "\($0)" } ?? "none")"])
            },
            sessionEnded: { key, _ in log.info("session ended", metadata: ["peer": "\(key)"]) },
            log: { level, message in
                switch level {
                case .debug: log.debug("\(message)")
                case .info: log.info("\(message)")
                case .warning: log.warning("\(message)")
                case .error: log.error("\(message)")
                }
            })
        let runtime: TunnelRuntime
        do {
            runtime = try TunnelRuntime(configuration: configuration, tun: tun, socket: socket, hooks: hooks)
        } catch {
            logger.critical("invalid peer configuration: \(error)")
            throw ExitCode(1)
        }

        let stopped = DispatchSemaphore(value: 0)
        var sources: [DispatchSourceSignal] = []
        for signalNumber in [SIGTERM, SIGINT] {
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            source.setEventHandler {
                log.notice("received signal \(signalNumber), shutting down")
                stopped.signal()
            }
            source.resume()
            sources.append(source)
        }

        let uapi: UAPIServer?
        do {
            uapi = try UAPIServer(interface: tun.name, runtime: runtime, privateKey: configuration.privateKey,
                                  listenPort: socket.port, logger: logger)
        } catch {
            logger.warning("UAPI socket unavailable (wg show will not work): \(error)")
            uapi = nil
        }

        runtime.start()
        logger.info("interface up", metadata: [
            "public-key": "\(runtime.publicKey)", "listen-port": "\(socket.port)",
            "peers": "\(configuration.peers.count)",
        ])
        stopped.wait()
        uapi?.stop()
        runtime.stop()
        sources.forEach { $0.cancel() }
        logger.info("stopped")
    }

    /// Reads the configuration, refusing a file that group or others can read (it holds
    /// the private key) or that is not a regular file.
    static func loadConfiguration(path: String) throws -> TunnelConfiguration {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw ValidationError("cannot stat: \(String(cString: strerror(errno)))")
        }
        guard info.st_mode & S_IFMT == S_IFREG else { throw ValidationError("not a regular file") }
        guard info.st_mode & 0o077 == 0 else {
            throw ValidationError(String(format: "mode %04o lets group or others read or write the private key; chmod 600 it",
                                         info.st_mode & 0o7777))
        }
        let text = try String(contentsOfFile: path, encoding: .utf8)
        return try TunnelConfiguration(parsing: text)
    }
}
