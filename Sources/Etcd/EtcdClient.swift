import AsyncHTTPClient
import Atomics
import Foundation
import Logging
import NIOCore
import NIOPosix

/// A client of etcd's v3 API through its JSON gateway (`POST /v3/...` on the client port).
///
/// Requests go to one member; when it cannot be reached the client moves on to the next endpoint
/// and remembers the one that answered. Reads and idempotent writes are also retried on the next
/// member when the answer is lost or the member has no leader; a transaction is retried only when
/// it was never sent, since a lost answer leaves its outcome unknown (``EtcdError/outcomeUnknown``).
///
/// Call ``shutdown()`` before dropping the client.
public final class EtcdClient: Sendable {
    /// The client endpoints, e.g. `http://127.0.0.1:2379`, in the order they are tried.
    public let endpoints: [String]
    let http: HTTPClient
    let logger: Logger
    /// How long one unary request may take before the next member is tried.
    let requestTimeout: TimeAmount
    /// The index of the endpoint that answered last: the first one tried next time.
    let preferred = ManagedAtomic<Int>(0)

    /// Creates a client of the cluster reachable at `endpoints` (http URLs; `HOST:PORT` means http).
    ///
    /// - Throws: ``EtcdError/invalidEndpoint(_:)`` when an endpoint is not an http(s) URL or none is given.
    public init(
        endpoints: [String],
        connectTimeout: Duration = .milliseconds(500),
        requestTimeout: Duration = .seconds(5),
        logger: Logger = Logger(label: "ztp.etcd")
    ) throws {
        let normalized = try endpoints.map(Self.normalize)
        guard !normalized.isEmpty else { throw EtcdError.invalidEndpoint("") }
        self.endpoints = normalized
        self.logger = logger
        self.requestTimeout = TimeAmount(requestTimeout)
        var configuration = HTTPClient.Configuration()
        // No read timeout: a watch stays quiet for as long as nothing changes. Unary requests get a
        // deadline of their own instead.
        configuration.timeout = .init(connect: TimeAmount(connectTimeout), read: nil)
        // Fail a request at once when its member refuses the connection, so that the next member is
        // tried right away instead of after the pool's connection back-off.
        configuration.connectionPool.retryConnectionEstablishment = false
        // Each watch holds a connection for as long as it runs.
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 64
        configuration.decompression = .disabled
        self.http = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }

    /// Closes every connection. Watches still running end with an error.
    public func shutdown() async throws {
        try await http.shutdown()
    }

    static func normalize(_ endpoint: String) throws -> String {
        var text = endpoint.trimmingCharacters(in: .whitespaces)
        while text.hasSuffix("/") { text.removeLast() }
        if !text.contains("://") { text = "http://" + text }
        guard let url = URL(string: text), let scheme = url.scheme, scheme == "http" || scheme == "https",
            let host = url.host, !host.isEmpty, url.path.isEmpty
        else { throw EtcdError.invalidEndpoint(endpoint) }
        return text
    }

    /// Parses a comma-separated endpoint list as given on a command line (`URL[,URL...]`).
    public static func endpoints(fromList list: String) -> [String] {
        list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// The endpoint indices in the order to try them: the one that answered last first.
    func endpointOrder() -> [Int] {
        let start = preferred.load(ordering: .relaxed) % endpoints.count
        return (0..<endpoints.count).map { (start + $0) % endpoints.count }
    }

    /// Whether a failed request may be sent again to another member.
    enum Retry {
        /// Reads and writes whose repetition changes nothing (range, put of a value, lease keepalive).
        case idempotent
        /// Only when it was never sent (txn, lease grant).
        case onlyIfNotSent
    }

    /// Sends one unary request to the first member that answers.
    func call<Request: Encodable, Response: Decodable>(
        _ path: String,
        _ body: Request,
        retry: Retry,
        as: Response.Type = Response.self
    ) async throws -> Response {
        let payload = try JSONEncoder().encode(body)
        var lastError = "no endpoint tried"
        for index in endpointOrder() {
            let endpoint = endpoints[index]
            var request = HTTPClientRequest(url: endpoint + path)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: payload))
            let response: HTTPClientResponse
            let bytes: ByteBuffer
            do {
                response = try await http.execute(request, timeout: requestTimeout, logger: logger)
                bytes = try await response.body.collect(upTo: Self.maximumResponseBytes)
            } catch {
                try Task.checkCancellation()
                lastError = "\(endpoint): \(Self.describe(error))"
                if Self.neverReachedServer(error) || retry == .idempotent {
                    logger.debug("etcd member unreachable, trying the next", metadata: ["endpoint": "\(endpoint)", "error": "\(error)"])
                    continue
                }
                throw EtcdError.outcomeUnknown(endpoint: endpoint, reason: Self.describe(error))
            }
            let data = Data(bytes.readableBytesView)
            guard response.status == .ok else {
                let status = try? JSONDecoder().decode(GatewayStatus.self, from: data)
                let code = status?.code ?? 0
                let message = status?.message ?? status?.error ?? "HTTP \(response.status.code)"
                if code == EtcdError.grpcOutOfRange && message.contains("compacted") {
                    throw EtcdError.compacted(compactRevision: nil)
                }
                if code == EtcdError.grpcUnavailable && (retry == .idempotent || message.contains("no leader")) {
                    lastError = "\(endpoint): \(message)"
                    continue
                }
                throw EtcdError.server(endpoint: endpoint, code: code, message: message)
            }
            preferred.store(index, ordering: .relaxed)
            do {
                return try JSONDecoder().decode(Response.self, from: data)
            } catch {
                throw EtcdError.invalidResponse(endpoint: endpoint, reason: "\(error)")
            }
        }
        throw EtcdError.unavailable(endpoints: endpoints, lastError: lastError)
    }

    /// The largest answer read: etcd's own default limit of a response is well below it, and a range
    /// over many bundles is still bounded.
    static let maximumResponseBytes = 64 << 20

    /// Whether the request certainly did not reach the member (so sending it elsewhere cannot apply it twice).
    static func neverReachedServer(_ error: Error) -> Bool {
        if let error = error as? HTTPClientError {
            return error == .connectTimeout
        }
        if error is NIOConnectionError { return true }
        if let error = error as? IOError {
            return error.errnoCode == ECONNREFUSED || error.errnoCode == ENETUNREACH || error.errnoCode == EHOSTUNREACH
        }
        if let error = error as? ChannelError, case .connectTimeout = error { return true }
        return false
    }

    static func describe(_ error: Error) -> String {
        if error is NIOConnectionError { return "connection refused" }
        if let error = error as? IOError, error.errnoCode == ECONNREFUSED { return "connection refused" }
        return "\(error)"
    }
}
