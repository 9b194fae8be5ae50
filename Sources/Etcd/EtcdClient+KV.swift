import Foundation

extension EtcdClient {
    /// Reads the keys of `range`, at `revision` (nil: the latest), at most `limit` of them (0: all);
    /// with `keysOnly`, their keys and revisions without their values (cheap over large values).
    ///
    /// Reads are linearizable: the member answers only what the cluster's leader has committed.
    /// - Throws: ``EtcdError/compacted(compactRevision:)`` when `revision` has been compacted.
    public func range(
        _ range: EtcdKeyRange, revision: Int64? = nil, limit: Int64 = 0, keysOnly: Bool = false
    ) async throws -> EtcdRangeResult {
        let request = GatewayRangeRequest(
            key: range.wireKey,
            range_end: range.wireRangeEnd,
            limit: limit == 0 ? nil : GatewayInt64(limit),
            revision: revision.map(GatewayInt64.init),
            keys_only: keysOnly ? true : nil
        )
        let response = try await call("/v3/kv/range", request, retry: .idempotent, as: GatewayRangeResponse.self)
        return EtcdRangeResult(response)
    }

    /// Reads one key; nil when it does not exist.
    public func get(_ key: String) async throws -> EtcdKeyValue? {
        try await range(.key(key)).keyValues.first
    }

    /// Writes `value` under `key`, attached to `lease` (0: none). Returns the revision of the write.
    @discardableResult
    public func put(_ key: String, value: Data, lease: Int64 = 0) async throws -> Int64 {
        let request = GatewayPutRequest(key: Data(key.utf8), value: value, lease: lease == 0 ? nil : GatewayInt64(lease))
        let response = try await call("/v3/kv/put", request, retry: .idempotent, as: GatewayPutResponse.self)
        return response.header?.revision?.value ?? 0
    }

    /// Deletes the keys of `range`; returns how many there were.
    @discardableResult
    public func delete(_ range: EtcdKeyRange) async throws -> Int64 {
        let request = GatewayDeleteRangeRequest(key: range.wireKey, range_end: range.wireRangeEnd)
        let response = try await call("/v3/kv/deleterange", request, retry: .idempotent, as: GatewayDeleteRangeResponse.self)
        return response.deleted?.value ?? 0
    }

    /// Runs `success` when every comparison in `compare` holds, `failure` otherwise, atomically.
    ///
    /// - Throws: ``EtcdError/outcomeUnknown(endpoint:reason:)`` when the request was sent and no
    ///   answer came back: read the keys again to learn whether it was applied.
    public func txn(
        compare: [EtcdCompare],
        success: [EtcdOperation],
        failure: [EtcdOperation] = []
    ) async throws -> EtcdTxnResult {
        let request = GatewayTxnRequest(
            compare: compare.map(\.wire),
            success: success.map(\.wire),
            failure: failure.map(\.wire)
        )
        let response = try await call("/v3/kv/txn", request, retry: .onlyIfNotSent, as: GatewayTxnResponse.self)
        return EtcdTxnResult(response)
    }

    /// Discards the history before `revision`: watches and reads from older revisions fail with
    /// ``EtcdError/compacted(compactRevision:)`` afterwards.
    public func compact(revision: Int64) async throws {
        _ = try await call(
            "/v3/kv/compaction",
            GatewayCompactionRequest(revision: GatewayInt64(revision), physical: true),
            retry: .idempotent,
            as: GatewayCompactionResponse.self
        )
    }

    /// The status of the first member that answers.
    public func status() async throws -> EtcdMemberStatus {
        let response = try await call("/v3/maintenance/status", GatewayStatusRequest(), retry: .idempotent, as: GatewayStatusResponse.self)
        return EtcdMemberStatus(
            version: response.version ?? "",
            memberID: response.header?.member_id?.value ?? 0,
            leader: response.leader?.value ?? 0,
            revision: response.header?.revision?.value ?? 0,
            dbSize: response.dbSize?.value ?? 0
        )
    }
}
