extension EtcdClient {
    /// Grants a lease of `ttl` seconds; keys put with it disappear when it expires. Returns its id.
    public func grantLease(ttl: Int64) async throws -> Int64 {
        let response = try await call(
            "/v3/lease/grant",
            GatewayLeaseGrantRequest(TTL: GatewayInt64(ttl)),
            retry: .onlyIfNotSent,
            as: GatewayLeaseGrantResponse.self
        )
        if let error = response.error, !error.isEmpty {
            throw EtcdError.server(endpoint: "lease grant", code: 0, message: error)
        }
        guard let id = response.ID?.value, id != 0 else {
            throw EtcdError.invalidResponse(endpoint: "lease grant", reason: "no lease id in the answer")
        }
        return id
    }

    /// Renews lease `id` for its full TTL; returns the TTL in seconds.
    ///
    /// - Throws: ``EtcdError/leaseNotFound(id:)`` when the lease has expired or was revoked.
    @discardableResult
    public func keepAlive(lease id: Int64) async throws -> Int64 {
        // A keepalive is a stream in gRPC; the gateway sends one request and answers with one
        // message, wrapped as a stream message.
        let message = try await call(
            "/v3/lease/keepalive",
            GatewayLeaseIDRequest(ID: GatewayInt64(id)),
            retry: .idempotent,
            as: GatewayStreamMessage<GatewayLeaseKeepAliveResponse>.self
        )
        if let error = message.error {
            throw EtcdError.server(endpoint: "lease keepalive", code: error.code ?? 0, message: error.message ?? "")
        }
        // etcd answers an unknown lease with TTL 0 (left out of the JSON).
        guard let ttl = message.result?.TTL?.value, ttl > 0 else { throw EtcdError.leaseNotFound(id: id) }
        return ttl
    }

    /// Revokes lease `id`, deleting every key attached to it.
    public func revokeLease(_ id: Int64) async throws {
        do {
            _ = try await call(
                "/v3/lease/revoke",
                GatewayLeaseIDRequest(ID: GatewayInt64(id)),
                retry: .idempotent,
                as: GatewayLeaseRevokeResponse.self
            )
        } catch EtcdError.server(_, _, let message) where message.contains("lease not found") {
            throw EtcdError.leaseNotFound(id: id)
        }
    }
}
