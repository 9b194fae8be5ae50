#if canImport(Glibc)
import CTunnelShim
import Glibc

/// Preallocated room for a batch of datagrams (or TUN packets): `capacity` buffers of
/// `stride` bytes in one allocation, with a length, an address and a pointer slot each,
/// laid out for `recvmmsg`/`sendmmsg`, and the message headers a send needs. Owned by one
/// thread and reused for every batch, so the data path allocates nothing.
final class DatagramBatch {
    let capacity: Int
    let stride: Int
    private let storage: UnsafeMutableRawBufferPointer
    let lengths: UnsafeMutablePointer<Int>
    let addresses: UnsafeMutablePointer<sockaddr_in6>
    let pointers: UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>
    /// The messages of the send under way (``UDPSegmentation``), one per datagram at worst.
    let runs: UnsafeMutablePointer<ztp_send_run>
    /// `sendmmsg`'s headers, iovecs and control buffers.
    let scratch: OpaquePointer

    /// `capacity` entries (at most `ZTP_MAX_MESSAGES`, 1,024) of `stride` bytes each.
    init(capacity: Int, stride: Int) {
        precondition(capacity > 0 && capacity <= Int(ZTP_MAX_MESSAGES), "batch capacity out of range")
        self.capacity = capacity
        self.stride = stride
        storage = .allocate(byteCount: capacity * stride, alignment: 16)
        lengths = .allocate(capacity: capacity)
        lengths.initialize(repeating: 0, count: capacity)
        addresses = .allocate(capacity: capacity)
        addresses.initialize(repeating: sockaddr_in6(), count: capacity)
        pointers = .allocate(capacity: capacity)
        pointers.initialize(repeating: nil, count: capacity)
        runs = .allocate(capacity: capacity)
        runs.initialize(repeating: ztp_send_run(), count: capacity)
        guard let scratch = ztp_mmsg_scratch_create(Int32(capacity), Int32(capacity)) else {
            fatalError("out of memory for \(capacity) message headers")
        }
        self.scratch = scratch
    }

    deinit {
        storage.deallocate()
        lengths.deallocate()
        addresses.deallocate()
        pointers.deallocate()
        runs.deallocate()
        ztp_mmsg_scratch_destroy(scratch)
    }

    /// The whole buffer of entry `index`.
    func buffer(_ index: Int) -> UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(rebasing: storage[index * stride..<(index + 1) * stride])
    }
}

/// What one batch send did.
struct SendOutcome: Equatable {
    /// Datagrams the kernel took.
    var sent = 0
    /// Datagrams it refused (their messages failed; the others still went out).
    var failed = 0
    /// `sendmmsg` entries used: one per `UDP_SEGMENT` run or plain datagram.
    var messages = 0
    /// `sendmmsg` calls made.
    var calls = 0
    /// The first error that cost datagrams (nil when none failed).
    var firstError: SystemError?
    /// Set only by the send that found segmentation impossible on this socket's route and
    /// turned it off (the datagrams were then resent on the plain path): the caller logs
    /// it, once per socket.
    var segmentationDisabled: SystemError?
}

extension UDPSocket {
    /// Receives up to `min(batch.capacity, ZTP_MAX_BATCH)` waiting datagrams in one
    /// `recvmmsg`, without blocking: entry i gets the datagram, its length and its source.
    /// Returns how many arrived (0: none was waiting). Not for a socket with coalescing on
    /// (``UDPReceiveBatch`` splits what it delivers).
    func receive(into batch: DatagramBatch) throws(SystemError) -> Int {
        let result = ztp_recv_batch(fileDescriptor, batch.buffer(0).baseAddress!.assumingMemoryBound(to: UInt8.self),
                                    batch.stride, batch.stride, batch.lengths, batch.addresses, Int32(batch.capacity))
        guard result >= 0 else { throw SystemError("recvmmsg", code: -result) }
        return Int(result)
    }

    /// Sends entries 0..<count (`pointers[i]`, `lengths[i]` bytes, to `addresses[i]`) in
    /// order, in as few `sendmmsg` calls as the kernel allows (one, unless the socket
    /// buffer fills): while ``UDPOffloads/segmentationActive``, each run of consecutive
    /// equal-size datagrams to one destination goes as one `UDP_SEGMENT` message. A message
    /// the kernel refuses costs its own datagrams only. If the kernel refuses segmentation
    /// itself (EIO, EINVAL), segmentation is turned off for this socket and the rest of the
    /// batch is resent plain; ``SendOutcome/segmentationDisabled`` says so.
    func sendBatch(_ batch: DatagramBatch, count: Int) -> SendOutcome {
        var outcome = SendOutcome()
        guard count > 0 else { return outcome }
        precondition(count <= batch.capacity, "more datagrams than the batch holds")
        var runCount = UDPSegmentation.plan(first: 0, count: count, lengths: batch.lengths,
                                            destinations: batch.addresses,
                                            segmenting: offloads.segmentationActive, into: batch.runs)
        var next = 0
        while next < runCount {
            let result = ztp_send_runs(fileDescriptor, batch.scratch, batch.pointers, batch.lengths, batch.addresses,
                                       batch.runs + next, Int32(runCount - next))
            outcome.calls += Int(result.calls)
            for run in next..<next + Int(result.sent) { outcome.sent += Int(batch.runs[run].count) }
            outcome.messages += Int(result.sent)
            next += Int(result.sent)
            guard next < runCount else { break }
            let refused = batch.runs[next]
            let error = SystemError("sendmmsg", code: result.error)
            if refused.segment != 0, result.error == EIO || result.error == EINVAL {
                if offloads.segmentationFailed(error) { outcome.segmentationDisabled = error }
                runCount = UDPSegmentation.plan(first: Int(refused.first), count: count, lengths: batch.lengths,
                                                destinations: batch.addresses, segmenting: false, into: batch.runs)
                next = 0
                continue
            }
            outcome.failed += Int(refused.count)
            if outcome.firstError == nil { outcome.firstError = error }
            next += 1
        }
        return outcome
    }

    /// ``sendBatch(_:count:)`` for callers that only count: returns how many datagrams
    /// were sent; throws the first error when none was.
    func send(_ batch: DatagramBatch, count: Int) throws(SystemError) -> Int {
        let outcome = sendBatch(batch, count: count)
        if outcome.sent == 0, let error = outcome.firstError { throw error }
        return outcome.sent
    }
}
#endif
