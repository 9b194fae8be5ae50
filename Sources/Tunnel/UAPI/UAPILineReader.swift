/// Splits a byte stream (a UAPI connection) into lines, with a bounded buffer: a line
/// longer than ``maximumLineBytes`` is skipped up to its newline and reported as
/// ``UAPIError/Reason/lineTooLong``, after which reading goes on with the next line.
package struct UAPILineReader {
    /// No line of the protocol comes near this: the longest are 64-digit keys and
    /// bracketed IPv6 endpoints with a scope.
    static let maximumLineBytes = 4096
    private static let bufferBytes = 64 << 10

    private let read: (UnsafeMutableRawBufferPointer) throws -> Int
    private var buffer = [UInt8](repeating: 0, count: UAPILineReader.bufferBytes)
    private var start = 0
    private var end = 0
    /// Inside an over-long line, discarding up to its newline.
    private var skipping = false

    /// - Parameter read: fills the buffer it is given with what arrived, returning the
    ///   byte count, 0 at the end of the stream; throws when reading fails (a timeout too).
    package init(read: @escaping (UnsafeMutableRawBufferPointer) throws -> Int) {
        self.read = read
    }

    /// The next line without its `\n`; nil at the end of the stream (an unterminated last
    /// line is dropped: a request is only complete with its blank line).
    /// Throws ``UAPIError/Reason/lineTooLong`` (recoverable) or ``UAPIError/Reason/io``.
    package mutating func next() throws(UAPIError) -> Substring? {
        while true {
            if let newline = buffer[start..<end].firstIndex(of: 0x0A) {
                let line = start..<newline
                start = newline + 1
                if skipping || line.count > Self.maximumLineBytes {
                    skipping = false
                    throw UAPIError(.lineTooLong)
                }
                return String(decoding: buffer[line], as: UTF8.self)[...]
            }
            if end - start > Self.maximumLineBytes {
                skipping = true
                start = 0
                end = 0
            } else if start > 0 {
                buffer.withUnsafeMutableBytes { raw in
                    raw.baseAddress!.copyMemory(from: raw.baseAddress! + start, byteCount: end - start)
                }
                end -= start
                start = 0
            }
            let count: Int
            do {
                count = try buffer.withUnsafeMutableBytes { raw in
                    try read(UnsafeMutableRawBufferPointer(rebasing: raw[end...]))
                }
            } catch {
                throw UAPIError(.io)
            }
            if count <= 0 { return nil }
            end += count
        }
    }
}
