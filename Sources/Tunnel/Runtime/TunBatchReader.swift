// The TUN side of the send path: fills a batch with the IP packets the kernel routed into the
// interface, one read per packet on a plain TUN, or one read per super-packet on an offloading
// TUN, cut by GSOSegmenter into MTU-sized packets in the batch's preallocated slots.

#if canImport(Glibc)
import Glibc

/// Reads packets from a ``TunDevice`` into a ``DatagramBatch``, each placed `headroom` bytes
/// into its entry (room for the transport header it is sealed behind) and its length in
/// ``DatagramBatch/lengths``.
///
/// On a TUN with virtio-net headers each read is a header and a packet of up to 64 KB; the
/// reader cuts TCP and UDP super-packets into their segments (IP and transport headers and
/// checksums rewritten) and completes partial checksums, so what lands in the batch is always
/// ordinary IP packets. A super-packet that does not fit in the entries left is kept for the
/// next batch, never split across two. Owned by one thread; allocates only at init.
final class TunBatchReader {
    /// What one ``fill(_:headroom:)`` did.
    struct Outcome {
        /// Packets placed in entries `0..<packets`.
        var packets = 0
        /// Reads dropped because their virtio-net header or headers were unusable.
        var malformed = 0
        /// The read error that ended the batch, other than "nothing more to read" (EAGAIN).
        var error: SystemError?
    }

    let tun: TunDevice
    /// Room for one read of an offloading TUN (header and 64 KB packet); nil on a plain one.
    private let superPacket: UnsafeMutableRawBufferPointer?
    /// Bytes of a read held over because the last batch had no room for its segments.
    private var heldOver = 0

    init(tun: TunDevice) {
        self.tun = tun
        superPacket = tun.hasVirtioHeaders
            ? .allocate(byteCount: GSOSegmenter.maximumReadSize, alignment: 16) : nil
    }

    deinit { superPacket?.deallocate() }

    /// Reads until `batch` is full or nothing more is waiting (the TUN is non-blocking).
    func fill(_ batch: DatagramBatch, headroom: Int) -> Outcome {
        guard let superPacket else { return fillPlain(batch, headroom: headroom) }
        var outcome = Outcome()
        while outcome.packets < batch.capacity {
            if heldOver == 0 {
                do {
                    heldOver = try tun.read(into: superPacket)
                } catch {
                    if error.code != EAGAIN && error.code != EWOULDBLOCK { outcome.error = error }
                    break
                }
                guard heldOver > 0 else { break }
            }
            let read = UnsafeRawBufferPointer(rebasing: superPacket[..<heldOver])
            do {
                outcome.packets += try GSOSegmenter.segment(read, into: batch.slots(from: outcome.packets, headroom: headroom))
                heldOver = 0
            } catch {
                if case .tooManySegments = error, outcome.packets > 0 { break }
                // Unusable, or more segments than a whole batch holds: it can never be sent.
                heldOver = 0
                outcome.malformed += 1
            }
        }
        return outcome
    }

    private func fillPlain(_ batch: DatagramBatch, headroom: Int) -> Outcome {
        var outcome = Outcome()
        let room = batch.stride - headroom
        while outcome.packets < batch.capacity {
            let area = UnsafeMutableRawBufferPointer(rebasing: batch.buffer(outcome.packets)[headroom..<headroom + room])
            do {
                let n = try tun.read(into: area)
                guard n > 0 else { break }
                batch.lengths[outcome.packets] = n
                outcome.packets += 1
            } catch {
                if error.code != EAGAIN && error.code != EWOULDBLOCK { outcome.error = error }
                break
            }
        }
        return outcome
    }
}
#endif
