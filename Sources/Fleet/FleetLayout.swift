/// Where the fleet's keys live in etcd, under one prefix (default `/ztp`):
///
/// - `PREFIX/bundles/HASH`: the manifest of a bundle (its size and chunk count), HASH being the
///   lowercase hex SHA-256 of the bundle's bytes;
/// - `PREFIX/bundles/HASH/NNNN`: the bundle's bytes, in chunks of at most ``FleetLayout/chunkSize``
///   (a request to etcd is limited to 1.5 MiB by default, and a 10,000-rule bundle is about 6 MB);
/// - `PREFIX/current`: the pointer (``BundlePointer``) every edge follows;
/// - `PREFIX/edges/NAME`: each edge's ``EdgeReport``, under a lease of the edge.
public struct FleetLayout: Sendable, Equatable {
    /// The prefix when none is configured.
    public static let defaultPrefix = "/ztp"
    /// The largest chunk written in one request: 1 MiB leaves room under etcd's default 1.5 MiB
    /// request limit (`--max-request-bytes`) for the key and the request's framing.
    public static let defaultChunkSize = 1 << 20

    /// The prefix, without a trailing slash.
    public let prefix: String
    /// The largest chunk of a bundle, in bytes.
    public let chunkSize: Int

    /// - Throws: ``FleetError/invalidPrefix(_:)`` unless `prefix` starts with `/`.
    public init(prefix: String = FleetLayout.defaultPrefix, chunkSize: Int = FleetLayout.defaultChunkSize) throws {
        var trimmed = prefix
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed.removeLast() }
        guard trimmed.hasPrefix("/"), trimmed.count > 1, !trimmed.contains("//") else {
            throw FleetError.invalidPrefix(prefix)
        }
        precondition(chunkSize > 0, "the chunk size must be positive")
        self.prefix = trimmed
        self.chunkSize = chunkSize
    }

    /// The pointer's key.
    public var current: String { "\(prefix)/current" }
    /// The prefix of every edge's report key.
    public var edgesPrefix: String { "\(prefix)/edges/" }
    /// The prefix of every bundle key.
    public var bundlesPrefix: String { "\(prefix)/bundles/" }

    /// The key of bundle `hash`'s manifest.
    public func manifest(_ hash: String) -> String { "\(prefix)/bundles/\(hash)" }
    /// The key of chunk `index` of bundle `hash` (zero-padded, so that keys sort by index).
    public func chunk(_ hash: String, _ index: Int) -> String {
        "\(prefix)/bundles/\(hash)/" + String(repeating: "0", count: max(0, 4 - String(index).count)) + String(index)
    }
    /// The key of edge `name`'s report.
    public func edge(_ name: String) -> String { "\(prefix)/edges/\(name)" }
}
