import Etcd
import Foundation
import Logging
import ServiceLifecycle

/// Keeps `PREFIX/edges/NAME` up to date with the edge's ``EdgeReport``, under a lease of its own:
/// rewritten every `interval` (and at once after ``refreshSoon()``), the lease renewed with it.
/// When the edge dies the lease expires after `ttl` and the key disappears; a clean stop revokes
/// the lease, so the key goes at once.
public final class EdgeStatusReporter: Service, Sendable {
    /// The edge's name: its key is `PREFIX/edges/NAME`.
    public let edgeName: String
    private let client: EtcdClient
    private let key: String
    private let ttl: Int64
    private let interval: Duration
    private let backoff: Backoff
    private let logger: Logger
    private let report: @Sendable () async -> EdgeReport
    private let wakeup = Wakeup()

    /// - Parameters:
    ///   - ttl: the lease's time to live in seconds: how long a dead edge stays listed.
    ///   - interval: how often the report is rewritten and the lease renewed (well under `ttl`).
    ///   - report: builds the report from the edge's state, each time it is written.
    public init(
        client: EtcdClient,
        layout: FleetLayout,
        edgeName: String,
        ttl: Int64 = 10,
        interval: Duration = .seconds(3),
        backoff: Backoff = Backoff(),
        logger: Logger = Logger(label: "ztp.fleet.status"),
        report: @escaping @Sendable () async -> EdgeReport
    ) throws {
        try EdgeReport.validate(name: edgeName)
        precondition(ttl >= 2 && interval < .seconds(ttl), "the report must be refreshed well within the lease's TTL")
        self.client = client
        self.key = layout.edge(edgeName)
        self.edgeName = edgeName
        self.ttl = ttl
        self.interval = interval
        self.backoff = backoff
        self.logger = logger
        self.report = report
    }

    /// Asks for the report to be written now rather than at the next interval.
    public func refreshSoon() {
        wakeup.signal()
    }

    /// Writes the report until cancelled or a graceful shutdown, then revokes the lease.
    public func run() async throws {
        let lease = await cancelWhenGracefulShutdown { await self.report(untilCancelled: ()) }
        if let lease {
            // Leave the fleet at once rather than after the TTL. In a task of its own, because this
            // one is cancelled.
            try? await Task { try await self.client.revokeLease(lease) }.value
        }
    }

    /// Writes the report until cancelled; returns the lease held then.
    private func report(untilCancelled: Void) async -> Int64? {
        var lease: Int64?
        var failures = 0
        while !Task.isCancelled {
            do {
                let id: Int64
                if let held = lease {
                    try await client.keepAlive(lease: held)
                    id = held
                } else {
                    id = try await client.grantLease(ttl: ttl)
                    lease = id
                }
                try await write(lease: id)
                failures = 0
                await waitForNextRefresh()
            } catch EtcdError.leaseNotFound {
                // Expired while etcd was out of reach: the key went with it; start a new lease.
                lease = nil
            } catch {
                if Task.isCancelled { break }
                failures += 1
                logger.warning("edge status report: \(error)", metadata: ["edge": "\(edgeName)"])
                try? await Task.sleep(for: backoff.delay(afterFailures: failures))
            }
        }
        return lease
    }

    private func write(lease: Int64) async throws {
        var report = await report()
        report.name = edgeName
        try await client.put(key, value: try JSONEncoder().encode(report), lease: lease)
    }

    private func waitForNextRefresh() async {
        await wakeup.wait(atMost: interval)
    }
}
