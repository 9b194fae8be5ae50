import Foundation

/// A key and its value as etcd stores them, with the revisions that make compare-and-swap possible.
public struct EtcdKeyValue: Sendable, Equatable {
    /// The key, as UTF-8 text (every key this project writes is text).
    public var key: String
    /// The value's bytes.
    public var value: Data
    /// The revision at which the key was last created.
    public var createRevision: Int64
    /// The revision of the last change to the key: what a compare-and-swap guards on.
    public var modRevision: Int64
    /// How many times the key was written since it was created.
    public var version: Int64
    /// The lease the key is attached to (0 for none).
    public var lease: Int64

    /// A key-value as etcd returns it.
    public init(key: String, value: Data, createRevision: Int64, modRevision: Int64, version: Int64, lease: Int64) {
        self.key = key
        self.value = value
        self.createRevision = createRevision
        self.modRevision = modRevision
        self.version = version
        self.lease = lease
    }

    init(_ wire: GatewayKeyValue) {
        self.init(
            key: String(decoding: wire.key ?? Data(), as: UTF8.self),
            value: wire.value ?? Data(),
            createRevision: wire.create_revision?.value ?? 0,
            modRevision: wire.mod_revision?.value ?? 0,
            version: wire.version?.value ?? 0,
            lease: wire.lease?.value ?? 0
        )
    }
}

/// Which keys a request is about: one key, every key under a prefix, or every key from one on.
public enum EtcdKeyRange: Sendable, Equatable {
    case key(String)
    /// Every key that starts with the prefix (etcd's range_end is the prefix with its last byte + 1).
    case prefix(String)
    /// Every key greater than or equal to the key.
    case fromKey(String)

    var wireKey: Data {
        switch self {
        case .key(let key), .prefix(let key), .fromKey(let key): Data(key.utf8)
        }
    }

    var wireRangeEnd: Data? {
        switch self {
        case .key:
            return nil
        case .fromKey:
            // "\0" as range_end means "every key >= key" (rpc.proto, RangeRequest.range_end).
            return Data([0])
        case .prefix(let prefix):
            var bytes = Array(prefix.utf8)
            // Drop trailing 0xff bytes, which cannot be incremented; none left means "to the end".
            while let last = bytes.last {
                if last < 0xff {
                    bytes[bytes.count - 1] = last + 1
                    return Data(bytes)
                }
                bytes.removeLast()
            }
            return Data([0])
        }
    }
}

/// The result of a range read: the keys found and the revision of the store when it was read.
public struct EtcdRangeResult: Sendable, Equatable {
    /// The keys found, in key order.
    public var keyValues: [EtcdKeyValue]
    /// The store's revision at the time of the read: watch from `revision + 1` to miss nothing.
    public var revision: Int64
    /// How many keys are in the range (may exceed `keyValues.count` when a limit was set).
    public var count: Int64
    /// Whether more keys are in the range than were returned.
    public var more: Bool

    init(_ wire: GatewayRangeResponse) {
        self.keyValues = (wire.kvs ?? []).map(EtcdKeyValue.init)
        self.revision = wire.header?.revision?.value ?? 0
        self.count = wire.count?.value ?? 0
        self.more = wire.more ?? false
    }
}

/// A member's status (maintenance/status).
public struct EtcdMemberStatus: Sendable, Equatable {
    /// The etcd version the member runs, e.g. "3.4.23".
    public var version: String
    /// The id of the member that answered.
    public var memberID: UInt64
    /// The member id of the leader this member knows (0 when it knows none).
    public var leader: UInt64
    /// The store's revision on that member.
    public var revision: Int64
    /// The size of the member's database file, in bytes.
    public var dbSize: Int64
}
