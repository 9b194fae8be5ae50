import CZlib
import Foundation

/// How a bundle's bytes are stored in its chunks (the manifest's `compression`).
public enum BundleCompression: String, Codable, Sendable, Equatable {
    /// A zlib stream (RFC 1950) of the bundle: a 10,000-rule bundle of 6.2 MB stores in well under
    /// its size, so that etcd serves, and every edge downloads and decodes, that much less.
    case zlib
}

/// zlib's one-shot calls, with the bounds a bundle read from etcd needs.
enum Zlib {
    /// Deflates `data` at `level` (1 fastest to 9 smallest). The default, 6, stores a 6 MB bundle
    /// of 10,000 rules in about 16 % of its size in about 0.1 s; 9 saves another 5 % of that and
    /// takes over a second.
    static func compress(_ data: Data, level: Int32 = 6) -> Data {
        // Pointers may be nil for empty data: zlib reads no input then (its pointer parameters are implicitly unwrapped).
        var bound = compressBound(uLong(data.count))
        var out = Data(count: Int(bound))
        let status = out.withUnsafeMutableBytes { output in
            data.withUnsafeBytes { input in
                compress2(
                    output.baseAddress!.assumingMemoryBound(to: Bytef.self), &bound,
                    input.baseAddress?.assumingMemoryBound(to: Bytef.self), uLong(data.count), level
                )
            }
        }
        // compress2 fails only on a bad level or when out of memory; the level is ours.
        precondition(status == Z_OK, "zlib compress2 failed (\(status))")
        out.count = Int(bound)
        return out
    }

    /// Why a stored stream did not inflate to the size its manifest gives.
    enum InflateError: Error, Equatable, CustomStringConvertible {
        case corrupt(Int32)
        case tooLarge(expected: Int)
        case sizeMismatch(expected: Int, actual: Int)
        case trailingBytes(Int)

        var description: String {
            switch self {
            case .corrupt(let status): "its zlib stream does not inflate (zlib error \(status))"
            case .tooLarge(let expected): "its zlib stream inflates to more than the \(expected) bytes of its manifest"
            case .sizeMismatch(let expected, let actual): "its zlib stream inflates to \(actual) bytes instead of \(expected)"
            case .trailingBytes(let count): "\(count) bytes follow its zlib stream"
            }
        }
    }

    /// Inflates `stream` into exactly `size` bytes: never more (a stream claiming a small size
    /// cannot make the edge allocate more), and the stream must end where the data ends.
    static func inflate(_ stream: Data, size: Int) throws(InflateError) -> Data {
        var out = Data(count: size)
        // One spare byte: a stream that inflates to more than `size` fills it and is refused.
        out.count = size + 1
        var produced = uLong(size + 1)
        var consumed = uLong(stream.count)
        let status = out.withUnsafeMutableBytes { output in
            stream.withUnsafeBytes { input in
                uncompress2(
                    output.baseAddress!.assumingMemoryBound(to: Bytef.self), &produced,
                    input.baseAddress?.assumingMemoryBound(to: Bytef.self), &consumed
                )
            }
        }
        switch status {
        case Z_OK: break
        case Z_BUF_ERROR where Int(produced) == size + 1: throw .tooLarge(expected: size)
        default: throw .corrupt(status)
        }
        guard Int(produced) == size else { throw .sizeMismatch(expected: size, actual: Int(produced)) }
        guard Int(consumed) == stream.count else { throw .trailingBytes(stream.count - Int(consumed)) }
        out.count = size
        return out
    }
}
