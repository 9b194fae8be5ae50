import XCTest
@testable import Enforcer

/// The tunnel gives the enforcer the first packet of a same-flow run and applies its verdict
/// to the rest: those packets are still counted, by verdict and drop reason.
extension EnforcerTests {
    func testPacketsGivenASharedVerdictAreCountedAsPassedOrDroppedWithTheirReason() throws {
        let e = try enforcer(["allow * -> 10.10.0.0/24:5432/tcp", "deny * -> 10.10.0.0/24:22/tcp"])
        let alice = try XCTUnwrap(e.sessionEstablished(key(Self.alice), now: t0))
        let allowed = inbound(e, alice, Packets.tcp("10.99.0.2", 40000, "10.10.0.7", 5432), at: t0)
        XCTAssertEqual(allowed, .pass)
        e.countRepeated(allowed, 44)
        let denied = inbound(e, alice, Packets.tcp("10.99.0.2", 40000, "10.10.0.7", 22), at: t0)
        XCTAssertEqual(denied, .drop(.policyDeny))
        e.countRepeated(denied, 3)
        e.countRepeated(denied, 0)
        XCTAssertEqual(e.statistics.allowed, 45)
        XCTAssertEqual(e.statistics.dropped[.policyDeny], 4)
        XCTAssertEqual(e.statistics.sharedVerdicts, 47)
        XCTAssertEqual(e.statistics.cacheMisses, 2, "shared verdicts are no lookups")
        XCTAssertEqual(e.statistics.cacheHits, 0)
    }
}
