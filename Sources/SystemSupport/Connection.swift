#if canImport(Glibc)
import Glibc
#endif

/// One connected stream socket (a client of one of our servers, or our side of a client
/// connection). Every read and write waits at most until ``deadline``, which covers the whole
/// exchange: a peer that sends a byte now and then cannot stretch it. Writes never raise
/// SIGPIPE (MSG_NOSIGNAL); a peer that hung up is ``IOError/closed``.
///
/// A connection belongs to one thread at a time; only ``shutdown()`` may be called from another.
public final class Connection: @unchecked Sendable {
    private let descriptor: Int32
    private var isClosed = false
    /// Bytes read past the last line ``readLine(maxLength:)`` returned.
    private var pending: [UInt8] = []
    /// Where reads land before they are appended to `pending`.
    private let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 16 * 1024, alignment: 1)

    /// When the exchange must be over; reads and writes after it throw ``IOError/timedOut``.
    public var deadline: Deadline

    init(descriptor: Int32, deadline: Deadline = .never) {
        self.descriptor = descriptor
        self.deadline = deadline
    }

    deinit {
        close()
        scratch.deallocate()
    }

    /// Reads what is there (at most `buffer.count` bytes), waiting for something until the
    /// deadline. Returns 0 at the end of the stream. Buffered bytes left by
    /// ``readLine(maxLength:)`` come first.
    /// - Throws: ``IOError/timedOut``, ``IOError/closed`` (reset by the peer), ``IOError/readFailed(_:)``.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(IOError) -> Int {
        guard buffer.count > 0 else { return 0 }
        if !pending.isEmpty {
            let n = min(buffer.count, pending.count)
            buffer.copyBytes(from: pending[..<n])
            pending.removeFirst(n)
            return n
        }
        return try receive(into: buffer)
    }

    /// The next line, without its "\n", or nil at the end of the stream. A last line the peer
    /// ended without "\n" is returned as it is. Invalid UTF-8 is replaced, not refused.
    /// - Throws: ``IOError/lineTooLong(limit:)`` once more than `maxLength` bytes arrived without
    ///   a "\n" (nothing more is read), and the errors of ``read(into:)``.
    public func readLine(maxLength: Int) throws(IOError) -> String? {
        var scanned = 0
        while true {
            if let newline = pending[scanned...].firstIndex(of: UInt8(ascii: "\n")) {
                guard newline <= maxLength else { throw .lineTooLong(limit: maxLength) }
                let line = String(decoding: pending[..<newline], as: UTF8.self)
                pending.removeFirst(newline + 1)
                return line
            }
            scanned = pending.count
            guard pending.count <= maxLength else { throw .lineTooLong(limit: maxLength) }
            let n = try receive(into: scratch)
            if n == 0 {
                guard !pending.isEmpty else { return nil }
                let line = String(decoding: pending, as: UTF8.self)
                pending.removeAll()
                return line
            }
            pending += scratch[..<n]
        }
    }

    /// Everything up to the end of the stream.
    /// - Throws: ``IOError/messageTooLong(limit:)`` past `maxLength` bytes, and the errors of ``read(into:)``.
    public func readToEnd(maxLength: Int) throws(IOError) -> [UInt8] {
        var all = pending
        pending.removeAll()
        while true {
            guard all.count <= maxLength else { throw .messageTooLong(limit: maxLength) }
            let n = try receive(into: scratch)
            if n == 0 { return all }
            all += scratch[..<n]
        }
    }

    /// Sends all of `bytes` before the deadline.
    /// - Throws: ``IOError/closed`` when the peer hung up (EPIPE, ECONNRESET): no SIGPIPE is
    ///   raised; ``IOError/timedOut`` when the peer does not take the bytes in time;
    ///   ``IOError/writeFailed(_:)``.
    public func write(_ bytes: some Collection<UInt8>) throws(IOError) {
        let array = Array(bytes)
        var offset = 0
        while offset < array.count {
            _ = try Readiness.wait(for: descriptor, events: Int16(POLLOUT), until: deadline)
            let flags = Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT)
            let sent = array.withUnsafeBytes { raw in
                retryingOnInterrupt { send(descriptor, raw.baseAddress! + offset, raw.count - offset, flags) }
            }
            switch sent {
            case .success(let n): offset += n
            case .failure(.wouldBlock): continue
            case .failure(.brokenPipe), .failure(.connectionReset): throw .closed
            case .failure(let e): throw .writeFailed(e)
            }
        }
    }

    /// Sends `text` as UTF-8; see ``write(_:)-(some Collection<UInt8>)``.
    public func write(_ text: String) throws(IOError) {
        try write(Array(text.utf8))
    }

    /// Ends both directions: a thread blocked reading this connection sees the end of the
    /// stream at once. Safe from any thread while the connection is open.
    public func shutdown() {
        _ = Glibc.shutdown(descriptor, Int32(SHUT_RDWR))
    }

    /// Ends our sending direction, so that a peer reading to the end of the stream sees it.
    public func finishWriting() {
        _ = Glibc.shutdown(descriptor, Int32(SHUT_WR))
    }

    /// Closes the descriptor; further calls do nothing.
    public func close() {
        guard !isClosed else { return }
        isClosed = true
        _ = Glibc.close(descriptor)
    }

    private func receive(into buffer: UnsafeMutableRawBufferPointer) throws(IOError) -> Int {
        while true {
            _ = try Readiness.wait(for: descriptor, events: Int16(POLLIN), until: deadline)
            switch retryingOnInterrupt({ recv(descriptor, buffer.baseAddress, buffer.count, Int32(MSG_DONTWAIT)) }) {
            case .success(let n): return n
            case .failure(.wouldBlock): continue
            case .failure(.connectionReset): throw .closed
            case .failure(let e): throw .readFailed(e)
            }
        }
    }
}
