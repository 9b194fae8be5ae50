// The TUN side of the receive path: hands a vector of decrypted IP packets to the kernel, one
// write per packet on a plain TUN, or, on an offloading TUN, one write per run of consecutive
// TCP segments (and, where the TUN took USO, UDP datagrams) of a flow that TunCoalescer merged
// (GRO at the TUN boundary) behind a virtio-net header.

#if canImport(Glibc)
/// Writes packet vectors to a ``TunDevice``. Owned by one thread; on an offloading TUN it owns
/// a ``TunCoalescer`` sized at init, so writing allocates nothing.
final class TunBatchWriter {
    /// What one ``write(count:packet:)`` did.
    struct Outcome {
        /// `write(2)` calls made.
        var writes = 0
        /// Packets the kernel refused (a refused merged write counts each packet in it).
        var failed = 0
        /// The first refusal.
        var firstError: SystemError?
        /// Why a chunk could not be coalesced (its packets are counted in ``failed``).
        var coalescingError: OffloadError?
    }

    let tun: TunDevice
    /// Most packets one call coalesces; longer vectors are written in chunks of this many.
    let chunkSize: Int
    private let coalescer: TunCoalescer?

    /// `chunkSize` bounds the coalescer's preallocated storage: about `chunkSize` × 64 KB
    /// of address space, of which only what a vector fills is ever touched.
    init(tun: TunDevice, chunkSize: Int) {
        precondition(chunkSize > 0, "chunk size must be positive")
        self.tun = tun
        self.chunkSize = chunkSize
        coalescer = tun.hasVirtioHeaders
            ? TunCoalescer(packetCapacity: chunkSize, maximumPacketSize: TransportFields.maximumIPLength,
                           offloads: tun.offloads) : nil
    }

    /// Writes packets `packet(0)..<packet(count)` (each an exact, non-empty IP packet) in order.
    func write(count: Int, packet: (Int) -> UnsafeRawBufferPointer) -> Outcome {
        var outcome = Outcome()
        guard let coalescer else {
            for index in 0..<count { send(packet(index), packets: 1, &outcome) }
            return outcome
        }
        var first = 0
        while first < count {
            let chunk = min(chunkSize, count - first)
            do {
                let writes = try coalescer.coalesce(count: chunk) { packet(first + $0) }
                for index in 0..<writes { send(coalescer.write(index), packets: coalescer.packetCount(ofWrite: index), &outcome) }
            } catch {
                // Inputs are IP packets of at most 64 KB in chunks the coalescer was sized
                // for, so this is not reached; if it were, the chunk is lost, not the vector.
                outcome.failed += chunk
                outcome.coalescingError = error
            }
            first += chunk
        }
        return outcome
    }

    private func send(_ bytes: UnsafeRawBufferPointer, packets: Int, _ outcome: inout Outcome) {
        outcome.writes += 1
        do {
            try tun.write(bytes)
        } catch {
            outcome.failed += packets
            if outcome.firstError == nil { outcome.firstError = error }
        }
    }
}
#endif
