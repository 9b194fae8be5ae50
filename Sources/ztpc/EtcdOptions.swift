import ArgumentParser
import Etcd
import Fleet
import Foundation
import Logging

/// The options every fleet command shares: where etcd is and which prefix the fleet lives under.
struct EtcdOptions: ParsableArguments {
    @Option(name: .customLong("etcd"), help: "etcd client URLs, comma-separated (http://HOST:PORT[,...]); tried in order.")
    var endpoints: String

    @Option(help: "The etcd key prefix of the fleet.")
    var prefix = FleetLayout.defaultPrefix

    func validate() throws {
        guard !EtcdClient.endpoints(fromList: endpoints).isEmpty else { throw ValidationError("--etcd needs at least one URL") }
        do { _ = try FleetLayout(prefix: prefix) } catch { throw ValidationError("\(error)") }
    }

    /// Runs `body` with a client and the layout, shutting the client down after.
    func withFleet<T: Sendable>(_ body: @escaping @Sendable (EtcdClient, FleetLayout) async throws -> T) throws -> T {
        let layout: FleetLayout
        let client: EtcdClient
        do {
            layout = try FleetLayout(prefix: prefix)
            client = try EtcdClient(endpoints: EtcdClient.endpoints(fromList: endpoints), logger: quietLogger("ztpc.etcd"))
        } catch {
            throw UsageFailure("\(error)")
        }
        return try runAsync {
            do {
                let value = try await body(client, layout)
                try? await client.shutdown()
                return value
            } catch {
                try? await client.shutdown()
                throw error
            }
        }
    }
}

/// Exit statuses of the fleet commands (publish, rollback, fleet status), beside `Status`.
enum FleetStatusCode {
    /// Someone else moved the pointer first: nothing was changed; look, then publish again.
    static let lostRace: Int32 = 3
    /// etcd could not be reached or refused the request.
    static let etcd: Int32 = 4
}

/// Maps a fleet or etcd failure to its message on standard error and its exit status.
func fleetFailure(_ error: Error) -> Error {
    let message: String
    let code: Int32
    switch error {
    case let error as FleetError:
        message = "\(error)"
        if case .publishedMeanwhile = error {
            code = FleetStatusCode.lostRace
        } else if case .collectionRaced = error {
            code = FleetStatusCode.lostRace
        } else if case .bundleRemoved = error {
            code = FleetStatusCode.lostRace
        } else if case .corruptBundle = error {
            code = FleetStatusCode.etcd
        } else {
            code = Status.usage
        }
    case let error as EtcdError:
        message = "\(error)"
        code = FleetStatusCode.etcd
    default:
        return error
    }
    FileHandle.standardError.write(Data("error: \(message)\n".utf8))
    return ExitCode(code)
}

/// A logger for the libraries ztpc drives: the command prints its own outcome, so only their
/// warnings and errors reach standard error.
func quietLogger(_ label: String) -> Logger {
    var logger = Logger(label: label)
    logger.logLevel = .warning
    return logger
}

/// Who publishes, for the pointer: `--publisher`, or USER@HOST.
func defaultPublisherName() -> String {
    let user = ProcessInfo.processInfo.environment["USER"] ?? ProcessInfo.processInfo.environment["LOGNAME"] ?? "unknown"
    return "\(user)@\(ProcessInfo.processInfo.hostName)"
}
