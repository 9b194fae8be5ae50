import Foundation
@testable import Tunnel

extension DataPathOffloads {
    /// The data path the tests run on: `ZTPD_OFFLOAD` as ztpd reads it (ztpd started by a
    /// test inherits it too), so `ZTPD_OFFLOAD=off swift test --filter ...` runs the same
    /// tests on the plain path. Unset or unknown: ``all``.
    static var fromTestEnvironment: DataPathOffloads {
        ProcessInfo.processInfo.environment["ZTPD_OFFLOAD"].flatMap(DataPathOffloads.init(setting:)) ?? .all
    }
}
