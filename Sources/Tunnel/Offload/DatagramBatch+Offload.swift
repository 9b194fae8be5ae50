#if canImport(Glibc)
extension DatagramBatch {
    /// Entries `first..<capacity` as ``PacketSlots`` for ``GSOSegmenter``, each packet placed
    /// `headroom` bytes into its entry (`TransportHeader.byteCount` on the send path, so
    /// that it is sealed in place) and its length stored in ``lengths``.
    func slots(from first: Int, headroom: Int) -> PacketSlots {
        precondition(first >= 0 && first <= capacity, "slot index out of range")
        return PacketSlots(base: buffer(0).baseAddress! + first * stride, stride: stride, headroom: headroom,
                           count: capacity - first, lengths: lengths + first)
    }
}
#endif
