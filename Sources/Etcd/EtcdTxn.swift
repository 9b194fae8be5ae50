import Foundation

/// One condition of a transaction, on the current state of a key.
public struct EtcdCompare: Sendable, Equatable {
    /// What of the key is compared, and with which value.
    public enum Target: Sendable, Equatable {
        case version(Int64)
        case createRevision(Int64)
        case modRevision(Int64)
        case value(Data)
        case lease(Int64)
    }

    /// How the key's value compares with the given one for the condition to hold.
    public enum Result: String, Sendable, Equatable {
        case equal = "EQUAL"
        case greater = "GREATER"
        case less = "LESS"
        case notEqual = "NOT_EQUAL"
    }

    /// The keys compared: one key (a missing key has version, revisions and lease 0), or every key
    /// of a range or prefix, each of which must satisfy the condition (an empty range compares as
    /// one missing key).
    public var range: EtcdKeyRange
    /// The comparison that must hold.
    public var result: Result
    /// The field compared and the value compared with.
    public var target: Target

    /// The condition "`target` of `key` is `result` (equal by default) the given value".
    public init(key: String, _ target: Target, _ result: Result = .equal) {
        self.init(range: .key(key), target, result)
    }

    /// The condition "`target` of every key in `range` is `result` the given value".
    public init(range: EtcdKeyRange, _ target: Target, _ result: Result = .equal) {
        self.range = range
        self.target = target
        self.result = result
    }

    /// The key's last change was at `revision` (0: the key does not exist).
    public static func modRevision(of key: String, is revision: Int64) -> EtcdCompare {
        EtcdCompare(key: key, .modRevision(revision))
    }

    var wire: GatewayCompare {
        var compare = GatewayCompare(result: result.rawValue, target: "", key: range.wireKey, range_end: range.wireRangeEnd)
        switch target {
        case .version(let version):
            compare.target = "VERSION"
            compare.version = GatewayInt64(version)
        case .createRevision(let revision):
            compare.target = "CREATE"
            compare.create_revision = GatewayInt64(revision)
        case .modRevision(let revision):
            compare.target = "MOD"
            compare.mod_revision = GatewayInt64(revision)
        case .value(let value):
            compare.target = "VALUE"
            compare.value = value
        case .lease(let lease):
            compare.target = "LEASE"
            compare.lease = GatewayInt64(lease)
        }
        return compare
    }
}

/// One operation of a transaction's success or failure branch.
public enum EtcdOperation: Sendable, Equatable {
    case range(EtcdKeyRange)
    /// A range read of the keys and their revisions only, without their values.
    case rangeKeysOnly(EtcdKeyRange)
    case put(key: String, value: Data, lease: Int64 = 0)
    case delete(EtcdKeyRange)

    var wire: GatewayRequestOp {
        switch self {
        case .range(let range):
            GatewayRequestOp(request_range: GatewayRangeRequest(key: range.wireKey, range_end: range.wireRangeEnd))
        case .rangeKeysOnly(let range):
            GatewayRequestOp(request_range: GatewayRangeRequest(key: range.wireKey, range_end: range.wireRangeEnd, keys_only: true))
        case .put(let key, let value, let lease):
            GatewayRequestOp(
                request_put: GatewayPutRequest(key: Data(key.utf8), value: value, lease: lease == 0 ? nil : GatewayInt64(lease))
            )
        case .delete(let range):
            GatewayRequestOp(
                request_delete_range: GatewayDeleteRangeRequest(key: range.wireKey, range_end: range.wireRangeEnd)
            )
        }
    }
}

/// The answer to one operation of the branch that ran.
public enum EtcdOperationResult: Sendable, Equatable {
    case range(EtcdRangeResult)
    case put
    case delete(deleted: Int64)
}

/// The outcome of a transaction: which branch ran, at which revision, and what each operation returned.
public struct EtcdTxnResult: Sendable, Equatable {
    /// True when every comparison held and the success branch ran.
    public var succeeded: Bool
    /// The store's revision after the transaction.
    public var revision: Int64
    /// What each operation of the branch that ran returned, in order.
    public var results: [EtcdOperationResult]

    init(_ wire: GatewayTxnResponse) {
        self.succeeded = wire.succeeded ?? false
        self.revision = wire.header?.revision?.value ?? 0
        self.results = (wire.responses ?? []).map { response in
            if let range = response.response_range {
                .range(EtcdRangeResult(range))
            } else if let delete = response.response_delete_range {
                .delete(deleted: delete.deleted?.value ?? 0)
            } else {
                .put
            }
        }
    }
}
