#if canImport(Glibc)
import CTunnelShim
import Glibc
import Synchronization

/// The kernel's UDP offloads on one ``UDPSocket``, shared by every thread that uses it:
/// segmentation on send (`UDP_SEGMENT`, "GSO": one message carries many equal-size
/// datagrams to one endpoint and the kernel cuts it) and coalescing on receive
/// (`UDP_GRO`: the kernel hands over a run of datagrams of one flow as one buffer).
///
/// Segmentation needs no socket option, only a control message per send, so it is on
/// wherever the kernel knows it, until a send shows that the route cannot do it: EIO, which
/// older kernels return when the device has no checksum offload (Linux 6.18 checksums in
/// software instead), or EINVAL (UDP checksums off on the socket, a segment larger than the
/// path MTU). Then it is off for the socket's life and ``segmentationFailure`` says why. Coalescing changes what `recvmmsg` returns (buffers
/// of up to 64 KB), so it is off until whoever receives asks for it with
/// ``UDPSocket/enableCoalescing()`` and receives into a ``UDPReceiveBatch`` with room for
/// it. Reading the state costs an atomic load; no lock on the data path.
package final class UDPOffloads: Sendable {
    /// Whether the kernel knows `UDP_SEGMENT` (probed when the socket was made; Linux 4.18).
    package let segmentationSupported: Bool
    private let segmentationOff: Atomic<Bool>
    private let coalescingOn = Atomic<Bool>(false)
    private let failure = Mutex<SystemError?>(nil)

    init(segmentationSupported: Bool) {
        self.segmentationSupported = segmentationSupported
        segmentationOff = Atomic(!segmentationSupported)
    }

    /// Whether sends group datagrams into `UDP_SEGMENT` messages now.
    package var segmentationActive: Bool { !segmentationOff.load(ordering: .relaxed) }

    /// Whether `UDP_GRO` is on: received messages may hold several datagrams.
    package var coalescingActive: Bool { coalescingOn.load(ordering: .relaxed) }

    /// Why segmentation was turned off by a failed send (nil: it was not, or it was
    /// turned off by ``disableSegmentation()``).
    package var segmentationFailure: SystemError? { failure.withLock { $0 } }

    /// Turns segmentation off for good: every send takes the plain path, one datagram per
    /// message. For configurations that want no GSO, and for tests of the plain path.
    package func disableSegmentation() {
        segmentationOff.store(true, ordering: .relaxed)
    }

    /// Turns segmentation off after the kernel refused a segmented send. True for the one
    /// call that turned it off, so that exactly one sender reports it.
    func segmentationFailed(_ error: SystemError) -> Bool {
        failure.withLock { recorded in
            guard recorded == nil else { return false }
            recorded = error
            segmentationOff.store(true, ordering: .relaxed)
            return true
        }
    }

    func setCoalescing(_ on: Bool) {
        coalescingOn.store(on, ordering: .relaxed)
    }
}
#endif
