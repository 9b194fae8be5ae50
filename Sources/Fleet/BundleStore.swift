import Etcd
import Foundation

/// The manifest stored at `PREFIX/bundles/HASH`: how to reassemble the bundle from its chunks.
///
/// Publishers before compression wrote `sha256`, `size` and `chunks` only: the chunks then hold
/// the bundle's bytes as they are, and this layout still reads them so. Edges from before
/// compression refuse a compressed bundle as corrupt (its stored bytes do not have its size), and
/// keep their policy: publish with `ztpc publish --uncompressed` while such edges remain.
public struct BundleManifest: Codable, Sendable, Equatable {
    /// The bundle's hash (its name): the SHA-256 of its bytes, uncompressed.
    public var sha256: String
    /// The bundle's size in bytes, uncompressed.
    public var size: Int
    /// How many chunks `PREFIX/bundles/HASH/0000...` hold it.
    public var chunks: Int
    /// How the chunks hold the bytes; nil: as they are.
    public var compression: BundleCompression?
    /// How many bytes the chunks hold together; nil: `size`.
    public var storedSize: Int?

    /// A manifest; without `compression`, the chunks hold the bytes as they are.
    public init(sha256: String, size: Int, chunks: Int, compression: BundleCompression? = nil, storedSize: Int? = nil) {
        self.sha256 = sha256
        self.size = size
        self.chunks = chunks
        self.compression = compression
        self.storedSize = storedSize
    }

    enum CodingKeys: String, CodingKey {
        case sha256, size, chunks, compression
        case storedSize = "stored_size"
    }

    /// The bytes the chunks hold together.
    public var bytesStored: Int { storedSize ?? size }
}

/// Bundles in etcd, named by their content hash and split in chunks under the request limit.
///
/// The chunks are written first, one request each; the manifest is written in the publisher's
/// transaction, together with the pointer, so a manifest exists only for a bundle whose every
/// chunk is stored.
public struct BundleStore: Sendable {
    /// At most this many chunks per bundle (64 MiB with the default chunk size): a bound on what a
    /// publisher can make every edge download.
    public static let maximumChunks = 64

    /// The etcd client the store reads and writes through.
    public let client: EtcdClient
    /// Where the bundles are.
    public let layout: FleetLayout

    /// The bundles of the fleet at `layout`.
    public init(client: EtcdClient, layout: FleetLayout) {
        self.client = client
        self.layout = layout
    }

    /// The largest bundle stored.
    public var maximumSize: Int { layout.chunkSize * Self.maximumChunks }

    /// The chunks of a bundle as written, for the transaction that publishes it.
    public struct UploadedChunks: Sendable, Equatable {
        /// The bundle's manifest (not written yet).
        public var manifest: BundleManifest
        /// The mod revision of each chunk as written: the publishing transaction checks that none
        /// was deleted or rewritten since (a concurrent ``BundleCollector`` run).
        public var revisions: [Int64]

        /// Conditions that hold while every chunk is still as written.
        func unchanged(in layout: FleetLayout) -> [EtcdCompare] {
            revisions.enumerated().map { index, revision in .modRevision(of: layout.chunk(manifest.sha256, index), is: revision) }
        }
    }

    /// Writes the chunks of `bundle` and returns its manifest (not written: the caller's transaction
    /// writes it) with the revision of each write. Writing the chunks of a bundle already stored
    /// rewrites the same bytes.
    ///
    /// - Throws: ``FleetError/bundleTooLarge(size:limit:)`` before writing anything when it is too big.
    public func uploadChunks(of bundle: Data, compression: BundleCompression? = .zlib) async throws -> UploadedChunks {
        guard bundle.count <= maximumSize else { throw FleetError.bundleTooLarge(size: bundle.count, limit: maximumSize) }
        let hash = BundleHash.of(bundle)
        let stored = compression == .zlib ? Zlib.compress(bundle) : bundle
        let chunkCount = max(1, (stored.count + layout.chunkSize - 1) / layout.chunkSize)
        var revisions: [Int64] = []
        for index in 0..<chunkCount {
            let start = stored.startIndex + index * layout.chunkSize
            let end = min(start + layout.chunkSize, stored.endIndex)
            revisions.append(try await client.put(layout.chunk(hash, index), value: Data(stored[start..<end])))
        }
        let manifest = BundleManifest(
            sha256: hash, size: bundle.count, chunks: chunkCount, compression: compression,
            storedSize: compression == nil ? nil : stored.count
        )
        return UploadedChunks(manifest: manifest, revisions: revisions)
    }

    /// A manifest as read, with the mod revision of its key.
    public struct StoredManifest: Sendable, Equatable {
        /// The manifest.
        public var manifest: BundleManifest
        /// The mod revision of its key: a transaction that relies on the bundle compares it.
        public var revision: Int64
    }

    /// The manifest of bundle `hash`, or nil when none is stored.
    public func manifest(_ hash: String) async throws -> BundleManifest? {
        try await storedManifest(hash)?.manifest
    }

    /// The manifest of bundle `hash` and its key's mod revision, or nil when none is stored.
    public func storedManifest(_ hash: String) async throws -> StoredManifest? {
        guard let kv = try await client.get(layout.manifest(hash)) else { return nil }
        do {
            return StoredManifest(manifest: try JSONDecoder().decode(BundleManifest.self, from: kv.value), revision: kv.modRevision)
        } catch {
            throw FleetError.corruptBundle(hash: hash, reason: "its manifest is not valid: \(error)")
        }
    }

    /// Reads bundle `hash` and checks it: its size and SHA-256 must match its name and manifest.
    ///
    /// - Throws: ``FleetError/unknownBundle(_:)``, ``FleetError/corruptBundle(hash:reason:)``, etcd errors.
    public func fetch(_ hash: String) async throws -> Data {
        guard let manifest = try await manifest(hash) else { throw FleetError.unknownBundle(hash) }
        let storedSize = manifest.bytesStored
        guard manifest.chunks >= 1, manifest.chunks <= Self.maximumChunks, manifest.size >= 0,
            manifest.size <= maximumSize, storedSize >= 0, storedSize <= maximumSize
        else {
            throw FleetError.corruptBundle(
                hash: hash, reason: "its manifest claims \(manifest.chunks) chunks, \(manifest.size) bytes (\(storedSize) stored)")
        }
        var stored = Data()
        stored.reserveCapacity(storedSize)
        // One chunk per request: every answer stays about one chunk in size, whatever the bundle's.
        for index in 0..<manifest.chunks {
            guard let chunk = try await client.get(layout.chunk(hash, index)) else {
                throw FleetError.corruptBundle(hash: hash, reason: "chunk \(index) of \(manifest.chunks) is missing")
            }
            stored.append(chunk.value)
            guard stored.count <= storedSize else {
                throw FleetError.corruptBundle(hash: hash, reason: "its chunks hold more than the \(storedSize) bytes of its manifest")
            }
        }
        guard stored.count == storedSize else {
            throw FleetError.corruptBundle(hash: hash, reason: "\(stored.count) bytes instead of \(storedSize)")
        }
        let bundle: Data
        switch manifest.compression {
        case nil:
            bundle = stored
        case .zlib:
            do {
                bundle = try Zlib.inflate(stored, size: manifest.size)
            } catch {
                throw FleetError.corruptBundle(hash: hash, reason: "\(error)")
            }
        }
        let actual = BundleHash.of(bundle)
        guard actual == hash else {
            throw FleetError.corruptBundle(hash: hash, reason: "its bytes hash to \(actual)")
        }
        return bundle
    }
}
