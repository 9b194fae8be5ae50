import Edge
import Enforcer
import Etcd
import Fleet
import Foundation
import Logging
import PolicyCompiler

/// The edge's part in a fleet (`etcd:` in the daemon config, or `--etcd`): it follows the
/// pointer in etcd, installing each bundle through ``EdgeService/installBundle(_:origin:contentHash:)`` (the
/// same checks and atomic swap as a local reload; the last good bundle goes to the cache), and
/// keeps its ``EdgeReport`` at `PREFIX/edges/NAME` under a lease.
final class FleetMembership: Sendable {
    let client: EtcdClient
    let layout: FleetLayout
    let name: String
    let rereadInterval: Duration
    private let logger: Logger

    init(settings: EdgeConfig.EtcdSettings, logger: Logger) throws {
        layout = try FleetLayout(prefix: settings.prefix)
        name = settings.edgeName
        rereadInterval = .seconds(settings.rereadSeconds)
        try EdgeReport.validate(name: name)
        client = try EtcdClient(endpoints: settings.endpoints, logger: logger)
        var logger = logger
        logger[metadataKey: "edge"] = "\(name)"
        self.logger = logger
    }

    /// For an edge with no policy yet (no local one, nothing cached): waits until etcd names a
    /// bundle for this edge that opens under `trust`, and writes it to `cache`, from which the
    /// edge then starts as from any bundle. Retries with a back-off; returns false when cancelled.
    func bootstrap(trust: BundleTrust, cache: BundleCache) async -> Bool {
        let store = BundleStore(client: client, layout: layout)
        let backoff = Backoff(initial: .milliseconds(200), maximum: .seconds(5))
        var failures = 0
        var refused: String?
        while !Task.isCancelled {
            do {
                if let kv = try await client.get(layout.current) {
                    let pointer = try JSONDecoder().decode(BundlePointer.self, from: kv.value)
                    let hash = pointer.hash(forEdge: name)
                    if hash != refused {
                        let bytes = [UInt8](try await store.fetch(hash))
                        do {
                            _ = try PolicySource.open(bundle: bytes, origin: "etcd:\(layout.manifest(hash))", trust: trust)
                            try cache.store(bytes)
                            logger.info("first bundle from etcd cached", metadata: ["hash": "\(hash)", "cache": "\(cache.path)"])
                            return true
                        } catch {
                            refused = hash
                            logger.error("the bundle etcd names is refused; waiting for another: \(error)", metadata: ["hash": "\(hash)"])
                        }
                    }
                } else if failures == 0 {
                    logger.notice("nothing published under \(layout.prefix) yet; waiting for ztpc publish")
                }
                failures = 0
                try? await Task.sleep(for: .seconds(1))
            } catch {
                failures += 1
                let delay = backoff.delay(afterFailures: failures)
                logger.warning("no policy yet and etcd is out of reach (\(error)); retrying in \(delay)")
                try? await Task.sleep(for: delay)
            }
        }
        return false
    }

    /// Follows the pointer and reports the edge's status until cancelled; then leaves the fleet
    /// (revokes the lease, so the edge disappears from `ztpc fleet status` at once).
    func run(edge: EdgeService) async {
        let layout = self.layout
        let reporterBox = ReporterBox()
        // Reconnect at least every second: an edge should converge within a second or two of etcd
        // coming back, and one request a second per edge is nothing to etcd.
        let backoff = Backoff(initial: .milliseconds(100), maximum: .seconds(1))
        let follower = Follower(
            client: client, layout: layout, edgeName: name,
            installedHash: edge.statusDocument().policy.bundleHash, backoff: backoff, rereadInterval: rereadInterval, logger: logger,
            onChange: { _ in reporterBox.reporter?.refreshSoon() }
        ) { bytes, hash in
            switch await edge.installBundle([UInt8](bytes), origin: "etcd:\(layout.manifest(hash))", contentHash: hash) {
            case .installed, .unchanged: .installed
            case .refused(_, let reason): .refused(reason: reason)
            case .superseded: .deferred(reason: "a newer reload was loaded first")
            }
        }
        let name = self.name
        let reporter: EdgeStatusReporter
        do {
            reporter = try EdgeStatusReporter(client: client, layout: layout, edgeName: name, backoff: backoff, logger: logger) {
                let status = edge.statusDocument()
                let snapshot = follower.snapshot
                return EdgeReport(
                    name: name, bundleHash: status.policy.bundleHash, generation: status.policy.generation,
                    refusedHash: snapshot.refusedHash, lastError: snapshot.lastError, sessions: status.sessions.count,
                    uptimeSeconds: status.uptimeSeconds, version: BuildInfo.version
                )
            }
        } catch {
            logger.error("fleet status reports off: \(error)")
            try? await follower.run()
            return
        }
        reporterBox.reporter = reporter
        logger.info("following the fleet", metadata: ["etcd": "\(client.endpoints.joined(separator: ","))", "prefix": "\(layout.prefix)"])
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await follower.run() }
            group.addTask { try? await reporter.run() }
        }
    }

    func shutdown() async {
        try? await client.shutdown()
    }
}

/// The reporter, set once it exists, for the follower's change callback (which is made first).
private final class ReporterBox: @unchecked Sendable {
    private let lock = NSLock()
    private var value: EdgeStatusReporter?
    var reporter: EdgeStatusReporter? {
        get { lock.withLock { value } }
        set { lock.withLock { value = newValue } }
    }
}
