import Foundation

// The JSON bodies of etcd's v3 gateway (grpc-gateway over api/etcdserverpb/rpc.proto). The gateway
// marshals with the proto field names (`mod_revision`, not `modRevision`), bytes as base64 (the
// default Data strategy of JSONEncoder/JSONDecoder), 64-bit integers as strings, and leaves out
// every field at its default value, which is why every decoded field here is optional.

/// An int64 of the gateway: written as a JSON string (proto3 JSON mapping), read from a string or a number.
struct GatewayInt64: Codable, Sendable, Equatable {
    var value: Int64

    init(_ value: Int64) { self.value = value }

    init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let text = try? container.decode(String.self) {
            guard let value = Int64(text) else {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "not an int64: \(text)")
            }
            self.value = value
        } else {
            self.value = try container.decode(Int64.self)
        }
    }

    func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(String(value))
    }
}

/// A uint64 of the gateway (cluster and member ids), which would not fit an Int64.
struct GatewayUInt64: Codable, Sendable, Equatable {
    var value: UInt64

    init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let text = try? container.decode(String.self) {
            guard let value = UInt64(text) else {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "not a uint64: \(text)")
            }
            self.value = value
        } else {
            self.value = try container.decode(UInt64.self)
        }
    }

    func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(String(value))
    }
}

struct GatewayHeader: Codable, Sendable {
    var cluster_id: GatewayUInt64?
    var member_id: GatewayUInt64?
    var revision: GatewayInt64?
    var raft_term: GatewayUInt64?
}

struct GatewayKeyValue: Codable, Sendable {
    var key: Data?
    var create_revision: GatewayInt64?
    var mod_revision: GatewayInt64?
    var version: GatewayInt64?
    var value: Data?
    var lease: GatewayInt64?
}

struct GatewayRangeRequest: Codable, Sendable {
    var key: Data
    var range_end: Data?
    var limit: GatewayInt64?
    var revision: GatewayInt64?
    var serializable: Bool?
    var keys_only: Bool?
    var count_only: Bool?
}

struct GatewayRangeResponse: Codable, Sendable {
    var header: GatewayHeader?
    var kvs: [GatewayKeyValue]?
    var more: Bool?
    var count: GatewayInt64?
}

struct GatewayPutRequest: Codable, Sendable {
    var key: Data
    var value: Data
    var lease: GatewayInt64?
}

struct GatewayPutResponse: Codable, Sendable {
    var header: GatewayHeader?
}

struct GatewayDeleteRangeRequest: Codable, Sendable {
    var key: Data
    var range_end: Data?
}

struct GatewayDeleteRangeResponse: Codable, Sendable {
    var header: GatewayHeader?
    var deleted: GatewayInt64?
}

struct GatewayCompare: Codable, Sendable {
    /// CompareResult by name: EQUAL, GREATER, LESS, NOT_EQUAL.
    var result: String
    /// CompareTarget by name: VERSION, CREATE, MOD, VALUE, LEASE.
    var target: String
    var key: Data
    var range_end: Data?
    var version: GatewayInt64?
    var create_revision: GatewayInt64?
    var mod_revision: GatewayInt64?
    var value: Data?
    var lease: GatewayInt64?
}

/// RequestOp's oneof: exactly one field is set.
struct GatewayRequestOp: Codable, Sendable {
    var request_range: GatewayRangeRequest?
    var request_put: GatewayPutRequest?
    var request_delete_range: GatewayDeleteRangeRequest?
}

struct GatewayResponseOp: Codable, Sendable {
    var response_range: GatewayRangeResponse?
    var response_put: GatewayPutResponse?
    var response_delete_range: GatewayDeleteRangeResponse?
}

struct GatewayTxnRequest: Codable, Sendable {
    var compare: [GatewayCompare]
    var success: [GatewayRequestOp]
    var failure: [GatewayRequestOp]
}

struct GatewayTxnResponse: Codable, Sendable {
    var header: GatewayHeader?
    var succeeded: Bool?
    var responses: [GatewayResponseOp]?
}

struct GatewayCompactionRequest: Codable, Sendable {
    var revision: GatewayInt64
    var physical: Bool?
}

struct GatewayCompactionResponse: Codable, Sendable {
    var header: GatewayHeader?
}

struct GatewayLeaseGrantRequest: Codable, Sendable {
    var TTL: GatewayInt64
    var ID: GatewayInt64?
}

struct GatewayLeaseGrantResponse: Codable, Sendable {
    var header: GatewayHeader?
    var ID: GatewayInt64?
    var TTL: GatewayInt64?
    var error: String?
}

struct GatewayLeaseIDRequest: Codable, Sendable {
    var ID: GatewayInt64
}

struct GatewayLeaseRevokeResponse: Codable, Sendable {
    var header: GatewayHeader?
}

struct GatewayLeaseKeepAliveResponse: Codable, Sendable {
    var header: GatewayHeader?
    var ID: GatewayInt64?
    var TTL: GatewayInt64?
}

struct GatewayStatusRequest: Codable, Sendable {}

struct GatewayStatusResponse: Codable, Sendable {
    var header: GatewayHeader?
    var version: String?
    var dbSize: GatewayInt64?
    var leader: GatewayUInt64?
    var raftIndex: GatewayUInt64?
    var raftTerm: GatewayUInt64?
    var errors: [String]?
}

struct GatewayWatchCreateRequest: Codable, Sendable {
    var key: Data
    var range_end: Data?
    var start_revision: GatewayInt64?
    var progress_notify: Bool?
    var prev_kv: Bool?
}

struct GatewayWatchRequest: Codable, Sendable {
    var create_request: GatewayWatchCreateRequest
}

struct GatewayEvent: Codable, Sendable {
    /// PUT (the default, so usually absent) or DELETE.
    var type: String?
    var kv: GatewayKeyValue?
}

struct GatewayWatchResponse: Codable, Sendable {
    var header: GatewayHeader?
    var watch_id: GatewayInt64?
    var created: Bool?
    var canceled: Bool?
    var compact_revision: GatewayInt64?
    var cancel_reason: String?
    var events: [GatewayEvent]?
}

/// One message of a server stream (watch, keepalive): grpc-gateway wraps each in `result` or `error`.
struct GatewayStreamMessage<Result: Codable & Sendable>: Codable, Sendable {
    var result: Result?
    var error: GatewayStatus?
}

/// The error body of the gateway: a gRPC status (`code` is a gRPC code, `message` etcd's text).
struct GatewayStatus: Codable, Sendable, Error {
    var error: String?
    var message: String?
    var code: Int?
}
