/// The running interface behind the UAPI socket: ``TunnelRuntime/uapiSnapshot()`` and
/// ``TunnelRuntime/apply(_:)`` live with the runtime's state; the statistics are ours.
extension TunnelRuntime: UAPIConfigurable {
    package func uapiStatisticsLines() -> [String] { statistics().lines }
}
