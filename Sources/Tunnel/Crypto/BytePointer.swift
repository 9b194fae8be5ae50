/// Stand-in address for empty buffers. libsodium's headers mark its pointers nonnull,
/// so even a zero-length input needs a valid address; nothing is ever read or written here.
nonisolated(unsafe) private let emptyBufferAddress = UnsafeMutablePointer<UInt8>.allocate(capacity: 1)

/// The base address of a buffer as a byte pointer, valid even for an empty buffer.
@inline(__always)
func bytePointer(_ buffer: UnsafeRawBufferPointer) -> UnsafePointer<UInt8> {
    buffer.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? UnsafePointer(emptyBufferAddress)
}

@inline(__always)
func bytePointer(_ buffer: UnsafeMutableRawBufferPointer) -> UnsafeMutablePointer<UInt8> {
    buffer.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? emptyBufferAddress
}
