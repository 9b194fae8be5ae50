import Etcd
@testable import Fleet
import Foundation
import XCTest

final class BundleStoreTests: FleetTestCase {
    /// A bundle that compresses as real ones do: repetitive tables.
    private func repetitive(_ size: Int) -> Data {
        var bytes = Data()
        var index = 0
        while bytes.count < size {
            bytes.append(contentsOf: Array("rule \(index) allow group:eng -> 10.20.\(index % 256).0/24:443/tcp\n".utf8))
            index += 1
        }
        return bytes.prefix(size)
    }

    func testACompressibleBundleIsStoredCompressedAndReadBackIdentical() async throws {
        let original = repetitive(3 * FleetLayout.defaultChunkSize)
        let outcome = try await publisher().publish(original)
        XCTAssertEqual(outcome.manifest.compression, .zlib)
        XCTAssertEqual(outcome.manifest.size, original.count)
        let stored = try XCTUnwrap(outcome.manifest.storedSize)
        XCTAssertLessThan(stored, original.count / 4)
        XCTAssertEqual(outcome.manifest.chunks, 1)
        let chunks = try await client.range(.prefix(layout.manifest(outcome.pointer.hash) + "/")).keyValues
        XCTAssertEqual(chunks.map(\.value.count), [stored])
        let read = try await BundleStore(client: client, layout: layout).fetch(outcome.pointer.hash)
        XCTAssertEqual(read, original)
    }

    func testAPublisherAskedForNoCompressionStoresTheBytesAsTheyAre() async throws {
        let original = repetitive(5000)
        let plain = Publisher(client: client, layout: layout, publisherName: "old", compression: nil)
        let outcome = try await plain.publish(original)
        XCTAssertNil(outcome.manifest.compression)
        let chunk = try await client.get(layout.chunk(outcome.pointer.hash, 0))
        XCTAssertEqual(chunk?.value, original)
        let manifest = try await client.get(layout.manifest(outcome.pointer.hash))
        XCTAssertEqual(manifest.map { String(decoding: $0.value, as: UTF8.self) }, #"{"chunks":1,"sha256":"\#(outcome.pointer.hash)","size":5000}"#)
    }

    func testABundleStoredByAPublisherBeforeCompressionIsStillRead() async throws {
        // What publishers before compression wrote: raw chunks and a manifest of three fields.
        let original = repetitive(2500)
        let hash = BundleHash.of(original)
        let small = try FleetLayout(prefix: layout.prefix, chunkSize: 1000)
        for index in 0..<3 {
            try await client.put(small.chunk(hash, index), value: original.subdata(in: (index * 1000)..<min(original.count, (index + 1) * 1000)))
        }
        try await client.put(small.manifest(hash), value: Data(#"{"chunks":3,"sha256":"\#(hash)","size":2500}"#.utf8))
        let read = try await BundleStore(client: client, layout: small).fetch(hash)
        XCTAssertEqual(read, original)
    }

    func testAStreamInflatingPastItsManifestSizeIsRefusedAsCorrupt() async throws {
        // A zlib bomb in miniature: 1 MiB of zeros in a few kilobytes, under a manifest that
        // names a 1,000-byte bundle.
        let zeros = Data(count: 1 << 20)
        let stream = Zlib.compress(zeros)
        let hash = BundleHash.of(zeros.prefix(1000))
        try await client.put(layout.chunk(hash, 0), value: stream)
        let manifest = #"{"chunks":1,"compression":"zlib","sha256":"\#(hash)","size":1000,"stored_size":\#(stream.count)}"#
        try await client.put(layout.manifest(hash), value: Data(manifest.utf8))
        do {
            _ = try await BundleStore(client: client, layout: layout).fetch(hash)
            XCTFail("a stream larger than its manifest was accepted")
        } catch FleetError.corruptBundle(_, let reason) {
            XCTAssertEqual(reason, "its zlib stream inflates to more than the 1000 bytes of its manifest")
        }
    }

    func testInflateRefusesTruncatedStreamsAndTrailingBytes() throws {
        let original = repetitive(10_000)
        let stream = Zlib.compress(original)
        XCTAssertEqual(try Zlib.inflate(stream, size: original.count), original)
        XCTAssertThrowsError(try Zlib.inflate(stream.prefix(stream.count - 10), size: original.count))
        XCTAssertThrowsError(try Zlib.inflate(stream + Data([1, 2, 3]), size: original.count)) { error in
            XCTAssertEqual(error as? Zlib.InflateError, .trailingBytes(3))
        }
        XCTAssertThrowsError(try Zlib.inflate(stream, size: original.count + 1)) { error in
            XCTAssertEqual(error as? Zlib.InflateError, .sizeMismatch(expected: original.count + 1, actual: original.count))
        }
    }
}
