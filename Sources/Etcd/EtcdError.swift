/// What went wrong talking to etcd. Every case says which member answered (or that none did), so
/// that an operator reading a log line knows where to look.
public enum EtcdError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No endpoint could be reached: each was tried once, in order; `lastError` is the last failure.
    case unavailable(endpoints: [String], lastError: String)
    /// A member answered with a gRPC error status (`code` is the gRPC code, `message` etcd's text).
    case server(endpoint: String, code: Int, message: String)
    /// The revision asked for has been compacted away: re-read the current state, then watch from
    /// its revision. `compactRevision` is the oldest revision still kept, when etcd says it.
    case compacted(compactRevision: Int64?)
    /// The lease does not exist (expired or revoked): grant a new one.
    case leaseNotFound(id: Int64)
    /// etcd cancelled the watch for another reason than compaction.
    case watchCanceled(reason: String)
    /// The watch stream ended (the member went away or closed it); watch again from the next revision.
    case watchEnded(endpoint: String, reason: String)
    /// A transaction was sent but no answer came back: it may or may not have been applied.
    case outcomeUnknown(endpoint: String, reason: String)
    /// The answer was not what etcd's gateway sends.
    case invalidResponse(endpoint: String, reason: String)
    /// An endpoint is not an http(s) URL.
    case invalidEndpoint(String)

    /// The gRPC status code OUT_OF_RANGE, which etcd uses for "required revision has been compacted".
    static let grpcOutOfRange = 11
    /// The gRPC status code UNAVAILABLE ("no leader", "server stopped"): another member may answer.
    static let grpcUnavailable = 14

    /// The message for a log line or the terminal.
    public var description: String {
        switch self {
        case .unavailable(let endpoints, let lastError):
            "no etcd member answered (tried \(endpoints.joined(separator: ", "))): \(lastError)"
        case .server(let endpoint, let code, let message):
            "etcd at \(endpoint) refused the request: \(message) (gRPC code \(code))"
        case .compacted(let compactRevision):
            if let compactRevision {
                "the revision asked for has been compacted (oldest kept: \(compactRevision)); re-read and watch again"
            } else {
                "the revision asked for has been compacted; re-read and watch again"
            }
        case .leaseNotFound(let id):
            "etcd lease \(id) does not exist (expired or revoked)"
        case .watchCanceled(let reason):
            "etcd cancelled the watch: \(reason)"
        case .watchEnded(let endpoint, let reason):
            "the watch stream from \(endpoint) ended: \(reason)"
        case .outcomeUnknown(let endpoint, let reason):
            "the transaction sent to \(endpoint) got no answer (\(reason)): it may or may not have been applied"
        case .invalidResponse(let endpoint, let reason):
            "etcd at \(endpoint) sent an answer that could not be read: \(reason)"
        case .invalidEndpoint(let text):
            "'\(text)' is not an etcd endpoint (expected http://HOST:PORT)"
        }
    }
}
