#if canImport(Glibc)
import CTunnelShim
import Glibc

/// Preallocated room for a batch of datagrams (or TUN packets): `capacity` buffers of
/// `stride` bytes in one allocation, with a length, an address and a pointer slot each,
/// laid out for `recvmmsg`/`sendmmsg`. Owned by one thread and reused for every batch, so
/// the data path allocates nothing.
final class DatagramBatch {
    let capacity: Int
    let stride: Int
    private let storage: UnsafeMutableRawBufferPointer
    let lengths: UnsafeMutablePointer<Int>
    let addresses: UnsafeMutablePointer<sockaddr_in6>
    let pointers: UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>

    init(capacity: Int, stride: Int) {
        precondition(capacity > 0 && capacity <= Int(ZTP_MAX_BATCH), "batch capacity out of range")
        self.capacity = capacity
        self.stride = stride
        storage = .allocate(byteCount: capacity * stride, alignment: 16)
        lengths = .allocate(capacity: capacity)
        lengths.initialize(repeating: 0, count: capacity)
        addresses = .allocate(capacity: capacity)
        addresses.initialize(repeating: sockaddr_in6(), count: capacity)
        pointers = .allocate(capacity: capacity)
        pointers.initialize(repeating: nil, count: capacity)
    }

    deinit {
        storage.deallocate()
        lengths.deallocate()
        addresses.deallocate()
        pointers.deallocate()
    }

    /// The whole buffer of entry `index`.
    func buffer(_ index: Int) -> UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(rebasing: storage[index * stride..<(index + 1) * stride])
    }
}

extension UDPSocket {
    /// Receives up to `batch.capacity` waiting datagrams in one `recvmmsg`, without
    /// blocking: entry i gets the datagram, its length and its source. Returns how many
    /// arrived (0: none was waiting).
    func receive(into batch: DatagramBatch) throws(SystemError) -> Int {
        let result = ztp_recv_batch(fileDescriptor, batch.buffer(0).baseAddress!.assumingMemoryBound(to: UInt8.self),
                                    batch.stride, batch.stride, batch.lengths, batch.addresses, Int32(batch.capacity))
        guard result >= 0 else { throw SystemError("recvmmsg", code: -result) }
        return Int(result)
    }

    /// Sends entries 0..<count (`pointers[i]`, `lengths[i]` bytes, to `addresses[i]`) in
    /// `sendmmsg` calls. Returns how many were sent.
    func send(_ batch: DatagramBatch, count: Int) throws(SystemError) -> Int {
        let result = ztp_send_batch(fileDescriptor, batch.pointers, batch.lengths, batch.addresses, Int32(count))
        guard result >= 0 else { throw SystemError("sendmmsg", code: -result) }
        return Int(result)
    }
}
#endif
