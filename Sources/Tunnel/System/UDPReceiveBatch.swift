#if canImport(Glibc)
import CTunnelShim
import Glibc

/// Preallocated room for receiving datagrams with `recvmmsg`, coalesced (`UDP_GRO`) or not:
/// `messageCapacity` buffers of `messageSize` bytes, and a table of the datagrams in them.
/// A coalesced message holds a run of datagrams of one flow, all of the size the kernel
/// reports except perhaps a shorter last one; the table gives each datagram out as a slice
/// of its message's buffer (base, length, source), so splitting copies nothing. Owned by
/// one thread and reused for every batch, so the data path allocates nothing.
final class UDPReceiveBatch {
    /// Room for one coalesced message: the kernel builds them up to 64 KB.
    static let coalescedMessageSize = 65_536
    /// Most datagrams the kernel coalesces into one message (`UDP_GRO_CNT_MAX`, and
    /// `UDP_MAX_SEGMENTS` for what a local sender segments).
    static let maximumSegments = 64

    let messageCapacity: Int
    let messageSize: Int
    /// Most datagrams one receive can give out.
    let datagramCapacity: Int
    fileprivate let storage: UnsafeMutableRawPointer
    fileprivate let received: UnsafeMutablePointer<ztp_received>
    fileprivate let sources: UnsafeMutablePointer<sockaddr_in6>
    private let offsets: UnsafeMutablePointer<Int>
    private let lengths: UnsafeMutablePointer<Int>
    private let messages: UnsafeMutablePointer<Int32>
    fileprivate let scratch: OpaquePointer

    /// Datagrams the last receive gave out.
    private(set) var count = 0
    /// Messages (`recvmmsg` entries) the last receive filled.
    private(set) var messageCount = 0
    /// Datagrams the last receive lost: a message larger than `messageSize` counts once (it
    /// is dropped whole, its end being cut off), as does each datagram beyond the table.
    private(set) var dropped = 0

    /// `messages` buffers (at most `ZTP_MAX_MESSAGES`, 1,024) of `messageSize` bytes:
    /// ``coalescedMessageSize`` for a socket with coalescing on, else the largest datagram
    /// expected (a larger one is dropped and counted in ``dropped``).
    init(messages: Int, messageSize: Int) {
        precondition(messages > 0 && messages <= Int(ZTP_MAX_MESSAGES), "batch capacity out of range")
        precondition(messageSize > 0, "message size must be positive")
        messageCapacity = messages
        self.messageSize = messageSize
        datagramCapacity = messages * Self.maximumSegments
        storage = .allocate(byteCount: messages * messageSize, alignment: 16)
        received = .allocate(capacity: messages)
        received.initialize(repeating: ztp_received(), count: messages)
        sources = .allocate(capacity: messages)
        sources.initialize(repeating: sockaddr_in6(), count: messages)
        offsets = .allocate(capacity: datagramCapacity)
        offsets.initialize(repeating: 0, count: datagramCapacity)
        lengths = .allocate(capacity: datagramCapacity)
        lengths.initialize(repeating: 0, count: datagramCapacity)
        self.messages = .allocate(capacity: datagramCapacity)
        self.messages.initialize(repeating: 0, count: datagramCapacity)
        guard let scratch = ztp_mmsg_scratch_create(Int32(messages), Int32(messages)) else {
            fatalError("out of memory for \(messages) message headers")
        }
        self.scratch = scratch
    }

    deinit {
        storage.deallocate()
        received.deallocate()
        sources.deallocate()
        offsets.deallocate()
        lengths.deallocate()
        messages.deallocate()
        ztp_mmsg_scratch_destroy(scratch)
    }

    /// Datagram `index` (< ``count``) of the last receive: a slice of its message's
    /// buffer, valid until the next receive. Mutable so that it can be decrypted in place.
    func datagram(_ index: Int) -> UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(start: storage + offsets[index], count: lengths[index])
    }

    /// Where datagram `index` starts in the batch's storage (``byteCount`` bytes in all): a
    /// receiver that opens each datagram into a parallel buffer of that size puts the
    /// plaintext at the same offset, so plaintexts never overlap.
    func offset(of index: Int) -> Int {
        offsets[index]
    }

    /// Size of the storage all messages are received into.
    var byteCount: Int { messageCapacity * messageSize }

    /// The `sockaddr_in6` datagram `index` came from (family 0: unknown), for
    /// ``Endpoint/init(storage:)``; datagrams of one message share it.
    func sourceAddress(_ index: Int) -> UnsafeRawPointer {
        UnsafeRawPointer(sources + Int(messages[index]))
    }

    /// The endpoint datagram `index` came from.
    func source(_ index: Int) -> Endpoint? {
        Endpoint(storage: sourceAddress(index))
    }

    /// The message datagram `index` arrived in: datagrams of one message are consecutive
    /// and of one flow.
    func message(of index: Int) -> Int {
        Int(messages[index])
    }

    /// Fills the datagram table from the first `arrived` messages.
    fileprivate func split(arrived: Int) {
        messageCount = arrived
        count = 0
        dropped = 0
        for message in 0..<arrived {
            let entry = received[message]
            if entry.truncated != 0 {
                dropped += 1
                continue
            }
            let length = Int(entry.length)
            let segment = entry.segment == 0 ? max(length, 1) : Int(entry.segment)
            var offset = 0
            repeat {
                let size = min(segment, length - offset)
                guard count < datagramCapacity else {
                    dropped += 1
                    offset += size
                    continue
                }
                offsets[count] = message * messageSize + offset
                lengths[count] = size
                messages[count] = Int32(message)
                count += 1
                offset += size
            } while offset < length
        }
    }

}

extension UDPSocket {
    /// Receives up to `batch.messageCapacity` waiting messages in one `recvmmsg`, without
    /// blocking, and splits coalesced ones into their datagrams (no copy). Returns how many
    /// datagrams arrived (``UDPReceiveBatch/count``; 0: none was waiting).
    func receive(into batch: UDPReceiveBatch) throws(SystemError) -> Int {
        let result = ztp_recv_messages(fileDescriptor, batch.scratch, batch.storage.assumingMemoryBound(to: UInt8.self),
                                       batch.messageSize, batch.messageSize, batch.received, batch.sources,
                                       Int32(batch.messageCapacity))
        guard result >= 0 else { throw SystemError("recvmmsg", code: -result) }
        batch.split(arrived: Int(result))
        return batch.count
    }
}
#endif
