import CLibBPF

/// How the program is attached to an interface.
package enum AttachMode: Sendable, Equatable, CustomStringConvertible {
    /// In the driver, before any socket buffer is allocated (`XDP_FLAGS_DRV_MODE`). Fails on
    /// drivers without XDP support.
    case native
    /// After the stack has built a socket buffer (`XDP_FLAGS_SKB_MODE`): works on every
    /// interface, saves much less.
    case generic
    /// Native where the driver supports it, else generic, with a log line saying so.
    case automatic

    var kernelFlags: UInt32 {
        switch self {
        case .native, .automatic: UInt32(XDP_FLAGS_DRV_MODE)
        case .generic: UInt32(XDP_FLAGS_SKB_MODE)
        }
    }

    package var description: String {
        switch self {
        case .native: "native"
        case .generic: "generic"
        case .automatic: "automatic"
        }
    }
}
