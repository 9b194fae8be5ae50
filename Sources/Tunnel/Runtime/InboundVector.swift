// The UDP thread's preallocated working set for one chunk of received datagrams: receive
// jobs, plaintext lengths, write order, and the room every datagram is opened into.

#if canImport(Glibc)
/// The UDP thread's preallocated state for one chunk of received datagrams: each one's
/// receive job and plaintext length, the order of the packets to write, and room to open
/// every datagram of a receive into (a buffer the size of the receive's, each plaintext at
/// its datagram's offset, so they never overlap and none needs its own buffer).
final class InboundVector {
    let batch: UDPReceiveBatch
    let chunkSize: Int
    var jobs: [TunnelRuntime.ReceiveJob?]
    /// Per datagram of the chunk: plaintext length, -1 when it failed to authenticate, 0
    /// when there is nothing to write.
    let plainLengths: UnsafeMutablePointer<Int>
    /// Indices (in the chunk) of the packets to write, in arrival order.
    let order: UnsafeMutablePointer<Int>
    private let plaintexts: UnsafeMutableRawPointer

    init(receiving batch: UDPReceiveBatch, chunkSize: Int) {
        self.batch = batch
        self.chunkSize = chunkSize
        jobs = [TunnelRuntime.ReceiveJob?](repeating: nil, count: chunkSize)
        plainLengths = .allocate(capacity: chunkSize)
        plainLengths.initialize(repeating: 0, count: chunkSize)
        order = .allocate(capacity: chunkSize)
        order.initialize(repeating: 0, count: chunkSize)
        plaintexts = .allocate(byteCount: batch.byteCount, alignment: 16)
    }

    deinit {
        plainLengths.deallocate()
        order.deallocate()
        plaintexts.deallocate()
    }

    /// Room for the plaintext of datagram `index` of the last receive (as long as the
    /// datagram, more than its plaintext needs).
    func plaintext(_ index: Int) -> UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(start: plaintexts + batch.offset(of: index), count: batch.datagram(index).count)
    }
}
#endif
