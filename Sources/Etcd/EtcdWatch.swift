import AsyncHTTPClient
import Foundation
import NIOCore

/// A change to a key, as a watch reports it.
public struct EtcdEvent: Sendable, Equatable {
    /// Whether the key was written or deleted.
    public enum Kind: Sendable, Equatable {
        case put
        case delete
    }

    /// A put or a delete.
    public var kind: Kind
    /// The key after the change; for a delete, the key with the revision of the deletion and no value.
    public var keyValue: EtcdKeyValue
}

/// One message of a watch: the events of one or more revisions, or the acknowledgement that the
/// watch is in place (`created`, with no events).
public struct EtcdWatchResponse: Sendable, Equatable {
    /// True for the first message, sent once the watch is registered: changes after it are seen.
    public var created: Bool
    /// The store's revision when the message was sent.
    public var revision: Int64
    /// The changes, in revision order.
    public var events: [EtcdEvent]
}

extension EtcdClient {
    /// Watches `range` for changes from `startRevision` on (nil: from now), on the first member that
    /// accepts the watch.
    ///
    /// The stream ends with an error, never silently: ``EtcdError/compacted(compactRevision:)`` when
    /// `startRevision` is older than the kept history (re-read the keys, then watch from the read's
    /// revision + 1), ``EtcdError/watchEnded(endpoint:reason:)`` when the member went away (watch
    /// again from the last revision seen + 1). Cancelling the consuming task closes the watch.
    public func watch(_ range: EtcdKeyRange, startRevision: Int64? = nil) -> AsyncThrowingStream<EtcdWatchResponse, Error> {
        let request = GatewayWatchRequest(
            create_request: GatewayWatchCreateRequest(
                key: range.wireKey,
                range_end: range.wireRangeEnd,
                start_revision: startRevision.map(GatewayInt64.init)
            )
        )
        return AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    try await self.runWatch(request, into: continuation)
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    private func runWatch(
        _ body: GatewayWatchRequest,
        into continuation: AsyncThrowingStream<EtcdWatchResponse, Error>.Continuation
    ) async throws {
        let payload = try JSONEncoder().encode(body)
        var lastError = "no endpoint tried"
        for index in endpointOrder() {
            let endpoint = endpoints[index]
            var request = HTTPClientRequest(url: endpoint + "/v3/watch")
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: payload))
            let response: HTTPClientResponse
            do {
                response = try await http.execute(request, deadline: .distantFuture, logger: logger)
            } catch {
                try Task.checkCancellation()
                lastError = "\(endpoint): \(Self.describe(error))"
                continue
            }
            guard response.status == .ok else {
                let bytes = try await response.body.collect(upTo: Self.maximumResponseBytes)
                let status = try? JSONDecoder().decode(GatewayStatus.self, from: Data(bytes.readableBytesView))
                throw EtcdError.server(
                    endpoint: endpoint,
                    code: status?.code ?? 0,
                    message: status?.message ?? "HTTP \(response.status.code)"
                )
            }
            preferred.store(index, ordering: .relaxed)
            try await readWatchStream(response.body, from: endpoint, into: continuation)
            return
        }
        throw EtcdError.unavailable(endpoints: endpoints, lastError: lastError)
    }

    /// Splits the gateway's stream into its newline-delimited JSON messages and passes them on.
    private func readWatchStream(
        _ body: HTTPClientResponse.Body,
        from endpoint: String,
        into continuation: AsyncThrowingStream<EtcdWatchResponse, Error>.Continuation
    ) async throws {
        var pending = Data()
        do {
            for try await chunk in body {
                pending.append(contentsOf: chunk.readableBytesView)
                while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                    let line = pending[pending.startIndex..<newline]
                    pending = Data(pending[pending.index(after: newline)...])
                    if line.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\r") }) { continue }
                    continuation.yield(try decodeWatchMessage(Data(line), from: endpoint))
                }
            }
        } catch let error as EtcdError {
            throw error
        } catch {
            try Task.checkCancellation()
            throw EtcdError.watchEnded(endpoint: endpoint, reason: Self.describe(error))
        }
        try Task.checkCancellation()
        throw EtcdError.watchEnded(endpoint: endpoint, reason: "the member closed the stream")
    }

    private func decodeWatchMessage(_ line: Data, from endpoint: String) throws -> EtcdWatchResponse {
        let message: GatewayStreamMessage<GatewayWatchResponse>
        do {
            message = try JSONDecoder().decode(GatewayStreamMessage<GatewayWatchResponse>.self, from: line)
        } catch {
            throw EtcdError.invalidResponse(endpoint: endpoint, reason: "watch message: \(error)")
        }
        if let error = message.error {
            throw EtcdError.server(endpoint: endpoint, code: error.code ?? 0, message: error.message ?? error.error ?? "")
        }
        guard let result = message.result else {
            throw EtcdError.invalidResponse(endpoint: endpoint, reason: "watch message with neither result nor error")
        }
        if result.canceled == true {
            if let compacted = result.compact_revision?.value, compacted > 0 {
                throw EtcdError.compacted(compactRevision: compacted)
            }
            throw EtcdError.watchCanceled(reason: result.cancel_reason ?? "no reason given")
        }
        let events = (result.events ?? []).map { event in
            EtcdEvent(kind: event.type == "DELETE" ? .delete : .put, keyValue: EtcdKeyValue(event.kv ?? GatewayKeyValue()))
        }
        return EtcdWatchResponse(created: result.created ?? false, revision: result.header?.revision?.value ?? 0, events: events)
    }
}
