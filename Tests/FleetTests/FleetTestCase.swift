import Etcd
import EtcdTestSupport
import Fleet
import Foundation
import XCTest

/// A test case with a real 3-member etcd cluster, a client of it and the fleet layout under a
/// prefix of its own.
class FleetTestCase: XCTestCase {
    var cluster: EtcdCluster!
    var client: EtcdClient!
    var layout: FleetLayout!
    private var extraClients: [EtcdClient] = []

    override func setUpWithError() throws {
        cluster = try EtcdCluster.start()
        client = try EtcdClient(endpoints: cluster.clientURLs)
        layout = try FleetLayout(prefix: "/ztp-test")
    }

    override func tearDown() async throws {
        for extra in extraClients { try? await extra.shutdown() }
        try await client?.shutdown()
        cluster?.shutdown()
    }

    /// Another client of the cluster (its own connections), shut down in tearDown.
    func makeClient(endpoints: [String]? = nil, requestTimeout: Duration = .seconds(5)) throws -> EtcdClient {
        let extra = try EtcdClient(endpoints: endpoints ?? cluster.clientURLs, requestTimeout: requestTimeout)
        extraClients.append(extra)
        return extra
    }

    func publisher(_ name: String = "test", client: EtcdClient? = nil) -> Publisher {
        Publisher(client: client ?? self.client, layout: layout, publisherName: name)
    }

    /// Distinct pseudo-bundles: the fleet layer treats bundles as opaque bytes (the edge parses them).
    func bundle(_ label: String, size: Int = 300) -> Data {
        var bytes = Data("bundle \(label)\n".utf8)
        var state = UInt64(truncatingIfNeeded: label.hashValue) | 1
        while bytes.count < size {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            bytes.append(UInt8(truncatingIfNeeded: state >> 33))
        }
        return bytes
    }

    /// Waits until `condition` holds, at most `seconds`.
    func eventually(_ seconds: Double, _ condition: () async throws -> Bool) async rethrows -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try await condition() { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return try await condition()
    }
}

/// An installer that records what it was given and accepts, or refuses, by hash.
final class RecordingInstaller: @unchecked Sendable {
    private let lock = NSLock()
    private var installs: [String] = []
    private var refusing: Set<String> = []

    var installed: [String] { lock.withLock { installs } }
    var last: String? { installed.last }

    func refuse(_ hash: String) { lock.withLock { _ = refusing.insert(hash) } }

    var closure: BundleInstaller {
        { bundle, hash in
            precondition(BundleHash.of(bundle) == hash, "the follower handed over bytes that do not match their hash")
            return self.lock.withLock {
                if self.refusing.contains(hash) { return .refused(reason: "test refuses \(hash.prefix(8))") }
                self.installs.append(hash)
                return .installed
            }
        }
    }
}
